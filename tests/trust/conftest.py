"""Helpers for the trust tests (reliability, security, hostile input), on top
of tests/conftest.py: a raw socket client that can misbehave on purpose, a
hang guard, and small bounded waiting helpers."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chinwag.protocol.errors import FrameError, ServerError
from chinwag.protocol.frames import FrameDecoder, encode_frame
from chinwag.server.app import ChatServer

from ..conftest import PASSWORD, collect  # noqa: F401  (re-exported for the trust tests)

TIMEOUT = 5.0


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class RawConn:
    """A chinwag connection on a bare non-blocking socket, driven with
    `loop.sock_*`: nothing reads from the socket unless the test asks, so it
    can stop reading, send garbage, or dribble bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = FrameDecoder(2**24)
        self.frames: list[dict[str, Any]] = []
        self.eof = False
        self.reset = False
        self.received = 0
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, port: int, *, rcvbuf: int | None = None, host: str = "127.0.0.1") -> RawConn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # must be set before connect to shrink the window
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), TIMEOUT)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    # --- output -----------------------------------------------------------------

    async def send_bytes(self, data: bytes, timeout: float = TIMEOUT) -> None:
        await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(self.sock, data), timeout)

    async def try_send_bytes(self, data: bytes, timeout: float = TIMEOUT) -> bool:
        """Send, tolerating a server that already closed; False if it had."""
        try:
            await self.send_bytes(data, timeout)
        except (ConnectionError, OSError):
            return False
        return True

    async def send(self, frame: dict[Any, Any]) -> None:
        await self.send_bytes(encode_frame(frame))

    def next_id(self) -> int:
        return next(self._ids)

    # --- input ------------------------------------------------------------------

    async def _fill(self, timeout: float) -> None:
        if self.eof:
            raise Closed("connection closed by server")
        loop = asyncio.get_running_loop()
        try:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), max(0.01, timeout))
        except (ConnectionResetError, BrokenPipeError):
            self.reset = True
            data = b""
        if not data:
            self.eof = True
            raise Closed("connection closed by server")
        self.received += len(data)
        self.decoder.receive_data(data)
        try:
            while (frame := self.decoder.next_frame()) is not None:
                self.frames.append(frame)
        except FrameError as exc:
            raise AssertionError(f"the server sent a bad frame: {exc}") from None

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.frames:
            await self._fill(deadline - loop.time())
        return self.frames.pop(0)

    async def reply(self, req_id: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The reply to `req_id`; frames before it stay in `self.frames`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, frame in enumerate(self.frames):
                if frame.get("re") == req_id:
                    return self.frames.pop(i)
            await self._fill(deadline - loop.time())

    async def request(self, kind: str, timeout: float = TIMEOUT, **fields: Any) -> dict[str, Any]:
        req_id = self.next_id()
        await self.send({"type": kind, "id": req_id, **fields})
        return await self.reply(req_id, timeout)

    async def hello(self) -> dict[str, Any]:
        reply = await self.request("hello", version=1, client="trust-raw/0")
        assert reply["type"] == "ok", reply
        return reply

    async def register(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        reply = await self.request("register", username=username, password=password)
        assert reply["type"] == "ok", reply
        return reply

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        reply = await self.request("login", username=username, password=password)
        assert reply["type"] == "ok", reply
        return reply

    async def until_closed(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every frame until the server closes; TimeoutError if it stays open."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"connection still open after {timeout} s")
            try:
                await self._fill(left)
            except Closed:
                frames, self.frames = self.frames, []
                return frames

    async def quiet(self, period: float = 0.2, limit: float = TIMEOUT) -> list[dict[str, Any]]:
        """Frames until nothing arrives for `period` s (the connection stays open)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            try:
                await self._fill(period)
            except (asyncio.TimeoutError, TimeoutError):
                break
        frames, self.frames = self.frames, []
        return frames

    def close(self) -> None:
        self.sock.close()


RawFactory = Callable[..., Awaitable[RawConn]]


@pytest.fixture
async def raw() -> AsyncIterator[RawFactory]:
    """Open raw connections (`await raw(port, rcvbuf=...)`); all closed at teardown."""
    opened: list[RawConn] = []

    async def factory(port: int, **kwargs: Any) -> RawConn:
        conn = await RawConn.open(port, **kwargs)
        opened.append(conn)
        return conn

    yield factory
    for conn in opened:
        conn.close()


async def error_of(awaitable: Awaitable[Any], code: str, timeout: float = TIMEOUT) -> ServerError:
    """Await a request that must fail with `code`; returns the error."""
    try:
        result = await asyncio.wait_for(awaitable, timeout)
    except ServerError as exc:
        assert exc.code == code, f"expected {code}, got {exc.code}: {exc.message}"
        assert isinstance(exc.message, str) and exc.message, "an error without a human message"
        return exc
    raise AssertionError(f"expected error {code}, got ok: {result!r}")




async def eventually(predicate: Callable[[], bool], timeout: float = TIMEOUT, step: float = 0.02) -> bool:
    """Poll `predicate` until true or `timeout`; returns its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            return predicate()
        await asyncio.sleep(step)
    return True


def live_connections(server: ChatServer) -> int:
    return len(server.connections)
