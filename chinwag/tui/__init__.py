"""The chinwag terminal client: a full-screen, keyboard-driven Textual app.

It talks to the network only through `protocol.reconnect.ReconnectingClient`
(opened with `connection.LinkSettings`); everything it shows comes from
`state.ChatState`. Screens post messages to the app; the app hands screens
what they need when it makes them.
"""
