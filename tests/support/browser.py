"""A real headless Chromium for the browser tests and `make screenshots`:
Debian's `chromium` package, driven through playwright's Python API with
`executable_path` (playwright's own browser downloads are never used).

The binary is installed on first use where that can be done without asking
anyone (root, with apt-get); elsewhere the caller is told how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.async_api import Browser, Route

HOW_TO_INSTALL = "install Debian's chromium package (sudo apt-get install chromium) and run again"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
APT_TIMEOUT_S = 900  # one download of the package and its libraries, once per machine


class ChromiumUnavailable(Exception):
    """There is no chromium binary and this process may not install one."""


def _installed() -> str | None:
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
    )


def chromium_path() -> str:
    """The chromium binary, installing Debian's package when running as root
    with apt-get. Raises ChromiumUnavailable (with how to install it) only
    where no install can be tried; an install that was tried and failed is
    an error (RuntimeError), not a reason to skip."""
    if found := _installed():
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ChromiumUnavailable(f"no chromium binary, and not root with apt-get to install it: {HOW_TO_INSTALL}")
    result = _apt("install", "-y", "--no-install-recommends", "chromium")
    if result.returncode != 0:  # most often a stale or missing package list
        _apt("update")
        result = _apt("install", "-y", "--no-install-recommends", "chromium")
    if result.returncode != 0 or (found := _installed()) is None:
        raise RuntimeError(f"apt-get install chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return found


async def loopback_only(route: Route) -> None:
    """Let the page reach this machine only: anything else (a web font, say)
    is refused before it leaves."""
    host = urlsplit(route.request.url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        await route.continue_()
    else:
        await route.abort()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Debian Chromium under playwright (its async API: the tests
    and the screenshot script run in an event loop)."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    async with async_playwright() as p:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        browser = await p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()
