"""Shared fixtures: a real Redis (started with the server's own embedded
locator), real servers on ephemeral loopback ports, and the real client."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis

from .support.raw import RawClient
from .support.settings import PASSWORD, fast_settings

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


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app a test makes keeps its outbox (lines not yet sent) under a
    throwaway `$XDG_DATA_HOME`, never in the home directory of whoever runs the tests."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


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


ServerFactory = Callable[..., Awaitable[ChatServer]]


@pytest.fixture
async def make_server(clean_redis: str) -> AsyncIterator[ServerFactory]:
    servers: list[ChatServer] = []

    async def factory(**overrides: Any) -> ChatServer:
        server = ChatServer(fast_settings(**overrides), clean_redis)
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


RawFactory = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def raw(server: ChatServer) -> AsyncIterator[RawFactory]:
    """Open a raw connection to the default server (or `to=` another one);
    says hello unless `hello=False`. The default is the `server` of the
    test's directory: tests/search has its own, with an index."""
    opened: list[RawClient] = []

    async def factory(to: ChatServer | None = None, *, hello: bool = True) -> RawClient:
        client = await RawClient.open((to or server).port)
        opened.append(client)
        if hello:
            await client.hello()
        return client

    yield factory
    for client in opened:
        client.close()
