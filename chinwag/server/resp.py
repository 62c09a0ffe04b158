"""A lean Redis connection for the batched write path.

redis-py's pipeline spent more server CPU per message than the rest of the
message path together (encoding every argument through its Encoder, a
timeout context per reply read). The batch path only ever sends a list of
commands and waits for as many replies, so this connection packs RESP by
hand, writes a batch in one call, and parses replies with hiredis. It is
used on a single Redis; a cluster keeps redis-py, which routes by slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis


class RespError(Exception):
    """Redis cannot be reached, or the connection broke mid-batch."""


def pack(command: Sequence[Any]) -> bytes:
    """One command in RESP, an array of bulk strings (hiredis does it in C)."""
    return hiredis.pack_command(tuple(command))


class _Batch:
    __slots__ = ("future", "remaining", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future, self.remaining, self.replies = future, count, []


class _Wire(asyncio.Protocol):
    def __init__(self, owner: RespConnection) -> None:
        self.owner = owner
        self.reader = hiredis.Reader(encoding="utf-8", errors="surrogateescape")

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        batches = self.owner._batches  # noqa: SLF001
        while (reply := reader.gets()) is not False:
            batch = batches[0]
            batch.replies.append(reply)
            batch.remaining -= 1
            if batch.remaining == 0:
                batches.popleft()
                if not batch.future.done():
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.owner._wire is self:  # noqa: SLF001  (not an old, replaced connection)
            self.owner._lost(RespError(f"connection to Redis lost ({exc or 'closed'})"))  # noqa: SLF001


class RespConnection:
    """Batches of commands over one connection, replies in order. Replies
    that are Redis errors come back as `hiredis.ReplyError` values in the
    list; a broken connection fails the whole batch with `RespError`, and the
    next batch reconnects."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._wire: _Wire | None = None
        self._batches: deque[_Batch] = deque()
        self._connecting: asyncio.Future[None] | None = None

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        parsed = urlparse(self.url)
        try:
            if parsed.scheme == "unix":
                transport, wire = await asyncio.wait_for(
                    loop.create_unix_connection(lambda: _Wire(self), parsed.path), self.timeout)
            else:
                transport, wire = await asyncio.wait_for(
                    loop.create_connection(lambda: _Wire(self), parsed.hostname or "127.0.0.1",
                                           parsed.port or 6379), self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RespError(f"cannot reach Redis ({exc or 'timed out'})") from None
        self._transport, self._wire = transport, wire  # type: ignore[assignment]
        setup: list[list[Any]] = []
        if parsed.password:
            setup.append(["AUTH", *([unquote(parsed.username)] if parsed.username else []),
                          unquote(parsed.password)])
        db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
        if db and db != "0":
            setup.append(["SELECT", db])
        if setup:
            for reply in await self._send(setup):
                if isinstance(reply, hiredis.ReplyError):
                    self.close()
                    raise RespError(f"Redis refused the connection set-up: {reply}")

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        if self._transport is None or self._transport.is_closing():
            if self._connecting is None:
                self._connecting = asyncio.ensure_future(self._connect())
            try:
                await asyncio.shield(self._connecting)
            finally:
                self._connecting = None
        return await self._send(commands)

    def _send(self, commands: Sequence[Sequence[Any]]) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not commands:
            future.set_result([])
            return future
        transport = self._transport
        if transport is None or transport.is_closing():  # lost between connecting and now
            future.set_exception(RespError("connection to Redis lost"))
            return future
        self._batches.append(_Batch(future, len(commands)))
        transport.write(b"".join(pack(c) for c in commands))
        handle = loop.call_later(self.timeout, self._expire, future)
        future.add_done_callback(lambda _: handle.cancel())
        return future

    def _expire(self, future: asyncio.Future[list[Any]]) -> None:
        if not future.done():  # Redis stopped answering: start over on a new connection
            self._lost(RespError(f"Redis did not answer within {self.timeout:g} s"))
            self.close()

    def _lost(self, error: RespError) -> None:
        self._transport, self._wire = None, None
        batches, self._batches = self._batches, deque()
        for batch in batches:
            if not batch.future.done():
                batch.future.set_exception(error)

    def close(self) -> None:
        transport, self._transport, self._wire = self._transport, None, None
        if transport is not None:
            transport.abort()
