"""Fixtures for the trust tests (reliability, security, hostile input), on
top of tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ..support.raw import RawClient

RawFactory = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def raw() -> AsyncIterator[RawFactory]:
    """Open raw connections (`await raw(port, rcvbuf=...)`); all closed at teardown."""
    opened: list[RawClient] = []

    async def factory(port: int, **kwargs: Any) -> RawClient:
        conn = await RawClient.open(port, **kwargs)
        opened.append(conn)
        return conn

    yield factory
    for conn in opened:
        conn.close()
