"""Shared fixtures: a real Redis (started with the server's own embedded
locator), real servers on ephemeral loopback ports, and the real client."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Event, Message
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.settings import Settings

TEST_DEADLINE_S = 60


class TestHung(Exception):
    """A test ran far past any sane duration (a server or client hang)."""


@pytest.fixture(autouse=True)
def _hang_guard() -> Any:
    """Fail, rather than hang, a test that runs far past its budget: every
    await in the tests has its own timeout, this is the last line."""

    def _expired(signum: int, frame: Any) -> None:
        raise TestHung(f"test still running after {TEST_DEADLINE_S} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(TEST_DEADLINE_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): still real
# argon2id, but fast enough for a test suite.
FAST_ARGON2 = {"argon2_time_cost": 2, "argon2_memory_kib": 19_456, "argon2_parallelism": 1}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = asyncio.run(embedded.start())
    yield url
    asyncio.run(embedded.stop())


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    client = sync_redis.Redis.from_url(redis_url)
    client.flushall()
    client.script_flush()
    client.close()
    return redis_url


def test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "data_dir": Path("/nonexistent"),
                              **FAST_ARGON2}
    values.update(overrides)
    return Settings(**values)


ServerFactory = Callable[..., Awaitable[ChatServer]]


@pytest.fixture
async def make_server(clean_redis: str) -> AsyncIterator[ServerFactory]:
    servers: list[ChatServer] = []

    async def factory(**overrides: Any) -> ChatServer:
        server = ChatServer(test_settings(**overrides), clean_redis)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> ChatServer:
    return await make_server()


ClientFactory = Callable[..., Awaitable[ChatClient]]


@pytest.fixture
async def connect(server: ChatServer) -> AsyncIterator[ClientFactory]:
    """Connect (and say hello) to the default server, or to `to=` another one."""
    clients: list[ChatClient] = []

    async def factory(to: ChatServer | None = None, **kwargs: Any) -> ChatClient:
        target = to or server
        client = ChatClient("127.0.0.1", target.port, **kwargs)
        await client.connect()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


_names = itertools.count(1)


@pytest.fixture
async def user(connect: ClientFactory) -> Callable[..., Awaitable[ChatClient]]:
    """Register (if needed) and log in a user; returns the logged-in client."""
    registered: set[str] = set()

    async def factory(name: str | None = None, *, to: ChatServer | None = None, **kwargs: Any) -> ChatClient:
        name = name or f"user{next(_names)}"
        client = await connect(to, **kwargs)
        if name not in registered:
            await client.register(name, PASSWORD)
            registered.add(name)
        await client.login(name, PASSWORD)
        return client

    return factory


async def next_of(client: ChatClient, kind: type, timeout: float = 5.0) -> Any:
    """The next event of one type, skipping others (presence, member, ...)."""
    while True:
        event = await client.next_event(timeout=timeout)
        if isinstance(event, kind):
            return event


async def drain(client: ChatClient, quiet: float = 0.2) -> list[Event]:
    """Every event that arrives until the connection is quiet for `quiet` s."""
    events: list[Event] = []
    while True:
        try:
            events.append(await client.next_event(timeout=quiet))
        except (asyncio.TimeoutError, TimeoutError):
            return events


async def collect(client: ChatClient, count: int, timeout: float = 5.0,
                  conv: str | None = None) -> list[Message]:
    """Exactly the next `count` message events (of `conv`, if given)."""
    out: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(out) < count:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"only {len(out)} of {count} messages arrived")
        try:
            event = await client.next_event(timeout=left)
        except (asyncio.TimeoutError, TimeoutError):
            raise AssertionError(f"only {len(out)} of {count} messages arrived") from None
        if isinstance(event, Message) and (conv is None or event.conv == conv):
            out.append(event)
    return out
