"""Fixtures and helpers for the server tests (on top of tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ServerError
from chinwag.protocol.messages import Message
from chinwag.server.app import ChatServer

from ..conftest import collect  # noqa: F401  (re-exported for the server tests)
from ..conftest import drain as _drain
from .raw import RawClient

QUIET = 0.1  # seconds of silence that count as "nothing more is coming" on loopback



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
        await client.close()


async def error_of(awaitable: Awaitable[Any], code: str) -> ServerError:
    """Await a request that must fail with `code`; returns the error."""
    try:
        result = await asyncio.wait_for(awaitable, 5)
    except ServerError as exc:
        assert exc.code == code, f"expected {code}, got {exc.code}: {exc.message}"
        assert isinstance(exc.message, str) and exc.message, "error without a human message"
        return exc
    raise AssertionError(f"expected error {code}, got ok: {result!r}")


async def drain(client: ChatClient, quiet: float = QUIET) -> list[Any]:
    """Every event until the connection is quiet (a shorter default than the
    shared helper's: the server is in-process on loopback)."""
    return await _drain(client, quiet)


async def messages(client: ChatClient, quiet: float = 0.15) -> list[Message]:
    """The message events that arrive until the connection is quiet."""
    return [e for e in await drain(client, quiet) if isinstance(e, Message)]




async def full_history(client: ChatClient, conv: str, page: int = 200) -> list[Message]:
    """Every message of `conv`, oldest first, by paging with `before`."""
    pages: list[list[Message]] = []
    before = None
    while True:
        batch, more = await client.history(conv, before=before, limit=page)
        pages.append(batch)
        if not more or not batch:
            break
        before = batch[0].mid
    return [m for batch in reversed(pages) for m in batch]

