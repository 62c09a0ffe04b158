"""Each conversation's entries reach this node's connections in stream order,
with none left out.

`ack` means "I have everything up to here", so a connection must never be
sent an entry before an older one of the same conversation: a member that
acked the newer one and then dropped would never be sent the older one
again. Entries reach a node from two places that can each fall behind the
other: its own sends, and other nodes' over pub/sub, which may also drop
them (a resubscription, a publish that failed) — and a send whose write
Redis ran after the node had given up on it is stored but never announced.

Every new entry carries its predecessor (`prev`, read by the same script
that stored it). Per conversation this keeps the newest entry let through
(the tip); an entry whose predecessor is the tip goes on at once, one whose
predecessor is newer than the tip waits for the missing ones, and if they
have not come within GAP_WAIT_S they are read from Redis (once per gap,
whatever the number of members) and let through first. An entry at or
below the tip was let through already (a repair read it) and is dropped.

Sans-I/O in the sense that matters: the decisions are plain code over
dicts; the waiting and the reading are the caller's `schedule` and
`fetch`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from .conv import mid_key
from .store import Stored, StoredMessage

log = logging.getLogger(__name__)

# How long an entry waits for a missing predecessor before the gap is read
# from Redis: a message from another node usually overtakes by well under a
# millisecond, so this is rarely reached, and when it is, it is the added
# latency of the entries behind a lost one.
GAP_WAIT_S = 0.05
# At most this many entries are read to fill one gap; past that the
# conversation's live members skip the rest (the newest of them still
# come), as a login replay does (limits.REPLAY_MAX).
GAP_MOST = 500
# A repair that fails (Redis away) is tried again this often, this many
# times, before the held entries are let through without it.
RETRY_S = 1.0
TRIES = 5


def entry_id(entry: Stored) -> str:
    return entry.mid if isinstance(entry, StoredMessage) else entry.id


Fetch = Callable[[str, str, int], Awaitable[Sequence[Stored]]]


class InOrder:
    """The ordering of one node's live entries, per conversation."""

    def __init__(
        self,
        let_through: Callable[[Stored], None],
        fetch: Fetch,
        *,
        wait_s: float = GAP_WAIT_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self._let_through = let_through
        self._fetch = fetch  # (conv id, after id, most) -> the entries after it, oldest first
        self._wait_s, self._retry_s = wait_s, retry_s
        self._tips: dict[str, str] = {}  # conv id -> the newest entry let through
        self._held: dict[str, dict[str, Stored]] = {}  # conv id -> id -> an entry waiting for its predecessor
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._repairs: dict[str, asyncio.Task[None]] = {}
        self.gaps = 0  # gaps found (metrics, tests)
        self.repaired = 0  # entries a repair read from Redis and let through

    # --- what the hub tells it -------------------------------------------------------------

    def arrive(self, entry: Stored) -> None:
        cid, eid, prev = entry.conv_id, entry_id(entry), entry.prev
        tip = self._tips.get(cid)
        if tip is None or prev is None:  # nothing to order against: an entry from a node before prev
            if tip is None or mid_key(eid) > mid_key(tip):
                self._tips[cid] = eid
            self._let_through(entry)
            return
        if prev == tip:  # the usual case, without parsing an id
            self._pass(cid, entry, eid)
            if cid in self._held:
                self._drain(cid)
            return
        if mid_key(eid) <= mid_key(tip):
            return  # let through already
        if _follows(prev, tip):
            self._pass(cid, entry, eid)
            if cid in self._held:
                self._drain(cid)
            return
        self.gaps += cid not in self._held
        self._held.setdefault(cid, {})[eid] = entry
        if cid not in self._timers and cid not in self._repairs:
            self._timers[cid] = asyncio.get_running_loop().call_later(self._wait_s, self._start_repair, cid, TRIES)

    def covered(self, cid: str, upto: str) -> None:
        """A connection has everything of `cid` up to `upto` (a login replay,
        a join): where the order starts, if nothing is known yet."""
        if cid not in self._tips and upto:
            self._tips[cid] = upto

    def forget(self, cid: str) -> None:
        """No connection here is in `cid` any more."""
        if cid not in self._tips and cid not in self._held:
            return  # the usual case, for every entry of a conversation nobody here is in
        self._tips.pop(cid, None)
        self._held.pop(cid, None)
        timer = self._timers.pop(cid, None)
        if timer is not None:
            timer.cancel()
        repair = self._repairs.pop(cid, None)
        if repair is not None:
            repair.cancel()

    def close(self) -> None:
        for cid in list(self._timers) + list(self._repairs):
            self.forget(cid)

    def tip(self, cid: str) -> str | None:
        return self._tips.get(cid)

    # --- inside ---------------------------------------------------------------------------

    def _pass(self, cid: str, entry: Stored, eid: str) -> None:
        self._tips[cid] = eid
        self._let_through(entry)

    def _drain(self, cid: str) -> None:
        """Let through the held entries that now follow the tip, in order;
        drop those a repair covered; keep waiting for the rest."""
        held = self._held.get(cid)
        if not held:
            self._held.pop(cid, None)
            return
        for eid in sorted(held, key=mid_key):
            entry = held[eid]
            tip = self._tips[cid]
            if mid_key(eid) <= mid_key(tip):
                del held[eid]
            elif entry.prev is not None and _follows(entry.prev, tip):
                del held[eid]
                self._pass(cid, entry, eid)
            else:
                break
        if not held:
            del self._held[cid]
            timer = self._timers.pop(cid, None)
            if timer is not None:
                timer.cancel()

    def _start_repair(self, cid: str, tries_left: int) -> None:
        self._timers.pop(cid, None)
        if cid in self._held and cid not in self._repairs:
            self._repairs[cid] = asyncio.get_running_loop().create_task(self._repair(cid, tries_left))

    async def _repair(self, cid: str, tries_left: int) -> None:
        try:
            tip = self._tips[cid]
            try:
                entries = await self._fetch(cid, tip, GAP_MOST)
            except Exception as exc:
                if tries_left > 1:
                    log.warning("reading a gap in %s failed (%s); trying again", cid, exc)
                    self._timers[cid] = asyncio.get_running_loop().call_later(
                        self._retry_s, self._start_repair, cid, tries_left - 1
                    )
                    return
                log.warning("reading a gap in %s failed (%s); its live members miss it", cid, exc)
                entries = ()
            held = self._held.get(cid, {})
            newest = max(held, key=mid_key) if held else None
            passed = 0
            for entry in entries:
                eid = entry_id(entry)
                if newest is not None and mid_key(eid) > mid_key(newest):
                    break  # past what is held: those come live
                if mid_key(eid) > mid_key(self._tips[cid]):
                    passed += 1
                    self._pass(cid, entry, eid)
            self.repaired += passed
            if passed:  # stored, but not heard of here within the wait (a bus event lost, a node died): worth knowing
                log.warning("filled a gap in %s: %d entries read from Redis after %s", cid, passed, tip)
            if cid in self._held and not passed:
                # nothing to fill it with (trimmed, deleted, or Redis stays away): go on from the oldest held
                oldest = min(self._held[cid], key=mid_key)
                self._tips[cid] = max(self._tips[cid], self._held[cid][oldest].prev or oldest, key=mid_key)
            self._drain(cid)
        finally:
            self._repairs.pop(cid, None)
        if cid in self._held and cid not in self._timers:  # a gap that opened meanwhile
            self._timers[cid] = asyncio.get_running_loop().call_later(self._wait_s, self._start_repair, cid, TRIES)


def _follows(prev: str, tip: str) -> bool:
    """An entry whose predecessor is `prev` comes right after `tip` (or its
    predecessor is older still: the tip was a starting point, not an entry)."""
    return prev == tip or not prev or mid_key(prev) <= mid_key(tip)
