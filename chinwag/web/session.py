"""One browser session's client: `python -m chinwag.web.session [chinwag args]`.

The TUI remembers the last server, username and theme in its settings file.
On the web host every visitor's TUI is the same local user, so a shared file
would show the next visitor who logged in last; each session gets a settings
file of its own, in a temporary directory removed when the session ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory(prefix="chinwag-web-") as home:
        command = [sys.executable, "-m", "chinwag.tui", "--config", os.path.join(home, "config.toml"), *args]
        child = subprocess.Popen(command)  # stdin/stdout are textual-serve's pipes, passed on
        # Ctrl+C at the web server's terminal reaches the whole process group:
        # the client quits on its own, and this process waits to clean up.
        # (Ignored only after the start: an ignored signal stays so in a child.)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

        def forward(signum: int, frame: FrameType | None) -> None:
            child.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
