"""The load generator's clients: the real `ChatClient`, counting its acks,
and bulk registration and login."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ServerError

HOST = "127.0.0.1"
PASSWORD = "bench-password-1"


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def bounded_gather(items: Iterable[Any], fn: Callable[[Any], Awaitable[Any]], concurrency: int) -> list[Any]:
    """`fn(item)` for every item, at most `concurrency` at a time; results
    (or the exception raised) in input order."""
    sem = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with sem:
            try:
                return await fn(item)
            except Exception as exc:  # reported by the caller, never fatal here
                return exc

    return await asyncio.gather(*(one(i) for i in items))


async def register_users(
    port: int, names: Sequence[str], connections: int = 8, window: int = 16, timeout: float = 300.0
) -> tuple[int, float]:
    """Register `names` (password PASSWORD) over a few unauthenticated
    connections, pipelining `window` requests each; returns (registered,
    seconds). A name that exists already counts as registered."""
    t0 = time.monotonic()
    slices = [list(names[i::connections]) for i in range(connections)]

    async def run(part: list[str]) -> int:
        done = 0
        async with ChatClient(HOST, port) as client:
            for start in range(0, len(part), window):
                futures = [
                    client.request_nowait("register", username=n, password=PASSWORD)
                    for n in part[start : start + window]
                ]
                for result in await asyncio.gather(*futures, return_exceptions=True):
                    if not isinstance(result, Exception) or (
                        isinstance(result, ServerError) and result.code == "user_exists"
                    ):
                        done += 1
                    else:
                        raise result
        return done

    counts = await asyncio.wait_for(asyncio.gather(*(run(p) for p in slices if p)), timeout)
    return sum(counts), time.monotonic() - t0


class BenchClient(ChatClient):
    """The real client, counting the acks it sends (the server does one
    cursor update per ack frame, so they are part of the cost of a message)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acks_sent = 0

    def _send(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "ack":
            self.acks_sent += 1
        super()._send(frame)


async def login_client(port: int, username: str, auto_ack: bool = True) -> BenchClient:
    client = BenchClient(HOST, port, connect_timeout=30, auto_ack=auto_ack)
    await client.connect()
    await client.login(username, PASSWORD)
    return client


def user_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]
