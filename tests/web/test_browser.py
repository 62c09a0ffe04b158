"""`chinwag web` in a real headless Chromium: register and log in through the
TUI in the page with the keyboard, talk with a terminal-side client both
ways, and take a screenshot. The chat server speaks TLS, so the page's client
gets there only if `--tls` and `--ca` were passed on to it."""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trustme

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message

from ..support.browser import SCREEN_TIMEOUT_S, Screen, chromium, loopback_only
from ..support.events import next_of
from ..support.settings import PASSWORD
from ..support.web import WebProcess, stop_web

VIEWPORT = {"width": 1200, "height": 760}


def server_pems(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (ca, chain, key)."""
    directory.mkdir()
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    paths = directory / "ca.pem", directory / "chain.pem", directory / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    paths[1].write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(paths[2]))
    return paths


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_register_log_in_and_talk_with_a_terminal_client(
    web: Callable[..., Awaitable[WebProcess]],
    make_server: Callable[..., Awaitable[Any]],
    connect: Callable[..., Awaitable[ChatClient]],
    chromium_binary: str,
    tmp_path: Path,
) -> None:
    ca, chain, key = server_pems(tmp_path / "a dir; with $(spaces)")  # passed on as one word each
    server = await make_server(tls_cert=chain, tls_key=key)
    config_home, temp = tmp_path / "config", tmp_path / "tmp"
    temp.mkdir()
    served = await web(
        *("--server", f"127.0.0.1:{server.port}", "--tls", "--ca", str(ca)),
        env={"XDG_CONFIG_HOME": str(config_home), "TMPDIR": str(temp)},
    )
    bob = await connect(server, tls=True, ca=str(ca))  # the terminal side: the real client, over TLS too
    await bob.register("bob", PASSWORD)
    await bob.login("bob", PASSWORD)
    refused: list[str] = []

    async def only_this_machine(route: Any) -> None:
        if not route.request.url.startswith(served.url):
            refused.append(route.request.url)
        await loopback_only(route)

    async with chromium() as browser:
        page = await browser.new_page(viewport=VIEWPORT)
        await page.route("**/*", only_this_machine)
        screen = await Screen.tap(page)
        await page.goto(served.url)
        await screen.wait_for("registers")  # the login screen's hint: "new here? ctrl+r registers"
        await page.focus("#terminal textarea")  # typing goes to the terminal; a click would reach the app

        await page.keyboard.press("Control+r")
        await screen.wait_for("the same password")  # the register screen's last field
        blurred = await screen.background("the same password", first=True)  # that field, before it is focused
        assert blurred is not None
        await screen.wait_for_focus("pick a username", blurred)
        await page.keyboard.type("alice")
        await page.keyboard.press("Tab")  # to the display name: it is optional
        await screen.wait_for_focus("display name (optional)", blurred)
        await page.keyboard.press("Tab")
        await screen.wait_for_focus("a password", blurred)
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Tab")
        await screen.wait_for_focus("the same password", blurred)
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")  # registers, then logs in
        await screen.wait_for_focus("Message #lobby", blurred)  # the chat screen's composer
        await page.keyboard.type("hello from a browser tab")
        await page.keyboard.press("Enter")
        got = await next_of(bob, Message, timeout=SCREEN_TIMEOUT_S)
        assert (got.sender, got.conv, got.text) == ("alice", "#lobby", "hello from a browser tab")

        await bob.send("#lobby", "hi alice, this is a terminal")
        await screen.wait_for("hi alice, this is a terminal")
        await screen.painted()
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
