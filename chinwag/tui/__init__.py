"""The chinwag terminal client: a full-screen, keyboard-driven Textual app.

It talks to the network only through `protocol.reconnect.ReconnectingClient`
(via `connection.Link`); everything it shows comes from `state.ChatState`.
"""
