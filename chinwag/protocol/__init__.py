"""The chinwag wire protocol: framing, message validation, error codes, and the
headless asyncio client. Imports nothing from the server or the TUI."""

PROTOCOL_VERSION = 1
DEFAULT_PORT = 7878
