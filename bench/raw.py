"""The lean chinwag driver: the wire protocol (PROTOCOL.md) spoken directly
on an asyncio protocol, with the least work per message the protocol allows,
so that the load generator costs far less than the server and a comparison
measures the servers.

What it does per message, and nothing more: one msgpack map packed per
`send` (the frames of one loop turn leave in one write, as the real client's
do); per frame received one `unpackb` and a dict lookup: a reply goes to its
callback by `re`, a `message` event to the sink. Acks follow the real
client's policy (chinwag.protocol.inbox: the newest mid per conversation,
ACK_DELAY after the first falls due, at once when ACK_EVERY are due), so the
server does the same cursor work whichever driver runs. Server pings are
answered; anything else is ignored.

The bench's setup (registration) still uses the real client.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import msgpack

from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.frames import encode_frame
from chinwag.protocol.inbox import ACK_DELAY, ACK_EVERY
from chinwag.protocol.writer import FrameWriter

from .clients import HOST, PASSWORD
from .drivers import Conn, Reply, make_text

CLIENT_NAME = "chinwag-bench-raw/1"

_unpackb = msgpack.unpackb
_packb = msgpack.packb
_PONG = encode_frame({"type": "pong"})


class RawConn(Conn, asyncio.Protocol):
    """One connection. `request` (a future) is for setup; `send` is the hot
    path (a callback per reply, no future)."""

    def __init__(self, name: str, auto_ack: bool = True) -> None:
        Conn.__init__(self, name)
        self.auto_ack = auto_ack
        self.transport: asyncio.Transport | None = None
        self.writer: FrameWriter | None = None
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.ids = itertools.count(1)
        self.replies: dict[int, Reply] = {}
        self.futures: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.due: dict[str, str] = {}  # conv -> newest mid seen, not yet acked
        self.due_count = 0
        self.ack_timer: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[None] = self.loop.create_future()

    # --- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.writer = FrameWriter(self.transport, self.loop)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        size = len(buf)
        pos = 0
        while size - pos >= 4:
            end = pos + 4 + int.from_bytes(buf[pos : pos + 4], "big")
            if end > size:
                break
            frame = _unpackb(buf[pos + 4 : end], raw=False)
            pos = end
            re_id = frame.get("re")
            if re_id is not None:
                self._reply(re_id, frame)
                continue
            kind = frame.get("type")
            if kind == "message":
                self._message(frame)
            elif kind == "ping" and self.writer is not None:
                self.writer.write(_PONG)
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail()

    # --- replies and events ------------------------------------------------------

    def _reply(self, re_id: int, frame: dict[str, Any]) -> None:
        done = self.replies.pop(re_id, None)
        if done is not None:
            if frame.get("type") == "ok":
                done(frame["mid"], None)
            else:
                done(None, str(frame.get("code")))
            return
        future = self.futures.pop(re_id, None)
        if future is not None and not future.done():
            if frame.get("type") == "ok":
                future.set_result(frame)
            else:
                future.set_exception(RuntimeError(f"{self.name}: {frame.get('code')}: {frame.get('message')}"))

    def _message(self, frame: dict[str, Any]) -> None:
        self.heard += 1
        conv = frame["conv"]
        mid = frame["mid"]
        sink = self.sink
        if sink is not None:
            sink(conv, mid, frame["from"], frame["text"], frame.get("cmid") or "")
        if self.auto_ack:
            self.due[conv] = mid  # delivery is in order per conversation: the newest is the latest
            self.due_count += 1
            if self.due_count >= ACK_EVERY:
                self.flush_acks()
            elif self.ack_timer is None:
                self.ack_timer = self.loop.call_later(ACK_DELAY, self.flush_acks)

    def flush_acks(self) -> None:
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None
        due, self.due = self.due, {}
        self.due_count = 0
        if self.closed:
            return
        for conv, mid in due.items():
            self._write(_packb({"type": "ack", "conv": conv, "upto": mid}))
        self._acks += len(due)

    def _fail(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None
        replies, self.replies = self.replies, {}
        for done in replies.values():
            done(None, "closed")
        for future in self.futures.values():
            if not future.done():
                future.set_exception(ConnectionClosed(f"{self.name}: connection closed"))
        self.futures.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    # --- writing -------------------------------------------------------------------

    def _write(self, body: bytes) -> None:
        """One frame, from its packed map."""
        assert self.writer is not None
        self.writer.write(len(body).to_bytes(4, "big") + body)

    def send(self, to: str, stamp: int, cmid: str, done: Reply, written: int | None = None) -> bool:
        if self.closed:
            return False
        req_id = next(self.ids)
        self.replies[req_id] = done
        text = make_text(stamp, written=written)
        self._write(_packb({"type": "send", "id": req_id, "to": to, "text": text, "cmid": cmid}))
        return True

    async def request(self, kind: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        if self.closed:
            raise ConnectionClosed(f"{self.name}: connection closed")
        req_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.futures[req_id] = future
        self._write(_packb({"type": kind, "id": req_id, **fields}))
        return await asyncio.wait_for(future, timeout)

    async def join(self, room: str) -> None:
        await self.request("join", room=room)

    async def close(self) -> None:
        if self.transport is None or self.closed:
            return
        self.flush_acks()
        assert self.writer is not None
        self.writer.flush()
        self.transport.close()
        await asyncio.wait_for(asyncio.shield(self.lost), 5)


async def open_raw(port: int, name: str, auto_ack: bool = True, password: str = PASSWORD) -> RawConn:
    """Connect, `hello`, `login` as `name`."""
    loop = asyncio.get_running_loop()
    conn = RawConn(name, auto_ack)
    await asyncio.wait_for(loop.create_connection(lambda: conn, HOST, port), 30)
    try:
        await conn.request("hello", version=1, client=CLIENT_NAME)
        await conn.request("login", username=name, password=password)
    except BaseException:
        if conn.transport is not None:
            conn.transport.close()
        raise
    return conn
