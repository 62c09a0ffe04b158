"""A real headless Chromium for the browser tests and `make screenshots`:
Debian's `chromium` package, driven through playwright's Python API with
`executable_path` (playwright's own browser downloads are never used).

The binary is installed on first use where that can be done without asking
anyone (root, with apt-get); elsewhere the caller is told how to install it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Route

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
    # the suite's worker processes (pytest-xdist) install one at a time: a
    # second apt-get would fail on dpkg's lock rather than wait for it
    with open(os.path.join(tempfile.gettempdir(), "chinwag-chromium-install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install()


def _install() -> str:
    if found := _installed():
        return found  # another worker installed it while this one waited
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


# The page draws the terminal on a canvas, so its DOM has no text: keep a copy
# of what the app sends down the websocket, to wait for a screen by its words.
TAP_OUTPUT = """
window.__screen = "";
const NativeWebSocket = window.WebSocket;
const decoder = new TextDecoder();
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        window.__screen += decoder.decode(new Uint8Array(event.data), { stream: true });
      }
    });
  }
};
"""
ESCAPES = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")


# After the last bytes came: xterm parses them (in a task of its own for a
# large write) and paints the canvas at an animation frame.
PAINTED = "() => new Promise((done) => setTimeout(() => requestAnimationFrame(() => requestAnimationFrame(done)), 0))"
TAKE_OUTPUT = "() => { const taken = window.__screen; window.__screen = ''; return taken; }"
SCREEN_TIMEOUT_S = 15.0
STYLE = re.compile(r"\x1b\[([0-9;]*)m")
BACKGROUND = re.compile(r"(?:^|;)48;2;(\d+;\d+;\d+)")


class Screen:
    """What the app has drawn so far: its words (escapes removed), and the
    background a piece of text was last drawn on.

    Waiting for words alone cannot tell when a key has moved the focus: the
    app reads keys faster than it acts on them, and letters typed right after
    a tab still reach the field it leaves. So a test types into a field only
    once the field is drawn focused (another background than a blurred one).
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.seen = 0  # where the last wait's match ended: later waits look after it
        self._raw = ""

    @classmethod
    async def tap(cls, page: Page) -> Screen:
        """Keep what the page's websocket brings, from its next load on."""
        await page.add_init_script(TAP_OUTPUT)
        return cls(page)

    async def raw(self) -> str:
        """Everything drawn so far (only what is new is fetched from the page)."""
        self._raw += str(await self.page.evaluate(TAKE_OUTPUT))
        return self._raw

    async def text(self) -> str:
        return ESCAPES.sub("", await self.raw())

    async def background(self, words: str, *, first: bool = False) -> str | None:
        """The background (`r;g;b`) of the last (or first) drawing of
        `words` as a run of its own, as the app draws a field's text (its
        first letter may be drawn apart, under the cursor); None if never."""
        raw = await self.raw()
        drawn = re.compile(f"({STYLE.pattern})({re.escape(words[0])})(?:{STYLE.pattern})*{re.escape(words[1:])}")
        runs = list(drawn.finditer(raw))
        for run in runs if first else reversed(runs):
            rest = raw[run.end(3) : run.end()]  # the style the text after the cursor is drawn in, if apart
            styles = STYLE.findall(rest) or [run.group(2)]
            found = BACKGROUND.search(styles[-1])
            if found:
                return found.group(1)
        return None

    async def wait_for(self, words: str | re.Pattern[str], timeout: float = SCREEN_TIMEOUT_S) -> None:
        """Until the app draws `words`, or text that `words` matches (after
        what earlier waits matched)."""
        pattern = words if isinstance(words, re.Pattern) else re.compile(re.escape(words))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = await self.text()
            if found := pattern.search(text, self.seen):
                self.seen = found.end()
                return
            if loop.time() > deadline:
                raise AssertionError(f"the page never showed {pattern.pattern!r}; it drew: {text[-3000:]!r}")
            await asyncio.sleep(0.05)

    async def painted(self) -> None:
        """Until what the page has received is on its canvas (before a screenshot)."""
        await self.page.evaluate(PAINTED)

    async def wait_for_focus(self, words: str, blurred: str, timeout: float = SCREEN_TIMEOUT_S) -> None:
        """Until the field showing `words` (its value or placeholder) is last
        drawn on another background than `blurred`, a blurred field's."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            mine = await self.background(words)
            if mine is not None and mine != blurred:
                return
            if loop.time() > deadline:
                raise AssertionError(
                    f"{words!r} was never drawn focused (last on {mine}, a blurred field's is {blurred})"
                )
            await asyncio.sleep(0.05)
