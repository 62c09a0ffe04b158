"""Living under an init system: telling systemd when the server is ready
(`Type=notify`), and a log file that SIGHUP reopens after logrotate moved it.

`sd_notify` is the whole of systemd's readiness protocol: one datagram to
the unix socket named by `$NOTIFY_SOCKET` (a leading `@` is the abstract
namespace). It is written here rather than taken from a package because it
is those few lines, and a missing or dead socket must never stop the server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path


def sd_notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to systemd if it is listening; whether it was sent."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address or address[0] not in "@/":
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), target)
        return True
    return False


class ReopenableFileHandler(logging.FileHandler):
    """A log file that `reopen()` (on SIGHUP) opens again by name, so after
    logrotate moved it the server writes to the new file."""

    def reopen(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


def log_to(path: Path | None, level: int) -> ReopenableFileHandler | None:
    """Log to stderr, or to the file `path` (append) if given; its handler, to reopen."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for old in list(root.handlers):
        root.removeHandler(old)
    if path is None:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(fmt)
        root.addHandler(handler)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = ReopenableFileHandler(path, encoding="utf-8")
    file_handler.setFormatter(fmt)
    root.addHandler(file_handler)
    return file_handler
