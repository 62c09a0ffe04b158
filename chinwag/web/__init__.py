"""`chinwag web`: the terminal client, served to browsers through textual-serve.

Each browser tab that opens the page gets its own `chinwag` TUI process on
the web host, spoken to over a websocket. The command those processes run is
fixed when `chinwag web` starts, from its own command line: nothing a browser
sends ever becomes part of it.

This package never imports the TUI (it runs it as a program), so the TUI's
`chinwag web` subcommand can import this one.
"""
