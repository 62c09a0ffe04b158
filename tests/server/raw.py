"""A tiny raw-socket chinwag client for tests that must send bytes the real
client never would (malformed frames, wrong field types, requests without
`id`) and see exactly what the server answers, frame by frame."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from chinwag.protocol.errors import FrameError
from chinwag.protocol.frames import FrameDecoder, encode_frame

TIMEOUT = 5.0


class Closed(Exception):
    """The server closed the connection."""


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(2**24)
        self.frames: list[dict[str, Any]] = []  # decoded, not yet returned
        self.eof = False
        self._ids = itertools.count(1000)

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
        return cls(reader, writer)

    # --- output --------------------------------------------------------------------

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, frame: dict[Any, Any]) -> None:
        await self.send_bytes(encode_frame(frame))

    def next_id(self) -> int:
        return next(self._ids)

    # --- input ---------------------------------------------------------------------

    async def _fill(self, timeout: float) -> None:
        """Read once more from the socket into the decoder."""
        if self.eof:
            raise Closed("connection closed by server")
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            raise Closed("connection closed by server")
        self.decoder.receive_data(data)
        try:
            while (frame := self.decoder.next_frame()) is not None:
                self.frames.append(frame)
        except FrameError as exc:  # the server must never send a bad frame
            raise AssertionError(f"server sent a bad frame: {exc}") from None

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame from the server (reply or event)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.frames:
            await self._fill(max(0.01, deadline - loop.time()))
        return self.frames.pop(0)

    async def reply(self, req_id: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The reply to request `req_id`; events before it are kept in `self.frames`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, frame in enumerate(self.frames):
                if frame.get("re") == req_id:
                    return self.frames.pop(i)
            await self._fill(max(0.01, deadline - loop.time()))

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a well-formed request and return its reply (ok or error)."""
        req_id = self.next_id()
        await self.send({"type": kind, "id": req_id, **fields})
        return await self.reply(req_id)

    async def hello(self) -> dict[str, Any]:
        reply = await self.request("hello", version=1, client="raw-test/0")
        assert reply["type"] == "ok", reply
        return reply

    async def login(self, username: str, password: str) -> dict[str, Any]:
        reply = await self.request("login", username=username, password=password)
        assert reply["type"] == "ok", reply
        return reply

    async def frames_until_closed(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every frame the server sends until it closes the connection; fails
        (TimeoutError) if the connection stays open for `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self._fill(max(0.01, deadline - loop.time()))
            except Closed:
                frames, self.frames = self.frames, []
                return frames

    async def quiet(self, period: float = 0.2) -> list[dict[str, Any]]:
        """Every frame that arrives until nothing comes for `period` seconds
        (the connection must stay open)."""
        while True:
            try:
                await self._fill(period)
            except (asyncio.TimeoutError, TimeoutError):
                frames, self.frames = self.frames, []
                return frames

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except Exception:  # noqa: BLE001 - already gone is fine
            pass
