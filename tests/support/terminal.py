"""Running the real `chinwag` command in a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def terminal_env(home: Path) -> dict[str, str]:
    """The environment of a client in an 80x24 xterm whose state and
    config directories are under `home`, importing this checkout."""
    return {
        **os.environ,
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "TERM": "xterm-256color",
        "COLUMNS": "80",
        "LINES": "24",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }


def spawn_in_pty(
    command: Sequence[str], home: Path, *, new_session: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `command` with a new pty as its stdin, stdout and stderr;
    returns the process and the pty's controller end (the caller closes it)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        list(command),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=terminal_env(home),
        close_fds=True,
        start_new_session=new_session,
    )
    os.close(terminal)
    return proc, controller
