"""Bounded polling, for state no request or event reports (a count inside
the server, a socket the kernel closes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chinwag.server.app import ChatServer

TIMEOUT = 5.0


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
