"""A client that stays connected: reconnects with exponential backoff and
jitter, resumes with its token, re-sends unacknowledged sends with the same
`cmid` (so each is stored exactly once), dedupes messages by (conv, mid)
across reconnects, and reports its connection state as events.

Sends are pipelined: up to `SEND_WINDOW` are on the wire at once, written in
the order they were queued, so the server takes a burst in one round trip
(it handles a connection's requests in order). After a reconnect the ones
without an answer go again, in order, with their cmids; the server answers a
cmid it has stored with the original `mid`. A send refused as `rate_limited`
waits `retry_after` and goes again; from then until the outbox is empty the
outbox sends one at a time, so nothing behind a refused send overtakes it
once the server is refusing.

The TUI and bots use this; tests and benchmarks that want to see every
disconnect use `ChatClient` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from . import DEFAULT_PORT, limits
from .client import CLIENT_NAME, ChatClient, Requests, Sent, Session
from .errors import ConnectionClosed, ErrorCode, ServerError
from .inbox import AckTracker, Inbox
from .journal import PendingSend, SendJournal
from .messages import ByeEvent, DeletedEvent, EditedEvent, Event, Message, ReactionEvent, User

State = Literal["connecting", "connected", "reconnecting", "catching_up", "closed"]
_DEDUPE_PER_CONV = 2_000
_CHANGES = (EditedEvent, DeletedEvent, ReactionEvent)
SEND_WINDOW = 32  # sends on the wire at once; under the server's default burst (60)


@dataclass(frozen=True, slots=True)
class ConnectionStateEvent:
    """The link's state: `retry_in` seconds until the next attempt while
    reconnecting; `pending` messages being caught up after a resume."""

    state: State
    retry_in: float | None = None
    detail: str = ""
    pending: int = 0


LinkEvent = Event | ConnectionStateEvent


@dataclass(slots=True)
class _Outgoing:
    to: str
    text: str
    cmid: str
    future: asyncio.Future[Sent]
    reply: asyncio.Future[dict[str, Any]] | None = None  # the attempt on the wire now
    reply_to: str | None = None


# The longest wait between two reconnection attempts (before jitter halves
# part of it): long enough that a thousand clients of a restarted server do
# not all knock at once, short enough that nobody waits long for a server
# that is back. `retry_now()` skips the wait.
BACKOFF_CAP_S = 10.0


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    ceiling = min(cap, base * (2**attempt))
    return float(ceiling / 2 + rand() * ceiling / 2)


class ReconnectingClient(Requests):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        tls: Any = None,
        ca: str | None = None,
        client_name: str = CLIENT_NAME,
        backoff_base: float = 0.5,
        backoff_cap: float = BACKOFF_CAP_S,
        rand: Callable[[], float] = random.random,
        send_window: int = SEND_WINDOW,
        features: Sequence[str] = (),
        journal: SendJournal | None = None,
    ) -> None:
        self.host, self.port = host, port
        # Sends not yet answered, on disk: queued again at `start` (see journal.py).
        self.journal = journal
        self.restored: list[tuple[PendingSend, asyncio.Future[Sent]]] = []
        self._journal_loaded = False
        self._features = tuple(features)
        self._tls, self._ca, self._client_name = tls, ca, client_name
        self.backoff_base, self.backoff_cap, self._rand = backoff_base, backoff_cap, rand
        self.send_window = send_window
        self.client: ChatClient | None = None
        self.session: Session | None = None
        self.state: State = "connecting"
        self._password: tuple[str, str] | None = None
        self._acks = AckTracker(self._send_ack)
        self._inbox: Inbox[LinkEvent] = Inbox(self._acks)
        self._seen: dict[str, OrderedDict[str, None]] = {}
        self._outbox: dict[int, _Outgoing] = {}  # in the order queued
        self._serial = itertools.count()
        self._in_flight = 0
        self._paused: asyncio.TimerHandle | None = None  # waiting out a rate_limited
        self._one_at_a_time = False
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()  # set by retry_now: end the backoff wait

    def _new_client(self) -> ChatClient:
        return ChatClient(
            self.host,
            self.port,
            tls=self._tls,
            ca=self._ca,
            client_name=self._client_name,
            auto_ack=False,
            features=self._features,
        )

    @property
    def features(self) -> frozenset[str]:
        """The extensions in effect on the live connection (empty while disconnected)."""
        return self.client.features if self.client is not None else frozenset()

    # --- life cycle ---------------------------------------------------------------

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None

    @property
    def max_text(self) -> int:
        return self.client.max_text if self.client else limits.DEFAULT_MAX_TEXT

    @property
    def registration(self) -> str:
        """The live connection's server's registration policy ("open" while disconnected)."""
        return self.client.registration if self.client else "open"

    async def register(
        self, username: str, password: str, display_name: str | None = None, invite: str | None = None
    ) -> User:
        """Create the account on a connection of its own (`register` does not
        log in; `start` does). `invite`: the invitation code, on a server whose
        `registration` is "invite"."""
        client = self._new_client()
        try:
            await client.connect()
            return await client.register(username, password, display_name, invite)
        finally:
            await client.close()

    async def start(
        self, *, username: str | None = None, password: str | None = None, token: str | None = None
    ) -> Session:
        """First connection and login; errors propagate so a login form can show
        them (`ConnectionClosed` if unreachable, `ServerError` otherwise)."""
        if username is not None and password is not None:
            self._password = (username, password)
        self._restore()
        self._set_state("connecting")
        session = await self._open(token)
        self._task = asyncio.get_running_loop().create_task(self._supervise())
        return session

    def _restore(self) -> None:
        """Queue the journal's sends from before, first and in their order,
        with their cmids (once, whatever number of times `start` is tried)."""
        if self.journal is None or self._journal_loaded:
            return
        self._journal_loaded = True
        loop = asyncio.get_running_loop()
        for entry in self.journal.load():
            future: asyncio.Future[Sent] = loop.create_future()
            self._outbox[next(self._serial)] = _Outgoing(
                entry.to, entry.text, entry.cmid, future, reply_to=entry.reply_to
            )
            self.restored.append((entry, future))

    async def _open(self, token: str | None) -> Session:
        client = self._new_client()
        try:
            await client.connect()
            if token is not None:
                try:
                    session = await client.resume(token)
                except ServerError as exc:
                    if exc.code != ErrorCode.BAD_CREDENTIALS or self._password is None:
                        raise
                    session = await client.login(*self._password)
            elif self._password is not None:
                session = await client.login(*self._password)
            else:
                raise ValueError("start() needs a token or a username and password")
        except BaseException:
            await client.close()
            raise
        self.client, self.session = client, session
        pending = sum(session.unread.values())
        if pending:
            self._set_state("catching_up", pending=pending)
        client.request_nowait("ping").add_done_callback(self._caught_up)
        for item in self._outbox.values():
            item.reply = None  # answers from the old connection will not come
        self._in_flight = 0
        self._pump_sends()
        return session

    def _caught_up(self, future: asyncio.Future[Any]) -> None:
        # The ping's reply comes after every replayed message: the catch-up is queued.
        if not future.cancelled() and future.exception() is None:
            self._set_state("connected")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._paused is not None:
            self._paused.cancel()
        if self.client is not None:
            self._inbox.note_seen()
            self._acks.flush()
            await self.client.close()
        self._acks.cancel()
        if self.journal is not None:
            self.journal.close()  # what is pending stays on disk for the next start
        outbox, self._outbox = self._outbox, {}
        for item in outbox.values():
            if not item.future.done():
                item.future.set_exception(ConnectionClosed("client closed"))
        self._set_state("closed")

    async def logout(self) -> None:
        if self.client is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.client.logout()
        await self.close()

    async def _supervise(self) -> None:
        """Pump events from the live connection; on loss, reconnect with backoff."""
        while not self._closing:
            client = self.client
            assert client is not None
            try:
                while True:
                    event = await client.next_event()
                    self._push(event)
                    if isinstance(event, ByeEvent) and event.reason == "logout":
                        self._closing = True
                        self._set_state("closed", detail="logged out")
                        return
            except ConnectionClosed as exc:
                if self._closing:
                    return
                detail = exc.reason
            await self._reconnect(detail)

    async def _reconnect(self, detail: str) -> None:
        attempt = 0
        while not self._closing:
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rand)
            self._set_state("reconnecting", retry_in=delay, detail=detail)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._set_state("connecting")
            try:
                token = self.session.token if self.session else None
                await self._open(token)
                return
            except ServerError as exc:
                if exc.code == ErrorCode.BAD_CREDENTIALS:
                    self._closing = True
                    self._set_state("closed", detail="your session has expired; log in again")
                    return
                detail = exc.message
            except (ConnectionClosed, OSError) as exc:
                detail = str(exc)
            attempt += 1

    def retry_now(self) -> bool:
        """Try to reconnect at once instead of waiting out the backoff (a
        user's "retry" key). False if the client is not waiting to retry."""
        if self.state != "reconnecting":
            return False
        self._wake.set()
        return True

    # --- events ---------------------------------------------------------------------

    def _set_state(self, state: State, *, retry_in: float | None = None, detail: str = "", pending: int = 0) -> None:
        self.state = state
        self._push(ConnectionStateEvent(state, retry_in, detail, pending))
        if state == "closed":
            self._inbox.close(ConnectionClosed("client closed"))

    def _push(self, event: LinkEvent) -> None:
        # Messages and changes share one order (a change's id is a stream id
        # like a mid), so one record per conversation dedupes both.
        key = event.mid if type(event) is Message else event.id if isinstance(event, _CHANGES) else None
        if key is not None:
            assert isinstance(event, (Message, *_CHANGES))
            seen = self._seen.setdefault(event.conv, OrderedDict())
            if key in seen:
                return
            seen[key] = None
            if len(seen) > _DEDUPE_PER_CONV:
                seen.popitem(last=False)
        self._inbox.put(event)

    async def next_event(self, timeout: float | None = None) -> LinkEvent:
        """The next event or state change; a message counts as seen (and is
        acknowledged) once the caller asks for the one after it."""
        return await self._inbox.get(timeout)

    async def next_batch(self, limit: int) -> list[LinkEvent]:
        """The next event and every one queued behind it, up to `limit`: a
        burst becomes one batch. Raises ConnectionClosed once closed."""
        return await self._inbox.get_batch(limit)

    def pending_events(self) -> int:
        """Events queued and not yet taken with next_event()."""
        return len(self._inbox)

    def _send_ack(self, conv: str, mid: str) -> None:
        """Acks go to whichever connection is live; one due while reconnecting
        is dropped, which only means that message may be replayed again."""
        client = self.client
        if client is not None and client.connected:
            with contextlib.suppress(ConnectionClosed):
                client.ack(conv, mid)

    # --- sending ------------------------------------------------------------------------

    def send_nowait(
        self, to: str, text: str, cmid: str | None = None, reply_to: str | None = None
    ) -> tuple[str, asyncio.Future[Sent]]:
        """Queue a message; returns its cmid and the future of its `ok`. Sent
        in order, and again with the same cmid after a reconnect, until the
        server accepts or refuses it."""
        cmid = cmid or uuid.uuid4().hex
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        if self.journal is not None:
            self.journal.add(PendingSend(cmid, to, text, reply_to, time.time()))
        self._outbox[next(self._serial)] = _Outgoing(to, text, cmid, future, reply_to=reply_to)
        self._pump_sends()
        return cmid, future

    async def send(self, to: str, text: str, cmid: str | None = None, reply_to: str | None = None) -> Sent:
        return await self.send_nowait(to, text, cmid, reply_to)[1]

    def read(self, conv: str, upto: str) -> None:
        """`read`: move the read marker; dropped while disconnected (the next
        one carries it, since markers only move forward)."""
        client = self.client
        if client is not None and client.connected:
            with contextlib.suppress(ConnectionClosed):
                client.read(conv, upto)

    def pending_sends(self) -> int:
        """Sends queued and not yet answered."""
        return len(self._outbox)

    def _pump_sends(self) -> None:
        """Put queued sends on the wire, in order, up to the window."""
        client = self.client
        if self._closing or self._paused is not None or client is None or not client.connected:
            return
        window = 1 if self._one_at_a_time else self.send_window
        for serial, item in self._outbox.items():
            if self._in_flight >= window:
                return
            if item.reply is not None:
                continue
            try:
                reply = client.send_nowait(item.to, item.text, item.cmid, item.reply_to)
            except ConnectionClosed:
                return  # the supervisor reconnects, then this runs again
            item.reply = reply
            self._in_flight += 1
            reply.add_done_callback(functools.partial(self._answered, serial, item))

    def _answered(self, serial: int, item: _Outgoing, reply: asyncio.Future[dict[str, Any]]) -> None:
        if item.reply is not reply:
            return  # an attempt on a connection that is gone; it was sent again
        item.reply = None
        self._in_flight -= 1
        error = None if reply.cancelled() else reply.exception()
        if isinstance(error, ConnectionClosed) or reply.cancelled():
            return  # sent again, with its cmid, once reconnected
        if isinstance(error, ServerError) and error.code == ErrorCode.RATE_LIMITED:
            self._one_at_a_time = True
            if self._paused is None:
                self._paused = asyncio.get_running_loop().call_later(float(error.retry_after or 1.0), self._unpause)
            return
        if self._outbox.pop(serial, None) is None:
            return  # closed meanwhile: the caller has its ConnectionClosed
        if self.journal is not None:
            self.journal.done(item.cmid)  # answered for good: accepted or refused
        if not item.future.done():
            if error is None:
                try:
                    item.future.set_result(Sent.from_reply(reply.result()))
                except (KeyError, TypeError, ValueError) as exc:
                    item.future.set_exception(ServerError(f"malformed reply to send: {exc!r}"))
            else:
                item.future.set_exception(error)
        if not self._outbox:
            self._one_at_a_time = False
        self._pump_sends()

    def _unpause(self) -> None:
        self._paused = None
        self._pump_sends()

    # --- other requests (fail fast while disconnected) ----------------------------------------

    def _live(self) -> ChatClient:
        client = self.client
        if client is None or not client.connected:
            raise ConnectionClosed("not connected; reconnecting")
        return client

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        return await self._live().request(kind, **fields)

    def typing(self, to: str) -> None:
        """Tell the conversation you are typing; dropped while disconnected."""
        client = self.client
        if client is not None and client.connected:
            with contextlib.suppress(ConnectionClosed):
                client.typing(to)
