"""The TLS listener: a handshake holds a place from accept, not from its end.

`loop.create_server(ssl=...)` calls the protocol's `connection_made` only
once the TLS handshake is done, so a socket that never finished one was
invisible to the per-address cap and the pre-login sweep, and stayed open
for asyncio's default 60 s: thousands of them from one address ate the
server's memory. So the TLS port accepts connections itself
(`loop.sock_accept`) and wraps each in TLS with
`loop.connect_accepted_socket(ssl=..., ssl_handshake_timeout=...)`, both
public APIs of asyncio and uvloop. At accept, knowing the peer's address:

- the connection takes its place under the per-address cap at once (the
  Connection that follows a successful handshake inherits that place), and
  one over the cap is reset;
- at most `max_tls_handshakes` handshakes are in progress at once, from all
  addresses: a new one past that evicts the oldest, so a flood of stalled
  handshakes from many addresses bounds memory but cannot starve honest
  clients, whose handshakes take milliseconds;
- a handshake not finished within `tls_handshake_timeout` (or
  `preauth_timeout`, if shorter) is aborted; the Connection's pre-login
  time counts from accept too.

The object has the part of `asyncio.Server`'s interface the ChatServer uses
(`sockets`, `close`, `wait_closed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Protocol

from .connection import Connection, Node


class TlsHost(Node, Protocol):
    """What the listener needs of its node (the ChatServer in app.py),
    beyond what a Connection needs: the per-address cap."""

    def reserve(self, ip: str) -> bool: ...
    def release(self, ip: str) -> None: ...
    def note_refused(self, ip: str, why: str) -> None: ...


log = logging.getLogger(__name__)

# Accept errors that mean "out of resources right now", not "the listener is
# broken": asyncio's own server pauses accepting for 1 s on these.
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_RETRY_S = 1.0
ACCEPT_BURST = 128  # connections taken per wake-up of the accept loop
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


def peer_address(peer: object) -> str:
    """The address part of a peer name, as Connection.connection_made forms it."""
    return str(peer[0]) if isinstance(peer, tuple) else "local"


async def listening_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host`
    resolves to, as `loop.create_server` makes them."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _reset(sock: socket.socket) -> None:
    """Close a connection with a reset: nothing to flush, nothing lingers."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    sock.close()


@dataclass(eq=False, slots=True)
class _Pending:
    """One handshake in progress."""

    address: str
    sock: socket.socket
    task: asyncio.Task[None] | None = None
    conn: Connection | None = None  # made by the loop when the handshake starts
    started: bool = False  # the task has run: the socket belongs to a transport


class TlsListener:
    """Accepts on the TLS port and runs each handshake under the limits."""

    def __init__(self, server: TlsHost, context: ssl.SSLContext, sockets: list[socket.socket]) -> None:
        self.server = server
        self.context = context
        self.sockets = sockets
        self.loop = server.loop
        self.handshakes: dict[_Pending, bool] = {}  # in progress, oldest first
        self._closed = False
        self._aborted: list[asyncio.Task[None]] = []  # handshakes close() cancelled
        self._acceptors = [self.loop.create_task(self._accept(sock)) for sock in sockets]

    @property
    def timeout(self) -> float:
        """Seconds a handshake may take: the handshake is part of the time
        allowed to log in, so never more than `preauth_timeout`."""
        s = self.server.settings
        timeout = min(s.tls_handshake_timeout, s.preauth_timeout) if s.preauth_timeout > 0 else s.tls_handshake_timeout
        return max(0.001, timeout)

    @classmethod
    async def start(cls, server: TlsHost, context: ssl.SSLContext, host: str, port: int, backlog: int) -> TlsListener:
        return cls(server, context, await listening_sockets(host, port, backlog))

    # --- accepting -------------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        try:
            await self._accept_forever(listener)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the TLS listener on %s failed; it accepts no more", listener.getsockname())
        finally:
            listener.close()  # after the loop has stopped watching it

    async def _accept_forever(self, listener: socket.socket) -> None:
        loop = self.loop
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
                self._accepted(sock, peer)
                for _ in range(ACCEPT_BURST):  # whatever else is already queued
                    sock, peer = listener.accept()
                    self._accepted(sock, peer)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRORS:
                    raise
                log.warning("cannot accept TLS connections (%s); trying again in %.0f s", exc, ACCEPT_RETRY_S)
                await asyncio.sleep(ACCEPT_RETRY_S)

    def _accepted(self, sock: socket.socket, peer: object) -> None:
        address = peer_address(peer)
        if self._closed or not self.server.reserve(address):
            _reset(sock)
            return
        limit = max(1, self.server.settings.max_tls_handshakes)
        while len(self.handshakes) >= limit:
            oldest = next(iter(self.handshakes))
            self.server.note_refused(oldest.address, "too many TLS handshakes at once, dropped the oldest")
            self._drop(oldest)
        pending = _Pending(address, sock)
        self.handshakes[pending] = True
        pending.task = self.loop.create_task(self._handshake(pending))

    async def _handshake(self, pending: _Pending) -> None:
        pending.started = True

        def connection() -> Connection:
            conn = pending.conn = Connection(self.server)
            conn.reserved_address = pending.address  # admit() takes the place over
            return conn

        try:
            await self.loop.connect_accepted_socket(
                connection, pending.sock, ssl=self.context, ssl_handshake_timeout=self.timeout
            )
        except Exception as exc:  # timed out, not TLS, reset: the client's doing
            log.debug("TLS handshake with %s failed: %r", pending.address, exc)
            pending.sock.close()  # the transport has let it go, or never took it
        finally:
            self._finish(pending)

    def _finish(self, pending: _Pending) -> None:
        """The handshake is over (once): give its place back unless a
        Connection was admitted with it."""
        if not self.handshakes.pop(pending, False):
            return
        conn = pending.conn
        if conn is None or conn.reserved_address is not None:
            if conn is not None:
                conn.reserved_address = None  # should it still be admitted, it counts afresh
            self.server.release(pending.address)

    def _drop(self, pending: _Pending) -> None:
        """Abort a handshake in progress."""
        self._finish(pending)
        assert pending.task is not None
        pending.task.cancel()  # its transport aborts the connection
        if not pending.started:  # no transport has the socket: close it here
            _reset(pending.sock)

    # --- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting and abort the handshakes in progress."""
        if self._closed:
            return
        self._closed = True
        for acceptor in self._acceptors:
            acceptor.cancel()
        for pending in list(self.handshakes):
            assert pending.task is not None
            self._aborted.append(pending.task)
            self._drop(pending)

    async def wait_closed(self) -> None:
        pending = [*self._acceptors, *self._aborted]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
