"""Fixtures for the server tests (on top of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chinwag.server.app import ChatServer

from ..support.raw import RawClient

RawFactory = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def raw(server: ChatServer) -> AsyncIterator[RawFactory]:
    """Open a raw connection to the default server (or `to=` another one);
    says hello unless `hello=False`."""
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
