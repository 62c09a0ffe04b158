"""What both clients do with the events they receive: queue them in order,
hand them out to one waiting caller, and acknowledge messages once the
caller has seen them. `ChatClient` and `ReconnectingClient` each own one
`Inbox`; neither has a queue or a waiter of its own.

Messages and the `messages` feature's change events are acknowledged alike
(a change's `id` is a place in the same order as mids). An event counts as
seen when the caller asks for what comes after it (the next event or the
next batch). Acks cost the server a cursor write each, so
they are coalesced: the newest `mid` per conversation, sent `ACK_DELAY`
seconds after the first falls due, or at once when `ACK_EVERY` are due.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import ConnectionClosed
from .limits import mid_order
from .messages import DeletedEvent, EditedEvent, Message, ReactionEvent

_CHANGES = (EditedEvent, DeletedEvent, ReactionEvent)
ACK_EVERY = 64
ACK_DELAY = 0.1

E = TypeVar("E")


class AckTracker:
    """Coalesces acknowledgements: `send(conv, mid)` for the newest mid per
    conversation, ACK_DELAY after the first falls due or at once when
    ACK_EVERY are due."""

    __slots__ = ("_count", "_due", "_send", "_timer")

    def __init__(self, send: Callable[[str, str], None]) -> None:
        self._send = send
        self._due: dict[str, str] = {}
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def seen(self, conv: str, upto: str) -> None:
        """`upto` (a mid, or a change's id) of `conv` was seen. The newest
        per conversation is what is acknowledged: a login replay sends a
        conversation's older changes after its newer messages."""
        due = self._due.get(conv)
        if due is None or mid_order(upto) > mid_order(due):
            self._due[conv] = upto
        self._count += 1
        if self._count >= ACK_EVERY:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(ACK_DELAY, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due, self._due = self._due, {}
        self._count = 0
        for conv, mid in due.items():
            self._send(conv, mid)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Inbox(Generic[E]):
    """Events in arrival order for one consumer. `close(error)` ends it:
    what is queued is still handed out, then `get` raises `error`."""

    __slots__ = ("_acks", "_closed", "_events", "_handed", "_waiter")

    def __init__(self, acks: AckTracker | None) -> None:
        self._events: deque[E] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: ConnectionClosed | None = None
        self._acks = acks  # None: the caller acknowledges by itself
        self._handed: list[tuple[str, str]] = []  # (conv, mid or change id) handed out, not yet seen

    def __len__(self) -> int:
        return len(self._events)

    @property
    def closed(self) -> ConnectionClosed | None:
        return self._closed

    def put(self, event: E) -> None:
        self._events.append(event)
        self._wake()

    def close(self, error: ConnectionClosed) -> None:
        if self._closed is None:
            self._closed = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def note_seen(self) -> None:
        """The messages handed out so far count as seen: their acks fall due."""
        handed = self._handed
        if handed:
            self._handed = []
            if self._acks is not None:
                for conv, upto in handed:
                    self._acks.seen(conv, upto)

    async def _wait(self, timeout: float | None) -> None:
        while not self._events:
            if self._closed is not None:
                raise self._closed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout) if timeout else await self._waiter
            finally:
                self._waiter = None

    def _take(self) -> E:
        event = self._events.popleft()
        if self._acks is not None:
            if isinstance(event, Message):
                self._handed.append((event.conv, event.mid))
            elif isinstance(event, _CHANGES):
                self._handed.append((event.conv, event.id))
        return event

    async def get(self, timeout: float | None = None) -> E:
        """The next event; raises TimeoutError after `timeout` seconds (None
        or 0: wait for ever) and the close error once closed and empty."""
        self.note_seen()
        await self._wait(timeout)
        return self._take()

    async def get_batch(self, limit: int) -> list[E]:
        """Wait for one event, then take every event already queued, up to
        `limit`, without waiting: a burst becomes one batch."""
        self.note_seen()
        await self._wait(None)
        events = self._events
        return [self._take() for _ in range(min(limit, len(events)))]
