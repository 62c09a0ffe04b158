"""Where the TUI connects and how: the server's `host:port` as typed
(`ServerAddress`) and the settings a link is opened with (`LinkSettings`).

The link itself is `protocol.reconnect.ReconnectingClient`, used as is: it
reconnects, resumes, re-sends by `cmid`, dedupes, registers on a connection
of its own, and hands events out in batches (`next_batch`) so a burst
becomes one Textual message, not thousands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..protocol import DEFAULT_PORT, limits
from ..protocol.client import KNOWN_FEATURES
from ..protocol.journal import SendJournal
from ..protocol.reconnect import ReconnectingClient

CLIENT_NAME = "chinwag-tui/0.1"
# The extensions the TUI asks for: all the client knows; it works with any
# subset the server grants.
FEATURES = KNOWN_FEATURES


@dataclass(frozen=True, slots=True)
class ServerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """`host`, `host:port` or `[v6]:port`; raises ValueError with a sentence."""
        text = text.strip()
        if not text:
            raise ValueError("enter the server as host:port")
        host, port_text = text, None
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"'{text}' is not host:port")
            port_text = rest[1:] if rest else None
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        if not host or any(ch.isspace() for ch in host):
            raise ValueError(f"'{text}' is not host:port")
        if port_text is None:
            return cls(host, DEFAULT_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"'{port_text}' is not a port number (1-65535)")
        return cls(host, int(port_text))


def outbox_path(root: Path, address: ServerAddress, username: str) -> Path | None:
    """The durable outbox of `username` on `address` (journal.py):
    `root/<host>_<port>/<user>.jsonl`; None for a name that is not a
    username (the login is refused anyway). The host is a file name here:
    anything but letters, digits, dots and dashes becomes `_`."""
    user = limits.normalize_username(username)
    if user is None:
        return None
    host = re.sub(r"[^A-Za-z0-9.-]", "_", address.host)
    return root / f"{host}_{address.port}" / f"{user}.jsonl"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How the app connects, handed down to the screens that log in:
    TLS, a CA file, `ReconnectingClient` options (tests make backoff fast),
    and where the outboxes are kept (None: sends are not kept on disk)."""

    tls: bool = False
    ca: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # The server is fixed (`chinwag --lock-server`, which `chinwag web` passes):
    # the login and register screens show it and cannot change it, so a
    # visitor of a web page cannot point its host at another address.
    lock_server: bool = False
    outbox: Path | None = None

    def open(self, address: ServerAddress, username: str | None = None) -> ReconnectingClient:
        """A link to `address`, not yet connected: `register` and `start` are
        the screens' to call. With `username`, lines not yet answered are
        kept in that user's outbox and the ones left from before go first."""
        path = outbox_path(self.outbox, address, username) if self.outbox and username else None
        return ReconnectingClient(
            address.host,
            address.port,
            tls=self.tls or None,
            ca=self.ca,
            client_name=CLIENT_NAME,
            features=FEATURES,
            journal=SendJournal(path) if path is not None else None,
            **self.options,
        )
