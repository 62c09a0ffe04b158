"""Where a script's token and password come from: never argv."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

TOKEN_ENV = "CHINWAG_TOKEN"


class CredentialError(Exception):
    """No usable credentials; the message says how to give them."""


def token(token_file: Path | None) -> str:
    """The session token: `--token-file` if given, else `$CHINWAG_TOKEN`."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialError(f"cannot read the token file {token_file}: {exc.strerror}") from None
        if not text:
            raise CredentialError(f"the token file {token_file} is empty; run: chinwag login --print-token > FILE")
        return text
    value = os.environ.get(TOKEN_ENV, "").strip()
    if not value:
        raise CredentialError(
            f"no credentials: set {TOKEN_ENV} or pass --token-file FILE"
            " (get a token once with: chinwag login --user NAME --print-token)"
        )
    return value


def password(prompt: str = "password: ") -> str:
    """From the terminal without echo; from stdin's first line when it is not a terminal."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise CredentialError("no password on stdin")
    return line.rstrip("\r\n")
