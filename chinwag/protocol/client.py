"""The headless asyncio chinwag client used by the TUI, the tests, the
benchmarks and any bot.

Requests are awaitables that return the `ok` fields or raise `ServerError`
with the server's code; events come from `next_event()` / `async for`.
Messages are acknowledged automatically once the caller has seen them: a
message counts as seen when the caller asks for the next event, and acks are
sent coalesced (the newest `mid` per conversation) `ACK_DELAY` seconds after
the first one falls due, or at once when `ACK_EVERY` are due, and on close.
Acks cost the server a cursor write each, so a chatty conversation is
acknowledged a few times a second, not once per message.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl as ssl_module
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from . import PROTOCOL_VERSION, DEFAULT_PORT
from .errors import ConnectionClosed, FrameError, ServerError
from .frames import DEFAULT_MAX_FRAME, FrameDecoder, encode_frame
from .messages import Address, Event, Message, User, parse_event
from .writer import FrameWriter

ACK_EVERY = 64
ACK_DELAY = 0.1
CLIENT_NAME = "chinwag-py/0.1"


@dataclass(frozen=True, slots=True)
class Session:
    """What `login` and `resume` return."""

    user: User
    token: str
    unread: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sent:
    mid: str
    ts: int
    conv: str


def make_ssl_context(tls: bool | ssl_module.SSLContext | None, ca: str | None) -> ssl_module.SSLContext | None:
    """The client-side TLS context: None for plain TCP, the system trust store
    (plus `ca` if given) for `tls=True`, or a context the caller built."""
    if isinstance(tls, ssl_module.SSLContext):
        return tls
    if not tls and ca is None:
        return None
    context = ssl_module.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=ca)
    return context


class AckTracker:
    """Coalesces acknowledgements: the newest mid per conversation, sent by
    `send(conv, mid)` ACK_DELAY after the first falls due, or at once when
    ACK_EVERY are due. Shared by ChatClient and ReconnectingClient."""

    __slots__ = ("_send", "_due", "_count", "_timer")

    def __init__(self, send: Callable[[str, str], None]) -> None:
        self._send = send
        self._due: dict[str, str] = {}
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def seen(self, message: Message) -> None:
        self._due[message.conv] = message.mid
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


class _Wire(asyncio.Protocol):
    """Transport callbacks, turned into calls on the client."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._connection_made(transport)  # noqa: SLF001

    def data_received(self, data: bytes) -> None:
        self.client._data_received(data)  # noqa: SLF001

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._connection_lost(exc)  # noqa: SLF001


class ChatClient:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        tls: bool | ssl_module.SSLContext | None = None,
        ca: str | None = None,
        client_name: str = CLIENT_NAME,
        auto_ack: bool = True,
        max_frame: int = DEFAULT_MAX_FRAME,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.client_name = client_name
        self.auto_ack = auto_ack
        self.connect_timeout = connect_timeout
        self._ssl = make_ssl_context(tls, ca)
        self._max_frame = max_frame
        self._decoder = FrameDecoder(max_frame)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: deque[Event] = deque()
        self._event_waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._writer: FrameWriter | None = None
        self._closed: ConnectionClosed | None = None
        self._seen: Message | None = None
        self._acks = AckTracker(self._send_ack)
        self.server_info: dict[str, Any] = {}
        self.session: Session | None = None

    # --- connection --------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._closed is None

    @property
    def max_text(self) -> int:
        return int(self.server_info.get("max_text", 4000))

    async def connect(self) -> dict[str, Any]:
        """Open the connection and say hello; returns the server's hello reply."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Wire(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                ),
                self.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectionClosed(f"cannot reach {self.host}:{self.port} ({exc or 'timed out'})") from exc
        self.server_info = await self.request(
            "hello", version=PROTOCOL_VERSION, client=self.client_name
        )
        max_frame = self.server_info.get("max_frame")
        if type(max_frame) is int and max_frame > 0:
            self._max_frame = max_frame
        return self.server_info

    async def close(self) -> None:
        """Send any due acks and close the connection."""
        if self._transport is None:
            return
        if self._closed is None:
            self._note_seen()
            self._acks.flush()
            if self._writer is not None:
                self._writer.flush()
        self._transport.close()
        self._fail(ConnectionClosed("closed by client"))

    async def __aenter__(self) -> ChatClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._writer = FrameWriter(transport, asyncio.get_running_loop())

    def _data_received(self, data: bytes) -> None:
        decoder = self._decoder
        decoder.receive_data(data)
        try:
            while (frame := decoder.next_frame()) is not None:
                self._dispatch(frame)
        except FrameError as exc:
            self._fail(ConnectionClosed(f"server sent a bad frame: {exc.message}"))
            if self._transport is not None:
                self._transport.close()

    def _connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionClosed(f"connection lost ({exc})" if exc else "connection closed by server"))

    def _fail(self, error: ConnectionClosed) -> None:
        if self._closed is not None:
            return
        self._closed = error
        self._acks.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._wake()

    def _dispatch(self, frame: dict[str, Any]) -> None:
        re_id = frame.get("re")
        if re_id is not None:
            future = self._pending.pop(re_id, None)
            if future is not None and not future.done():
                if frame.get("type") == "error":
                    future.set_exception(ServerError(
                        str(frame.get("message", "")), str(frame.get("code", "internal")),
                        retry_after=frame.get("retry_after"),
                    ))
                else:
                    future.set_result(frame)
            return
        kind = frame.get("type")
        if kind == "ping":
            self._send({"type": "pong"})
            return
        try:
            event = parse_event(frame)
        except Exception:
            return  # an event this client cannot read is skipped, not fatal
        if event is not None:
            self._events.append(event)
            self._wake()

    def _wake(self) -> None:
        waiter = self._event_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _send(self, frame: dict[str, Any]) -> None:
        if self._closed is not None:
            raise self._closed
        assert self._writer is not None, "connect() first"
        self._writer.write(encode_frame(frame))

    # --- requests ------------------------------------------------------------

    def request_nowait(self, kind: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        """Send a request and return the future of its reply (for pipelining)."""
        if self._closed is not None:
            raise self._closed
        req_id = next(self._ids)
        frame = {"type": kind, "id": req_id}
        frame.update({k: v for k, v in fields.items() if v is not None})
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        self._send(frame)
        return future

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one request; return the `ok` frame or raise `ServerError`."""
        return await self.request_nowait(kind, **fields)

    async def register(self, username: str, password: str, display_name: str | None = None) -> User:
        reply = await self.request("register", username=username, password=password,
                                   display_name=display_name)
        return User.from_wire(reply["user"])

    async def login(self, username: str, password: str) -> Session:
        return self._session(await self.request("login", username=username, password=password))

    async def resume(self, token: str) -> Session:
        return self._session(await self.request("resume", token=token))

    def _session(self, reply: dict[str, Any]) -> Session:
        unread = reply.get("unread") or {}
        self.session = Session(User.from_wire(reply["user"]), str(reply["token"]), dict(unread))
        return self.session

    async def logout(self) -> None:
        await self.request("logout")

    async def who(self) -> list[User]:
        return [User.from_wire(u) for u in (await self.request("who"))["users"]]

    async def users(self, prefix: str | None = None, limit: int | None = None) -> list[User]:
        reply = await self.request("users", prefix=prefix, limit=limit)
        return [User.from_wire(u) for u in reply["users"]]

    async def send(self, to: str, text: str, cmid: str | None = None) -> Sent:
        reply = await self.request("send", to=to, text=text, cmid=cmid)
        return Sent(reply["mid"], reply["ts"], reply["conv"])

    async def history(self, conv: str, before: str | None = None,
                      limit: int | None = None) -> tuple[list[Message], bool]:
        reply = await self.request("history", conv=conv, before=before, limit=limit)
        return [Message.from_wire(m) for m in reply["messages"]], bool(reply.get("more"))

    async def join(self, room: str) -> dict[str, Any]:
        return (await self.request("join", room=room))["room"]

    async def leave(self, room: str) -> None:
        await self.request("leave", room=room)

    async def rooms(self) -> list[dict[str, Any]]:
        return list((await self.request("rooms"))["rooms"])

    async def ping(self) -> None:
        await self.request("ping")

    async def conversations(self) -> list[tuple[str, Message | None]]:
        """(address, newest message) for each of the user's conversations,
        newest first. A chinwag extension: other servers answer unknown_type."""
        reply = await self.request("conversations")
        return [(c["conv"], Message.from_wire({**c["last"], "type": "message"}) if c.get("last") else None)
                for c in reply["conversations"]]

    def typing(self, to: str | Address) -> None:
        self._send({"type": "typing", "to": str(to)})

    def ack(self, conv: str, mid: str) -> None:
        """Acknowledge everything in `conv` up to `mid`, now."""
        self._send_ack(conv, mid)

    def flush_acks(self) -> None:
        """Send the acks that are due now rather than after ACK_DELAY."""
        self._note_seen()
        self._acks.flush()

    # --- events and acks ---------------------------------------------------------

    def _send_ack(self, conv: str, mid: str) -> None:
        if self._closed is None:
            self._send({"type": "ack", "conv": conv, "upto": mid})

    def _note_seen(self) -> None:
        seen = self._seen
        if seen is not None:
            self._seen = None
            self._acks.seen(seen)

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next event; raises `ConnectionClosed` once the connection is gone
        and every event that came before has been returned."""
        if self.auto_ack:
            self._note_seen()
        while not self._events:
            if self._closed is not None:
                raise self._closed
            self._event_waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._event_waiter, timeout) if timeout else await self._event_waiter
            finally:
                self._event_waiter = None
        event = self._events.popleft()
        if self.auto_ack and type(event) is Message:
            self._seen = event
        return event

    def pending_events(self) -> int:
        return len(self._events)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            try:
                event = await self.next_event()
            except ConnectionClosed:
                return
            yield event
