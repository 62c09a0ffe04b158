"""This node's part of cluster presence: its heartbeat, its users' counts in
Redis, judging peers dead, and repairing the counts after an outage.

Presence is one hash of live connection counts per user (all nodes) plus one
hash per node of its own share, which is what lets a peer take a dead node's
users offline. Two things can make those hashes wrong, and this module
handles both:

- A Redis stall. While Redis is stopped, no node can heartbeat; when it
  comes back every heartbeat is stale at once. A node therefore judges a
  peer dead only once its *own* heartbeats have gone through on time for a
  full node TTL: then Redis has been serving long enough for a live peer to
  have heartbeated too.
- Lost updates. A departure that could not be recorded while Redis was away,
  a login whose count failed half-way, or this node reaped by a peer (or
  Redis losing its data): after any of these the node rewrites its own share
  from the connections it holds in memory (PRESENCE_SYNC, idempotent), and
  tells everyone about the users that came back online or went offline.

Count changes and a repair never overlap: a repair waits for the changes in
flight, holds new ones back while it takes its snapshot, and a departure
that the snapshot already left out is not applied again (the epoch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Collection, Coroutine, Sequence
from typing import Any, Protocol

from .hub import Hub
from .settings import Settings
from .store import StorageUnavailable, Store

log = logging.getLogger(__name__)


class Counted(Protocol):
    """What presence needs of a connection."""

    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...

    counted_online: bool  # this connection is counted in presence


class PresenceHost(Protocol):
    """What presence needs of the node (the ChatServer)."""

    @property
    def store(self) -> Store: ...
    @property
    def hub(self) -> Hub: ...
    @property
    def node_id(self) -> str: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def connections(self) -> Collection[Counted]: ...

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None: ...


class NodePresence:
    def __init__(self, server: PresenceHost) -> None:
        self.server = server
        self.store = server.store
        self.hub = server.hub
        self.node_id = server.node_id
        self.settings = server.settings
        self.epoch = 0  # bumped by each repair's snapshot
        self.repairs = 0  # repairs that went through (for tests and logs)
        self.dirty = False  # Redis may disagree with memory: repair at the next heartbeat
        self.healthy_since: float | None = None  # start of the current run of timely heartbeats
        self._last_beat: float | None = None
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()  # cleared while a repair takes its snapshot
        self._open.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_beat(self) -> float | None:
        """The loop time of the last heartbeat that went through (None before
        the first): its age grows while Redis does not take them."""
        return self._last_beat

    # --- counting connections in and out ---------------------------------------------

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[None]:
        while not self._open.is_set():
            await self._open.wait()
        self._inflight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def count_in(self, conn: Counted) -> None:
        """Count a newly authenticated connection; the user's first anywhere
        makes them online for everyone."""
        name = conn.username
        profile = (await self.store.profiles([name]))[name]  # before counting: a failure here counts nothing
        async with self._change():
            try:
                total = await self.store.presence_change(self.node_id, name, +1)
            except StorageUnavailable:
                self.dirty = True  # the increment may or may not have happened
                raise
            if conn not in self.server.connections:  # it closed meanwhile
                await self._count_out(name)
                return
            if total == 1:
                self.hub.presence(name, profile, True)
            conn.counted_online = True

    def went_away(self, conn: Counted) -> None:
        """A counted connection closed (called from the close path, synchronously)."""
        conn.counted_online = False
        self.server.spawn(self._went_away(conn.username, self.epoch))

    async def _went_away(self, name: str, epoch: int) -> None:
        async with self._change():
            if epoch != self.epoch:
                return  # a repair's snapshot, taken after it closed, already left it out
            await self._count_out(name)

    async def _count_out(self, name: str) -> None:
        try:
            if await self.store.presence_change(self.node_id, name, -1) == 0:
                self.hub.presence(name, (await self.store.profiles([name]))[name], False)
        except StorageUnavailable as exc:
            # Redis is away: the next repair records it, or the user would look online forever
            log.warning("could not record that %s went offline (%s); will repair", name, exc)
            self.dirty = True

    # --- repair ------------------------------------------------------------------------

    async def repair(self) -> None:
        """Rewrite this node's share of presence from its connections."""
        self._open.clear()
        try:
            await self._idle.wait()
            counts = Counter(c.username for c in self.server.connections if c.counted_online)
            self.epoch += 1
            self.dirty = False
            try:
                came, went = await self.store.presence_sync(self.node_id, dict(counts))
            except StorageUnavailable:
                self.dirty = True
                raise
        finally:
            self._open.set()
        self.repairs += 1
        log.info(
            "presence of node %s repaired: %d users counted, %d back online, %d gone offline",
            self.node_id,
            len(counts),
            len(came),
            len(went),
        )
        await self._announce(came, went)

    async def _announce(self, came: Sequence[str], went: Sequence[str], *, still_here: bool = False) -> None:
        """Tell everyone these users came online and those went offline
        (their display names read once); with `still_here`, a user who
        still has a connection on this node is not said to have gone."""
        if not came and not went:
            return
        profiles = await self.store.profiles([*came, *went])
        for name in came:
            self.hub.presence(name, profiles[name], True)
        for name in went:
            if not (still_here and name in self.hub.by_user):
                self.hub.presence(name, profiles[name], False)

    # --- heartbeat and peers --------------------------------------------------------------

    def _gap_limit(self) -> float:
        """The longest gap between two heartbeats that still counts as on
        time. A stall shorter than this can go unnoticed, and delays a peer's
        heartbeat by as much; half the slack between interval and TTL keeps
        a live peer's heartbeats inside its TTL."""
        s = self.settings
        return s.heartbeat_interval + max(0.0, s.node_ttl - s.heartbeat_interval) / 2

    async def beat(self) -> None:
        """One heartbeat; then repair if needed, then reap peers whose time is
        up, but only if this node has itself been heartbeating on time for
        longer than the TTL."""
        s = self.settings
        loop = asyncio.get_running_loop()
        try:
            absent, expired = await asyncio.wait_for(self.store.heartbeat(self.node_id, s.node_ttl), s.node_ttl)
        except (StorageUnavailable, TimeoutError) as exc:
            if self.healthy_since is not None:
                log.warning("heartbeat failed (%s); not judging other nodes until Redis is back", exc)
            self.healthy_since = None
            self.dirty = True
            return
        now = loop.time()
        if self.healthy_since is None or self._last_beat is None or now - self._last_beat > self._gap_limit():
            if self._last_beat is not None:
                log.warning(
                    "heartbeats were stalled for %.1f s; not judging other nodes for %.0f s",
                    now - self._last_beat,
                    s.node_ttl,
                )
            self.healthy_since = now
        self._last_beat = now
        if absent:
            self.dirty = True  # first start, reaped by a peer, or Redis lost its data
        if self.dirty:
            try:
                await self.repair()
            except StorageUnavailable as exc:
                log.warning("presence repair failed: %s", exc)
                return
        if expired and now - self.healthy_since >= s.node_ttl:
            for node in expired:
                try:
                    await self.reap(node)
                except StorageUnavailable as exc:
                    log.warning("could not reap node %s: %s", node, exc)
                    return

    async def reap(self, node: str) -> None:
        """Take a dead node's users offline (each at most once: one reaper wins)."""
        gone = await self.store.reap_node(node)
        if gone:
            log.info("node %s is gone; %d users went offline", node, len(gone))
            await self._announce([], gone, still_here=True)

    async def start(self) -> None:
        """The first heartbeat (before accepting anyone), then one every interval."""
        await self.beat()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the heartbeat die
                log.exception("heartbeat round failed")

    async def leave(self) -> None:
        """At shutdown: stop heartbeating and take this node's users offline."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 2)
        await self._announce([], await self.store.reap_node(self.node_id))
