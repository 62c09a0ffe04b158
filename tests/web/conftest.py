"""Fixtures for `chinwag web`: the real command as a child process
(tests/support/web.py) and a real headless Chromium (tests/support/browser.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ..support.browser import ChromiumUnavailable, chromium_path
from ..support.web import WebProcess, start_web, stop_web


@pytest.fixture
async def web() -> AsyncIterator[Callable[..., Awaitable[WebProcess]]]:
    started: list[WebProcess] = []

    async def factory(*args: str, **kwargs: Any) -> WebProcess:
        started.append(await start_web(*args, **kwargs))
        return started[-1]

    yield factory
    for web_process in started:
        await stop_web(web_process.proc)


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """Debian's chromium, installed on first use (as root, with apt-get);
    only where that cannot be done is the browser test skipped."""
    try:
        return chromium_path()
    except ChromiumUnavailable as exc:
        pytest.skip(str(exc))
