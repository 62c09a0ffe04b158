"""`chinwag send`, `chinwag tail`, `chinwag wait` and `chinwag login
--print-token`: the chat from scripts and bots, on the headless client.

Credentials never come from argv (other users of the machine can read it):
a token from `CHINWAG_TOKEN` or `--token-file`, obtained once with `chinwag
login --print-token`, which reads the password from the terminal or stdin.
"""
