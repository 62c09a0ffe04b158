"""A raw-socket chinwag client for tests that must send what the real client
never would (malformed frames, wrong field types, requests without `id`,
bytes dribbled one at a time) or read what the server sends frame by frame,
or not read at all.

Two ways to drive the socket, chosen when it is opened:

- the default, a bare non-blocking socket used through `loop.sock_*`:
  nothing reads from it unless the test asks, so a test can stop reading and
  let the server's queue grow (with `rcvbuf=` shrinking the window);
- `streams=True`, asyncio streams: the transport reads in the background
  into the stream's buffer (until its limit), as an ordinary client does.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Protocol

from chinwag.protocol.errors import FrameError
from chinwag.protocol.frames import FrameDecoder, encode_frame

from .settings import PASSWORD

TIMEOUT = 5.0
FIRST_ID = 1000  # above the small ids tests write into hand-made frames


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class _Wire(Protocol):
    @property
    def sock(self) -> socket.socket: ...
    async def send(self, data: bytes, timeout: float) -> None: ...
    async def recv(self, timeout: float) -> bytes: ...
    def close(self) -> None: ...


class _SocketWire:
    """A bare socket: read only when asked."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    async def send(self, data: bytes, timeout: float) -> None:
        await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(self.sock, data), timeout)

    async def recv(self, timeout: float) -> bytes:
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 1 << 20), timeout)

    def close(self) -> None:
        self.sock.close()


class _StreamWire:
    """asyncio streams: the transport reads in the background."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @property
    def sock(self) -> socket.socket:
        return self.writer.get_extra_info("socket")

    async def send(self, data: bytes, timeout: float) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), timeout)

    async def recv(self, timeout: float) -> bytes:
        return await asyncio.wait_for(self.reader.read(65536), timeout)

    def close(self) -> None:
        self.writer.close()


class RawClient:
    """Frames in and out of one connection; `frames` holds what was decoded
    and not yet returned. `eof`, `reset` and `received` (bytes) say what the
    server did to the connection."""

    def __init__(self, wire: _Wire) -> None:
        self.wire = wire
        self.decoder = FrameDecoder(2**24)
        self.frames: list[dict[str, Any]] = []
        self.eof = False
        self.reset = False
        self.received = 0
        self._next_id = FIRST_ID

    @classmethod
    async def open(
        cls, port: int, *, host: str = "127.0.0.1", rcvbuf: int | None = None, streams: bool = False
    ) -> RawClient:
        """Connect to `host:port`; `rcvbuf` sets SO_RCVBUF before connecting
        (so it shrinks the TCP window)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), TIMEOUT)
        except BaseException:
            sock.close()
            raise
        return await cls.wrap(sock, streams=streams)

    @classmethod
    async def wrap(cls, sock: socket.socket, *, streams: bool = False) -> RawClient:
        """A client on a socket the test connected itself (bound to another
        loopback address, say)."""
        if not streams:
            sock.setblocking(False)
            return cls(_SocketWire(sock))
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(_StreamWire(reader, writer))

    @property
    def sock(self) -> socket.socket:
        """The socket itself, for a test that drives it directly."""
        return self.wire.sock

    # --- output -----------------------------------------------------------------

    async def send_bytes(self, data: bytes, timeout: float = TIMEOUT) -> None:
        await self.wire.send(data, timeout)

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
        self._next_id += 1
        return self._next_id - 1

    # --- input ------------------------------------------------------------------

    async def _fill(self, timeout: float) -> None:
        """Read once more from the socket into the decoder."""
        if self.eof:
            raise Closed("connection closed by server")
        try:
            data = await self.wire.recv(max(0.01, timeout))
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
        except FrameError as exc:  # the server must never send a bad frame
            raise AssertionError(f"the server sent a bad frame: {exc}") from None

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame from the server (reply or event)."""
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
        """Send a well-formed request and return its reply (ok or error)."""
        req_id = self.next_id()
        await self.send({"type": kind, "id": req_id, **fields})
        return await self.reply(req_id, timeout)

    async def ok(self, kind: str, **fields: Any) -> dict[str, Any]:
        reply = await self.request(kind, **fields)
        assert reply["type"] == "ok", reply
        return reply

    async def hello(self) -> dict[str, Any]:
        return await self.ok("hello", version=1, client="raw-test/0")

    async def register(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        return await self.ok("register", username=username, password=password)

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        return await self.ok("login", username=username, password=password)

    async def barrier(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Ping and wait for its `ok`; returns (and takes) every frame that
        came before it. The server answers a connection's requests in order
        and writes its frames in order, so nothing the server had queued for
        this connection when it read the ping is still to come."""
        req_id = self.next_id()
        await self.send({"type": "ping", "id": req_id})
        reply = await self.reply(req_id, timeout)
        assert reply == {"type": "ok", "re": req_id}, reply
        frames, self.frames = self.frames, []
        return frames

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
        """Frames until nothing arrives for `period` s (the connection stays
        open). For what a ping cannot prove: frames the server sends on its
        own clock, or from another node."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            try:
                await self._fill(period)
            except TimeoutError:
                break
        frames, self.frames = self.frames, []
        return frames

    def close(self) -> None:
        self.wire.close()
