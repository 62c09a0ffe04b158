"""ChatServer: listen, accept, keep the node alive in Redis, shut down in order.

Shutdown follows websockets' server: stop accepting, let in-flight requests
finish, tell every client `bye shutdown`, take this node's connections out of
presence in one step, then close Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import ssl
from collections import Counter

from ..protocol import limits
from .auth import LoginThrottle, PasswordService
from .connection import Connection, State
from .fdlimit import raise_open_files_limit
from .hub import Hub
from .presence import NodePresence
from .settings import Settings
from .store import Store
from .tls import TlsListener

log = logging.getLogger(__name__)


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key) if settings.tls_key else None)
    return context


class ChatServer:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.node_id = settings.node_id or secrets.token_hex(6)
        self.store = Store(redis_url, history_maxlen=settings.history_maxlen,
                           timeout=settings.redis_timeout)
        self.hub = Hub(self.store, self.node_id)
        self.presence = NodePresence(self)
        self.passwords = PasswordService(settings)
        self.throttle = LoginThrottle(self.store, settings)
        self.known_dms: set[str] = set()
        self.accepted = 0  # messages stored by this node
        self.connections: set[Connection] = set()
        self._per_address: Counter[str] = Counter()
        self._server: asyncio.Server | TlsListener | None = None
        self._refused = 0  # connections refused since the last log line about it
        self._refusal_logged = -1e9
        self._tasks: set[asyncio.Task[object]] = set()
        self._housekeeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._typing_last: dict[tuple[str, str], float] = {}
        self.loop = asyncio.get_event_loop()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.store.start()
        await self.presence.start()
        await self.hub.start()
        raise_open_files_limit()
        context = server_ssl_context(self.settings)
        if context is None:
            self._server = await self.loop.create_server(
                lambda: Connection(self), self.settings.host, self.settings.port,
                reuse_address=True, backlog=4096,
            )
        else:  # not create_server(ssl=...): it hides a handshake until it is done (see tls.py)
            self._server = await TlsListener.start(self, context, self.settings.host, self.settings.port,
                                                   backlog=4096)
        self._housekeeper = self.loop.create_task(self._housekeeping())
        # Start-up objects (modules, settings, scripts) never become garbage:
        # keep the cyclic collector from walking them, and let it run less
        # often, since the message path makes many short-lived objects.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        log.info("chinwag node %s listening on %s:%d", self.node_id, self.settings.host, self.port)

    # --- connections ------------------------------------------------------------

    def reserve(self, address: str) -> bool:
        """Take a place under the per-address cap for a connection that has
        no Connection yet (a TLS handshake); False if there is none."""
        if self._stopping:
            return False
        if self._per_address[address] >= self.settings.max_connections_per_address:
            self.note_refused(address, "over the per-address cap")
            return False
        self._per_address[address] += 1
        return True

    def release(self, address: str) -> None:
        """Give back a place taken by `reserve`."""
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    def admit(self, conn: Connection) -> bool:
        if conn.reserved_address is not None:  # its place, taken at accept, becomes its own
            self.release(conn.reserved_address)
            conn.reserved_address = None
        if not self.reserve(conn.address):
            return False
        self.connections.add(conn)
        return True

    def note_refused(self, address: str, why: str) -> None:
        """Log a refused connection, at most one line a second: a flood of
        connections must not become a flood of log lines as well."""
        self._refused += 1
        now = self.loop.time()
        if now - self._refusal_logged >= 1.0:
            log.warning("refused %d connection(s) since the last such line, the latest from %s: %s",
                        self._refused, address, why)
            self._refused = 0
            self._refusal_logged = now

    def forget(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.release(conn.address)
        if conn.username:
            self.hub.remove(conn)
        if conn.counted_online and not self._stopping:
            self.presence.went_away(conn)

    async def count_online(self, conn: Connection) -> None:
        """Count a newly authenticated connection in presence (see presence.py)."""
        await self.presence.count_in(conn)

    def typing_allowed(self, name: str, cid: str) -> bool:
        """At most one typing relay every 3 s per sender and conversation,
        whichever of the sender's connections on this node it comes from."""
        now = self.loop.time()
        key = (name, cid)
        if now - self._typing_last.get(key, -1e9) < limits.TYPING_INTERVAL_S:
            return False
        if len(self._typing_last) > 100_000:
            self._typing_last = {k: t for k, t in self._typing_last.items()
                                 if now - t < limits.TYPING_INTERVAL_S}
        self._typing_last[key] = now
        return True

    def spawn(self, coro: object) -> None:
        task = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- housekeeping -------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Timeouts and stats, once a second. (The heartbeat, reaping and
        presence repair run on their own clock, in presence.py.)"""
        s = self.settings
        next_stats = self.loop.time() + s.stats_interval
        while True:
            await asyncio.sleep(1.0)
            now = self.loop.time()
            self._sweep(now)
            if s.stats_interval > 0 and now >= next_stats:
                next_stats = now + s.stats_interval
                self._log_stats()

    def _log_stats(self) -> None:
        """One line an operator can graph: totals since start; rates are deltas."""
        log.info("stats: node=%s connections=%d users=%d accepted=%d delivered=%d",
                 self.node_id, len(self.connections), len(self.hub.by_user),
                 self.accepted, self.hub.delivered)

    def _sweep(self, now: float) -> None:
        s = self.settings
        for conn in list(self.connections):
            silent = now - conn.last_heard
            if conn.state is not State.AUTHENTICATED and now - conn.opened > s.preauth_timeout:
                conn.bye("idle")
            elif silent > s.idle_timeout:
                conn.bye("idle")
            elif silent > s.ping_interval and not conn.pinged:
                conn.pinged = True
                conn.send({"type": "ping"})

    # --- shutdown ---------------------------------------------------------------------

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        deadline = self.loop.time() + self.settings.shutdown_grace
        while any(c._worker is not None for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.bye("shutdown")
        with contextlib.suppress(Exception):
            await self.presence.leave()
            await self.hub.flush()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        await self.hub.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.store.close(), 2)
        self.passwords.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        log.info("chinwag node %s stopped", self.node_id)
