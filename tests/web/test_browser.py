"""`chinwag web` in a real headless Chromium: register and log in through the
TUI in the page with the keyboard, talk with a terminal-side client both
ways, and take a screenshot."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.server.app import ChatServer

from ..support.browser import chromium, loopback_only
from ..support.events import next_of
from ..support.settings import PASSWORD
from .conftest import WebProcess, stop_web

if TYPE_CHECKING:
    from playwright.async_api import Page

VIEWPORT = {"width": 1200, "height": 760}
SCREEN_TIMEOUT_S = 15.0

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


class Screen:
    """What the app has drawn so far, escapes removed."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.seen = 0  # where the last wait's match ended: later waits look after it

    async def text(self) -> str:
        return ESCAPES.sub("", await self.page.evaluate("window.__screen"))

    async def wait_for(self, words: str, timeout: float = SCREEN_TIMEOUT_S) -> None:
        """Until the app draws `words` (after what earlier waits matched)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = await self.text()
            at = text.find(words, self.seen)
            if at >= 0:
                self.seen = at + len(words)
                return
            if loop.time() > deadline:
                raise AssertionError(f"the page never showed {words!r}; it drew: {text[-3000:]!r}")
            await asyncio.sleep(0.05)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_register_log_in_and_talk_with_a_terminal_client(
    web: Callable[..., Awaitable[WebProcess]],
    server: ChatServer,
    user: Callable[..., Awaitable[ChatClient]],
    chromium_binary: str,
    tmp_path: Path,
) -> None:
    config_home, temp = tmp_path / "config", tmp_path / "tmp"
    temp.mkdir()
    served = await web(
        "--server", f"127.0.0.1:{server.port}", env={"XDG_CONFIG_HOME": str(config_home), "TMPDIR": str(temp)}
    )
    bob = await user("bob")  # the terminal side: the real client over TCP
    refused: list[str] = []

    async def only_this_machine(route: Any) -> None:
        if not route.request.url.startswith(served.url):
            refused.append(route.request.url)
        await loopback_only(route)

    async with chromium() as browser:
        page = await browser.new_page(viewport=VIEWPORT)
        await page.route("**/*", only_this_machine)
        await page.add_init_script(TAP_OUTPUT)
        await page.goto(served.url)
        screen = Screen(page)
        await screen.wait_for("registers")  # the login screen's hint: "new here? ctrl+r registers"
        await page.click("#terminal")  # the keyboard goes to the terminal

        await page.keyboard.press("Control+r")
        await screen.wait_for("the same password")  # the register screen's last field
        # The app reads keys faster than it moves the focus (a focus change is
        # queued behind keys already read), so each field waits for the app to
        # draw the one before it done, and the next one focused.
        await page.keyboard.type("alice")
        await screen.wait_for("alice")
        await page.keyboard.press("Tab")
        await screen.wait_for("display name (optional)")  # focused: it is optional, so on
        await page.keyboard.press("Tab")
        await screen.wait_for("a password")
        await page.keyboard.type(PASSWORD)
        await screen.wait_for("•" * len(PASSWORD))
        await page.keyboard.press("Tab")
        await screen.wait_for("the same password")
        await page.keyboard.type(PASSWORD)
        await screen.wait_for("•" * len(PASSWORD))
        await page.keyboard.press("Enter")  # registers, then logs in
        await screen.wait_for("lobby")

        await page.keyboard.type("hello from a browser tab")
        await page.keyboard.press("Enter")
        got = await next_of(bob, Message, timeout=SCREEN_TIMEOUT_S)
        assert (got.sender, got.conv, got.text) == ("alice", "#lobby", "hello from a browser tab")

        await bob.send("#lobby", "hi alice, this is a terminal")
        await screen.wait_for("hi alice, this is a terminal")
        await asyncio.sleep(0.3)  # the last frame painted on the canvas before the picture
        shot = tmp_path / "web.png"
        await page.screenshot(path=str(shot))
        title = await page.title()
        drawn = await screen.text()
        # The client remembered alice in a settings file of the session's own,
        # not in the web host's, where the next visitor's login screen would show her.
        remembered = [path.read_text() for path in temp.glob("chinwag-web-*/config.toml")]

    assert await stop_web(served.proc) == 0
    assert len(remembered) == 1 and 'username = "alice"' in remembered[0]
    assert not config_home.exists()
    assert list(temp.iterdir()) == []  # the session's directory went with it

    data = shot.read_bytes()
    assert png_size(data) == (VIEWPORT["width"], VIEWPORT["height"])
    assert len(data) > 20_000  # a drawn screen, not a blank page
    assert title == "chinwag"
    assert "chat for people who live in the terminal" in drawn  # the app's own login screen, under its name
    assert refused == []  # the page asked nothing of any other host (no web fonts)
