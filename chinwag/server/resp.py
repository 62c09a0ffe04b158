"""A lean Redis connection for the batched write path.

redis-py's pipeline spent more server CPU per message than the rest of the
message path together (encoding every argument through its Encoder, a
timeout context per reply read). The batch path only ever sends a list of
commands and waits for as many replies, so this connection packs RESP by
hand, writes a batch in one call, and parses replies with hiredis. It is
used on a single Redis; a cluster keeps redis-py, which routes by slot.

Why a reply can never answer the wrong request: each socket (a `_Wire`)
keeps the queue of the batches written on it, and its replies are matched
only against that queue, in order. A wire that fails for any reason (Redis
did not answer in time, closed, sent a reply nobody asked for or bytes that
are not RESP) fails every batch still queued on it, aborts its socket and
ignores whatever else arrives on it; the next batch opens a new wire, which
must answer PING before any command is written to it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlparse

import hiredis


class RespError(Exception):
    """Redis cannot be reached, or the connection broke or timed out mid-batch.

    `replies` holds the replies that did arrive for the batch, in order (a
    prefix of it): commands past them may or may not have been applied."""

    def __init__(self, message: str, replies: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.replies = list(replies)


def pack(command: Sequence[Any]) -> bytes:
    """One command in RESP, an array of bulk strings (hiredis does it in C)."""
    packed: bytes = hiredis.pack_command(tuple(command))
    return packed


P = TypeVar("P", bound=asyncio.Protocol)


async def _open(factory: Callable[[], P], url: str, timeout: float) -> P:
    """A socket to the Redis at `url` (redis:// or unix://), within `timeout`."""
    loop = asyncio.get_running_loop()
    parsed = urlparse(url)
    try:
        if parsed.scheme == "unix":
            opening = loop.create_unix_connection(factory, parsed.path)
        else:
            opening = loop.create_connection(factory, parsed.hostname or "127.0.0.1", parsed.port or 6379)
        _, protocol = await asyncio.wait_for(opening, timeout)
    except (OSError, TimeoutError) as exc:
        raise RespError(f"cannot reach Redis ({exc or 'timed out'})") from None
    return protocol


def _setup(url: str) -> list[list[Any]]:
    """The commands a new connection sends first: AUTH and SELECT, as the URL says."""
    parsed = urlparse(url)
    setup: list[list[Any]] = []
    if parsed.password:
        setup.append(["AUTH", *([unquote(parsed.username)] if parsed.username else []), unquote(parsed.password)])
    db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
    if db and db != "0":
        setup.append(["SELECT", db])
    return setup


class _Batch:
    __slots__ = ("future", "remaining", "replies", "timer")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future, self.remaining = future, count
        self.replies: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None


class _Wire(asyncio.Protocol):
    """One socket to Redis and the batches written on it, oldest first.
    Once `error` is set the wire is dead for good: nothing more is written
    to it or read from it."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8", errors="surrogateescape")
        self.transport: asyncio.Transport | None = None
        self.pending: deque[_Batch] = deque()
        self.error: RespError | None = None

    # --- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's has the methods but is not a subclass)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.error is not None:
            return  # a dead wire: late replies belong to nobody
        reader, pending = self.reader, self.pending
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                if not pending:
                    self.fail(RespError("Redis sent a reply to no request"))
                    return
                batch = pending[0]
                batch.replies.append(reply)
                batch.remaining -= 1
                if batch.remaining == 0:
                    pending.popleft()
                    if batch.timer is not None:
                        batch.timer.cancel()
                    if not batch.future.done():
                        batch.future.set_result(batch.replies)
        except hiredis.ProtocolError as exc:
            self.fail(RespError(f"Redis sent bytes that are not RESP ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RespError(f"connection to Redis lost ({exc or 'closed'})"))

    # --- use -------------------------------------------------------------------------

    def send(self, commands: Sequence[Sequence[Any]], timeout: float) -> asyncio.Future[list[Any]]:
        """Write one batch; its future gets exactly len(commands) replies, or
        a RespError if they do not all arrive within `timeout`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not commands:
            future.set_result([])
            return future
        if self.error is not None or self.transport is None or self.transport.is_closing():
            future.set_exception(self.error or RespError("connection to Redis lost"))
            return future
        batch = _Batch(future, len(commands))
        self.pending.append(batch)
        self.transport.write(b"".join(pack(c) for c in commands))
        batch.timer = loop.call_later(max(timeout, 0.0), self._expire, batch, timeout)
        return future

    def _expire(self, batch: _Batch, timeout: float) -> None:
        if not batch.future.done():  # Redis stopped answering: this socket is done for
            self.fail(RespError(f"Redis did not answer within {timeout:g} s"))

    def fail(self, error: RespError) -> None:
        """Kill the wire: abort the socket (so nothing more is read from it)
        and fail every batch still waiting on it."""
        if self.error is not None:
            return
        self.error = error
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()
        pending, self.pending = self.pending, deque()
        for batch in pending:
            if batch.timer is not None:
                batch.timer.cancel()
            if not batch.future.done():
                batch.future.set_exception(RespError(str(error), batch.replies))


class RespConnection:
    """Batches of commands over one connection, replies in order. Replies
    that are Redis errors come back as `hiredis.ReplyError` values in the
    list; a broken, silent or garbled connection fails its batches with
    `RespError`, and the next batch reconnects.

    Every `execute` ends within `timeout` seconds, connecting included."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._wire: _Wire | None = None
        self._connecting: asyncio.Task[_Wire] | None = None
        self._closed = False

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        wire = self._wire
        if wire is None or wire.error is not None:
            wire = await self._connected(deadline)
        return await wire.send(commands, deadline - loop.time())

    async def _connected(self, deadline: float) -> _Wire:
        """The current wire, or a new one that has answered PING; one
        connection attempt at a time, shared by every batch that waits."""
        if self._closed:
            raise RespError("the connection to Redis is closed")
        task = self._connecting
        if task is None:
            task = self._connecting = asyncio.ensure_future(self._connect())
            task.add_done_callback(self._connect_done)
        left = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(task), max(left, 0.0))
        except TimeoutError:
            raise RespError(f"Redis did not answer within {self.timeout:g} s (connecting)") from None

    def _connect_done(self, task: asyncio.Task[_Wire]) -> None:
        if self._connecting is task:
            self._connecting = None
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so never "never retrieved"
        if error is None:
            if self._closed:
                task.result().fail(RespError("the connection to Redis is closed"))
            else:
                self._wire = task.result()

    async def _connect(self) -> _Wire:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        wire = await _open(_Wire, self.url, self.timeout)
        setup = [*_setup(self.url), ["PING"]]  # no command is written to a Redis that has not just answered
        try:
            replies = await wire.send(setup, deadline - loop.time())
        except BaseException:
            wire.fail(RespError("connection set-up did not finish"))
            raise
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                wire.fail(RespError(f"Redis refused the connection set-up: {reply}"))
                raise RespError(f"Redis refused the connection set-up: {reply}")
        return wire

    def close(self) -> None:
        """Abort the connection for good; batches still waiting fail with
        RespError (a connection attempt under way is failed as it ends, not
        cancelled, so no waiter sees a CancelledError it did not ask for)."""
        self._closed = True
        wire, self._wire = self._wire, None
        if wire is not None:
            wire.fail(RespError("the connection to Redis is closed"))


class _Subscribed(asyncio.Protocol):
    """A socket subscribed to one channel. Each message's payload goes to
    `on_message` from `data_received` itself: no task is woken and no reply
    object built per message. `ended` gets the RespError that ended it."""

    def __init__(self, on_message: Callable[[bytes], None]) -> None:
        self.reader = hiredis.Reader()  # payloads stay bytes
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[RespError] = loop.create_future()
        self.setup_left = 0  # replies to AUTH/SELECT still to come, before the subscription's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.ended.done():
            return
        reader = self.reader
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    self.end(RespError(f"Redis refused the subscription: {reply}"))
                    return
                if self.setup_left:
                    self.setup_left -= 1
                elif isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                    self.on_message(reply[2])
                elif isinstance(reply, list) and reply and reply[0] == b"subscribe":
                    if not self.subscribed.done():
                        self.subscribed.set_result(None)
                else:
                    self.end(RespError(f"Redis sent a reply a subscription does not expect: {reply!r:.100}"))
                    return
        except hiredis.ProtocolError as exc:
            self.end(RespError(f"Redis sent bytes that are not RESP ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.end(RespError(f"subscription to Redis lost ({exc or 'closed'})"))

    def end(self, error: RespError) -> None:
        if self.ended.done():
            return
        self.ended.set_result(error)
        if not self.subscribed.done():
            self.subscribed.set_exception(error)
            self.subscribed.exception()  # retrieved: the opener awaits it, or has given up
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()


class RespSubscription:
    """A subscription to one channel on a connection of its own, for the
    node bus on a single Redis. redis-py's `get_message` cost a task wake-up
    and a reply parse in Python per bus message, and every node reads its
    own events back; here a message reaches `on_message` straight from the
    socket's callback. It does not reconnect by itself: `wait` ends when the
    subscription does, and the caller subscribes again (and knows that what
    was published meanwhile was missed)."""

    def __init__(self, subscribed: _Subscribed) -> None:
        self._subscribed = subscribed

    @classmethod
    async def open(
        cls, url: str, channel: str, on_message: Callable[[bytes], None], timeout: float = 5.0
    ) -> RespSubscription:
        """Subscribed once Redis confirms it, within `timeout`; else RespError."""
        protocol = await _open(lambda: _Subscribed(on_message), url, timeout)
        setup = _setup(url)
        protocol.setup_left = len(setup)
        assert protocol.transport is not None  # (connection_made ran inside the open)
        protocol.transport.write(b"".join(pack(c) for c in [*setup, ["SUBSCRIBE", channel]]))
        try:
            await asyncio.wait_for(asyncio.shield(protocol.subscribed), timeout)
        except TimeoutError:
            protocol.end(RespError(f"Redis did not confirm the subscription within {timeout:g} s"))
            raise protocol.ended.result() from None
        except BaseException:
            protocol.end(RespError("subscription set-up did not finish"))
            raise
        return cls(protocol)

    async def wait(self) -> RespError:
        """Until the subscription ends: the reason."""
        return await asyncio.shield(self._subscribed.ended)

    def close(self) -> None:
        self._subscribed.end(RespError("the subscription is closed"))
