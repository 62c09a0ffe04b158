"""Coalesced frame writes for an asyncio transport.

Frames queued in one turn of the event loop go out in one `transport.write`,
so a burst of replies or a fan-out costs one syscall, not one per frame. Both
the server's connections and the client use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class FrameWriter:
    """`limit`/`on_overflow`: after each flush, if the transport still holds
    more than `limit` bytes the kernel would not take, the peer is not
    reading fast enough and `on_overflow()` is called. What one loop turn
    queues does not count: a burst of replies is not a slow reader."""

    __slots__ = ("_limit", "_loop", "_on_overflow", "_pending", "_pending_size", "_scheduled", "_transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        limit: int | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._scheduled = False
        self._limit = limit
        self._on_overflow = on_overflow

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
        transport = self._transport
        if not transport.is_closing():
            transport.write(data)
            if self._limit is not None and transport.get_write_buffer_size() > self._limit:
                assert self._on_overflow is not None
                self._on_overflow()
