"""The draft in the user's editor (ctrl+x ctrl+e, /edit), as a shell's
ctrl+x ctrl+e does: the text goes to a private temporary file, the editor
runs on it with the terminal to itself (the app suspends around this), and
what the file holds afterwards comes back, without the newline editors add
at the end. An editor that fails, or cannot be started, leaves the draft
as it was."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

FALLBACK_EDITOR = "vi"


def editor_command(env: Mapping[str, str]) -> list[str]:
    """$VISUAL, else $EDITOR, else vi; split as a shell would (`code -w`)."""
    words = shlex.split(env.get("VISUAL") or env.get("EDITOR") or "")
    return words or [FALLBACK_EDITOR]


class EditorFailed(Exception):
    """The editor could not run or did not exit cleanly; the message says which."""


def edit_text(text: str, command: list[str]) -> str:
    """Run `command` on a file holding `text`; the edited text."""
    fd, name = tempfile.mkstemp(prefix="chinwag-", suffix=".txt")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            status = subprocess.call([*command, name])
        except OSError as exc:
            raise EditorFailed(f"could not start {command[0]}: {exc.strerror or exc}") from exc
        if status != 0:
            raise EditorFailed(f"{command[0]} exited with status {status}; the draft is unchanged")
        edited = path.read_text(encoding="utf-8", errors="replace")
    finally:
        path.unlink(missing_ok=True)
    return edited[:-1] if edited.endswith("\n") else edited
