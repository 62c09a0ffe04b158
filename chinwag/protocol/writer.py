"""Coalesced frame writes for an asyncio transport.

Frames queued in one turn of the event loop go out in one `transport.write`,
so a burst of replies or a fan-out costs one syscall, not one per frame. Both
the server's connections and the client use it.
"""

from __future__ import annotations

import asyncio


class FrameWriter:
    __slots__ = ("_transport", "_loop", "_pending", "_pending_size", "_scheduled")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._scheduled = False

    @property
    def backlog(self) -> int:
        """Bytes not yet handed to the kernel: queued here plus the transport's buffer."""
        return self._pending_size + self._transport.get_write_buffer_size()

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        self._pending_size = 0
        if not self._transport.is_closing():
            self._transport.write(data)
