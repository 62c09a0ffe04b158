"""A loopback TCP relay between real clients and a real server that decodes
the frames passing through, so a test can see what a client had on the wire
at once, hold the server's answers back, cut a connection, or slip in a
frame of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from chinwag.protocol.frames import FrameDecoder, encode_frame


class _Leg:
    """One client connection through the relay."""

    def __init__(self, relay: Relay, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.relay = relay
        self.client = client
        self.server = server
        self.open = asyncio.Event()  # set: the server's bytes go through; clear: held
        self.open.set()
        self.held: list[bytes] = []
        self.held_frames = FrameDecoder(1 << 24)
        self.tasks: list[asyncio.Task[None]] = []

    async def up(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder(1 << 24)
        while data := await reader.read(65_536):
            self.relay.from_clients.extend(decoder.feed(data))
            self.server.write(data)

    async def down(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65_536):
            if not self.open.is_set():
                self.held.append(data)
                self.relay.held_replies += len(self.held_frames.feed(data))
                continue
            for chunk in self.held:
                self.client.write(chunk)
            self.held.clear()
            self.client.write(data)

    def release(self) -> None:
        self.open.set()
        for chunk in self.held:
            self.client.write(chunk)
        self.held.clear()

    def cut(self) -> None:
        """Close both sides; what was held is never delivered."""
        self.held.clear()
        for task in self.tasks:
            task.cancel()
        self.client.transport.abort()
        self.server.transport.abort()


class Relay:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.from_clients: list[dict[str, Any]] = []  # every frame clients sent, in order
        self.held_replies = 0  # frames from the server held back so far
        self.legs: list[_Leg] = []
        self.hold_new = False  # hold the server's bytes on connections made from now
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for leg in self.legs:
            leg.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        leg = _Leg(self, writer, up_writer)
        if self.hold_new:
            leg.open.clear()
        self.legs.append(leg)
        leg.tasks = [asyncio.create_task(leg.up(reader)), asyncio.create_task(leg.down(up_reader))]
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await asyncio.gather(*leg.tasks)
        writer.close()
        up_writer.close()

    @property
    def leg(self) -> _Leg:
        """The newest connection."""
        return self.legs[-1]

    def hold(self) -> None:
        self.leg.open.clear()

    def inject(self, frame: dict[str, Any]) -> None:
        """Send `frame` to the newest client as if the server had."""
        self.leg.client.write(encode_frame(frame))

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.from_clients if f.get("type") == kind]

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        """Poll until `predicate()` holds; fail after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)
