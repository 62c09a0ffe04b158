"""A client that stays connected: reconnects with exponential backoff and
jitter, resumes with its token, re-sends unacknowledged sends with the same
`cmid` (so each is stored exactly once), dedupes messages by (conv, mid)
across reconnects, and reports its connection state as events.

The TUI and bots use this; tests and benchmarks that want to see every
disconnect use `ChatClient` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .client import CLIENT_NAME, AckTracker, ChatClient, Sent, Session
from .errors import ConnectionClosed, ErrorCode, ServerError
from .messages import Address, ByeEvent, Event, Message, User

State = Literal["connecting", "connected", "reconnecting", "catching_up", "closed"]
_DEDUPE_PER_CONV = 2_000


@dataclass(frozen=True, slots=True)
class ConnectionStateEvent:
    """The link's state: `retry_in` seconds until the next attempt while
    reconnecting; `pending` messages being caught up after a resume."""

    state: State
    retry_in: float | None = None
    detail: str = ""
    pending: int = 0


@dataclass(slots=True)
class _Outgoing:
    to: str
    text: str
    cmid: str
    future: asyncio.Future[Sent]


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    ceiling = min(cap, base * (2 ** attempt))
    return ceiling / 2 + rand() * ceiling / 2


class ReconnectingClient:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7878,
        *,
        tls: Any = None,
        ca: str | None = None,
        client_name: str = CLIENT_NAME,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.host, self.port = host, port
        self._client_args = {"tls": tls, "ca": ca, "client_name": client_name, "auto_ack": False}
        self.backoff_base, self.backoff_cap, self._rand = backoff_base, backoff_cap, rand
        self.client: ChatClient | None = None
        self.session: Session | None = None
        self.state: State = "connecting"
        self._password: tuple[str, str] | None = None
        self._events: deque[Event | ConnectionStateEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._seen: dict[str, OrderedDict[str, None]] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._last_seen: Message | None = None
        self._acks = AckTracker(self._send_ack)

    # --- life cycle ---------------------------------------------------------------

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None

    @property
    def max_text(self) -> int:
        return self.client.max_text if self.client else 4000

    async def start(self, *, username: str | None = None, password: str | None = None,
                    token: str | None = None) -> Session:
        """First connection and login; errors propagate so a login form can show
        them (`ConnectionClosed` if unreachable, `ServerError` otherwise)."""
        if username is not None and password is not None:
            self._password = (username, password)
        self._set_state("connecting")
        session = await self._open(token)
        self._tasks = [asyncio.get_running_loop().create_task(self._supervise()),
                       asyncio.get_running_loop().create_task(self._send_loop())]
        return session

    async def _open(self, token: str | None) -> Session:
        client = ChatClient(self.host, self.port, **self._client_args)
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
        self._connected.set()
        self._outbox_wakeup.set()
        return session

    def _caught_up(self, future: asyncio.Future[Any]) -> None:
        # The ping's reply comes after every replayed message: the catch-up is queued.
        if not future.cancelled() and future.exception() is None:
            self._set_state("connected")

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.client is not None:
            self._note_seen()
            self._acks.flush()
            await self.client.close()
        self._acks.cancel()
        for item in self._outbox:
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
                    if isinstance(event, ByeEvent) and event.reason == "logout":
                        self._push(event)
                        self._set_state("closed", detail="logged out")
                        self._closing = True
                        return
                    self._push(event)
            except ConnectionClosed as exc:
                if self._closing:
                    return
                self._connected.clear()
                detail = exc.reason
            await self._reconnect(detail)

    async def _reconnect(self, detail: str) -> None:
        attempt = 0
        while not self._closing:
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rand)
            self._set_state("reconnecting", retry_in=delay, detail=detail)
            await asyncio.sleep(delay)
            self._set_state("connecting")
            try:
                token = self.session.token if self.session else None
                await self._open(token)
                return
            except ServerError as exc:
                if exc.code == ErrorCode.BAD_CREDENTIALS:
                    self._set_state("closed", detail="your session has expired; log in again")
                    self._closing = True
                    return
                detail = exc.message
            except (ConnectionClosed, OSError) as exc:
                detail = str(exc)
            attempt += 1

    # --- events ---------------------------------------------------------------------

    def _set_state(self, state: State, *, retry_in: float | None = None, detail: str = "",
                   pending: int = 0) -> None:
        self.state = state
        self._push(ConnectionStateEvent(state, retry_in, detail, pending))

    def _push(self, event: Event | ConnectionStateEvent) -> None:
        if type(event) is Message:
            seen = self._seen.setdefault(event.conv, OrderedDict())
            if event.mid in seen:
                return
            seen[event.mid] = None
            if len(seen) > _DEDUPE_PER_CONV:
                seen.popitem(last=False)
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_event(self, timeout: float | None = None) -> Event | ConnectionStateEvent:
        """The next event or state change; a message counts as seen (and is
        acknowledged) once the caller asks for the one after it."""
        self._note_seen()
        while not self._events:
            if self._closing and self.state == "closed":
                raise ConnectionClosed("client closed")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout) if timeout else await self._waiter
            finally:
                self._waiter = None
        event = self._events.popleft()
        if type(event) is Message:
            self._last_seen = event
        return event

    def _note_seen(self) -> None:
        seen = self._last_seen
        if seen is not None:
            self._last_seen = None
            self._acks.seen(seen)

    def _send_ack(self, conv: str, mid: str) -> None:
        """Acks go to whichever connection is live; one due while reconnecting
        is dropped, which only means that message may be replayed again."""
        client = self.client
        if client is not None and client.connected:
            with contextlib.suppress(ConnectionClosed):
                client.ack(conv, mid)

    # --- sending ------------------------------------------------------------------------

    def send_nowait(self, to: str, text: str, cmid: str | None = None) -> tuple[str, asyncio.Future[Sent]]:
        """Queue a message; returns its cmid and the future of its `ok`. Sent
        in order, and again with the same cmid after a reconnect, until the
        server accepts or refuses it."""
        cmid = cmid or uuid.uuid4().hex
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        self._outbox.append(_Outgoing(to, text, cmid, future))
        self._outbox_wakeup.set()
        return cmid, future

    async def send(self, to: str, text: str, cmid: str | None = None) -> Sent:
        return await self.send_nowait(to, text, cmid)[1]

    def pending_sends(self) -> int:
        return len(self._outbox)

    async def _send_loop(self) -> None:
        outbox = self._outbox
        while not self._closing:
            if not outbox:
                self._outbox_wakeup.clear()
                await self._outbox_wakeup.wait()
                continue
            await self._connected.wait()
            item = outbox[0]
            client = self.client
            assert client is not None
            try:
                sent = await client.send(item.to, item.text, item.cmid)
            except ConnectionClosed:
                if self.client is client:  # the supervisor has not reconnected yet
                    self._connected.clear()
                await self._connected.wait()
                continue  # the same item again, with the same cmid
            except ServerError as exc:
                if exc.code == ErrorCode.RATE_LIMITED:
                    await asyncio.sleep(float(exc.retry_after or 1.0))
                    continue
                outbox.popleft()
                if not item.future.done():
                    item.future.set_exception(exc)
                continue
            outbox.popleft()
            if not item.future.done():
                item.future.set_result(sent)

    # --- other requests (fail fast while disconnected) ----------------------------------------

    def _live(self) -> ChatClient:
        client = self.client
        if client is None or not client.connected:
            raise ConnectionClosed("not connected; reconnecting")
        return client

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        return await self._live().request(kind, **fields)

    async def who(self) -> list[User]:
        return await self._live().who()

    async def users(self, prefix: str | None = None, limit: int | None = None) -> list[User]:
        return await self._live().users(prefix, limit)

    async def history(self, conv: str, before: str | None = None,
                      limit: int | None = None) -> tuple[list[Message], bool]:
        return await self._live().history(conv, before, limit)

    async def join(self, room: str) -> dict[str, Any]:
        return await self._live().join(room)

    async def leave(self, room: str) -> None:
        await self._live().leave(room)

    async def rooms(self) -> list[dict[str, Any]]:
        return await self._live().rooms()

    async def conversations(self) -> list[tuple[str, Message | None]]:
        return await self._live().conversations()

    def pending_events(self) -> int:
        """Events queued and not yet taken with next_event()."""
        return len(self._events)

    def typing(self, to: str | Address) -> None:
        client = self.client
        if client is not None and client.connected:
            with contextlib.suppress(ConnectionClosed):
                client.typing(to)
