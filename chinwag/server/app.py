"""ChatServer: listen, accept, keep the node alive in Redis, shut down in order.

Shutdown follows websockets' server: stop accepting, let in-flight requests
finish, tell every client `bye shutdown`, take this node's connections out of
presence in one step, then close Redis.

The server owns the node's collaborators and hands the request handlers only
the `HandlerContext` (context.py). Its timers (the pre-login, idle and ping
timeouts of the sweep, the rate buckets, the typing interval) read one
injectable `clock`, so a test can move time instead of sleeping through it
and run the sweep itself (`sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import ssl
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from ..protocol import limits
from .auth import LoginThrottle, PasswordService
from .connection import Connection
from .context import Counters, HandlerContext
from .fdlimit import raise_open_files_limit
from .hub import Hub
from .metrics import NO_METRICS, Metrics, MetricsServer, Readings, parse_address, registry_for
from .presence import NodePresence
from .ratelimit import Clock, IntervalGate
from .search.service import SearchService
from .search.worker import ChildIndex
from .session import State
from .settings import Settings, search_path
from .store import Store
from .tls import TlsListener

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 1.0  # the timeouts' granularity


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key) if settings.tls_key else None)
    return context


class ChatServer:
    def __init__(self, settings: Settings, redis_url: str, *, clock: Clock | None = None) -> None:
        """`clock`: the time the server's timers read (default: the event
        loop's; tests pass one they move by hand)."""
        self.settings = settings
        self._ssl: ssl.SSLContext | None = None
        self.loop = asyncio.get_event_loop()
        self._own_clock = clock is None
        self.clock: Clock = self.loop.time if clock is None else clock
        self.node_id = settings.node_id or secrets.token_hex(6)
        self.store = Store(redis_url, history_maxlen=settings.history_maxlen, timeout=settings.redis_timeout)
        self.hub = Hub(self.store, self.node_id)
        self.presence = NodePresence(self)
        self.passwords = PasswordService(settings)
        self.throttle = LoginThrottle(self.store, settings)
        self.counters = Counters()
        # --metrics: counted only when served (NO_METRICS observes nothing)
        self.metrics = Metrics(self.node_id, self._readings) if settings.metrics else NO_METRICS
        self.store.engine.on_batch = self.metrics.redis_batch
        self.store.engine.on_call = self.metrics.redis_call
        self._metrics_server: MetricsServer | None = None
        # This node's search index, a process of its own started with the node
        # (start() raises SearchSetupError for a directory it cannot use).
        self.search: SearchService | None = None
        path = search_path(settings)
        if path is not None:
            self.search = SearchService(self.store, ChildIndex(path))
            self.search.attach(self.hub)
        self.context = HandlerContext(
            settings=settings,
            store=self.store,
            hub=self.hub,
            presence=self.presence,
            throttle=self.throttle,
            passwords=self.passwords,
            counters=self.counters,
            typing_gate=IntervalGate(limits.TYPING_INTERVAL_S, self._now),
            searcher=self.metrics.timed_search(self.search.answer) if self.search is not None else None,
            metrics=self.metrics,
        )
        if self.search is not None:
            self.context.features.add(limits.FEATURE_SEARCH)
        self.connections: set[Connection] = set()
        self._per_ip: Counter[str] = Counter()  # connections (and TLS handshakes) per client IP
        self._server: asyncio.Server | TlsListener | None = None
        self._refused = 0  # connections refused since the last log line about it
        self._refusal_logged = -1e9
        self._tasks: set[asyncio.Task[object]] = set()
        self._housekeeper: asyncio.Task[None] | None = None
        self._stopping = False

    def _now(self) -> float:
        return self.clock()

    @property
    def accepted(self) -> int:
        """Messages stored by this node."""
        return self.counters.accepted

    @property
    def known_dms(self) -> set[str]:
        return self.context.known_dms

    @property
    def metrics_port(self) -> int | None:
        """The port of the metrics endpoint (None: metrics off)."""
        return self._metrics_server.port if self._metrics_server is not None else None

    @property
    def metrics_url(self) -> str | None:
        if self._metrics_server is None or not self.settings.metrics:
            return None
        host = parse_address(self.settings.metrics)[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self._metrics_server.port}/metrics"

    def _readings(self) -> Readings:
        """What the metrics read at scrape time, from what the node keeps anyway."""
        beat = self.presence.last_beat
        by_user = self.hub.by_user
        return Readings(
            connections=len(self.connections),
            users=len(by_user),
            logged_in=sum(map(len, by_user.values())),
            accepted=self.counters.accepted,
            delivered=self.hub.delivered,
            heartbeat_age=None if beat is None else self.loop.time() - beat,
            index_queue=None if self.search is None else self.search.queued,
            delivery_gaps=self.hub.order.gaps,
            gap_entries_read=self.hub.order.repaired,
        )

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    def reload_tls(self) -> str:
        """Load the certificate and key again from their files (after a
        renewal), for the handshakes from now on; connections already up
        keep theirs. On a bad file the old certificate stays. What happened, in a line."""
        if self._ssl is None or self.settings.tls_cert is None:
            return "no TLS certificate to reload"
        key = str(self.settings.tls_key) if self.settings.tls_key else None
        try:
            self._ssl.load_cert_chain(str(self.settings.tls_cert), key)
        except (OSError, ssl.SSLError) as exc:
            return f"TLS certificate NOT reloaded, the old one stays: {exc}"
        return f"TLS certificate reloaded from {self.settings.tls_cert}"

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self._own_clock:
            self.clock = self.loop.time
        await self.store.start()
        await self.presence.start()
        await self.hub.start()
        if self.search is not None:
            await self.search.start()
        raise_open_files_limit()
        if self.settings.metrics:  # before the clients' port: a bad address fails the start
            self._metrics_server = await MetricsServer.start(registry_for(self.metrics), self.settings.metrics)
        context = self._ssl = server_ssl_context(self.settings)
        if context is None:
            self._server = await self.loop.create_server(
                lambda: Connection(self),
                self.settings.host,
                self.settings.port,
                reuse_address=True,
                backlog=4096,
            )
        else:  # not create_server(ssl=...): it hides a handshake until it is done (see tls.py)
            self._server = await TlsListener.start(self, context, self.settings.host, self.settings.port, backlog=4096)
        self._housekeeper = self.loop.create_task(self._housekeeping())
        # Start-up objects (modules, settings, scripts) never become garbage:
        # keep the cyclic collector from walking them, and let it run less
        # often, since the message path makes many short-lived objects.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        log.info("chinwag node %s listening on %s:%d", self.node_id, self.settings.host, self.port)

    # --- connections ------------------------------------------------------------

    def reserve(self, ip: str) -> bool:
        """Take a place under the per-IP cap (`max_connections_per_address`)
        for a connection that has no Connection yet (a TLS handshake); False
        if there is none."""
        if self._stopping:
            return False
        if self._per_ip[ip] >= self.settings.max_connections_per_address:
            self.note_refused(ip, "over the per-address cap")
            return False
        self._per_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        """Give back a place taken by `reserve`."""
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]

    def admit(self, conn: Connection) -> bool:
        if conn.reserved_address is not None:  # its place, taken at accept, becomes its own
            self.release(conn.reserved_address)
            conn.reserved_address = None
        if not self.reserve(conn.peer_ip):
            return False
        self.connections.add(conn)
        return True

    def note_refused(self, ip: str, why: str) -> None:
        """Log a refused connection, at most one line a second: a flood of
        connections must not become a flood of log lines as well."""
        self._refused += 1
        now = self.clock()
        if now - self._refusal_logged >= 1.0:
            log.warning(
                "refused %d connection(s) since the last such line, the latest from %s: %s", self._refused, ip, why
            )
            self._refused = 0
            self._refusal_logged = now

    def forget(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.release(conn.peer_ip)
        if conn.username:
            self.hub.remove(conn)
        if conn.counted_online and not self._stopping:
            self.presence.went_away(conn)

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- housekeeping -------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Timeouts and stats, once a second. (The heartbeat, reaping and
        presence repair run on their own clock, in presence.py.)"""
        s = self.settings
        next_stats = self.clock() + s.stats_interval
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            now = self.clock()
            self.sweep(now)
            if s.stats_interval > 0 and now >= next_stats:
                next_stats = now + s.stats_interval
                self._log_stats()

    def _log_stats(self) -> None:
        """One line an operator can graph: totals since start; rates are deltas."""
        search = self.search
        log.info(
            "stats: node=%s connections=%d users=%d accepted=%d delivered=%d gaps=%d gap_read=%d%s",
            self.node_id,
            len(self.connections),
            len(self.hub.by_user),
            self.accepted,
            self.hub.delivered,
            self.hub.order.gaps,
            self.hub.order.repaired,
            ""
            if search is None
            else f" indexed_live={search.indexed_live} index_read={search.read_back} index_queue={search.queued}",
        )

    def sweep(self, now: float | None = None) -> None:
        """Close connections past the pre-login or idle timeout, and ping the
        silent ones (run every SWEEP_EVERY_S; tests run it after moving the clock)."""
        if now is None:
            now = self.clock()
        s = self.settings
        for conn in list(self.connections):
            silent = now - conn.last_heard
            preauth_over = conn.state is not State.AUTHENTICATED and now - conn.opened > s.preauth_timeout
            if preauth_over or silent > s.idle_timeout:
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
        while (remaining := deadline - self.loop.time()) > 0:
            working = [c.worker for c in self.connections if c.worker is not None]
            if not working:
                break
            await asyncio.wait(working, timeout=remaining)
        for conn in list(self.connections):
            conn.bye("shutdown")
        with contextlib.suppress(Exception):
            await self.presence.leave()
            await self.hub.flush()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        await self.hub.stop()
        if self.search is not None:
            await self.search.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.store.close(), 2)
        self.passwords.close()
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        log.info("chinwag node %s stopped", self.node_id)
