"""Helpers for the TUI tests: an app pointed at a test server, with a
throwaway config file and fast reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from chinwag.server.app import ChatServer
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.widgets.conversation import ConversationView

from ..support.settings import PASSWORD

FAST_RECONNECT = {"backoff_base": 0.05, "backoff_cap": 0.3}


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., ChinwagApp]:
    def factory(server: ChatServer | None = None, username: str | None = None, **kwargs: Any) -> ChinwagApp:
        address = f"127.0.0.1:{server.port}" if server is not None else kwargs.pop("address", "")
        return ChinwagApp(
            server=address,
            username=username,
            config_path=tmp_path / "config.toml",
            link_options=FAST_RECONNECT,
            **kwargs,
        )

    return factory


async def wait_for(pilot: Pilot, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Let the app run until `predicate()` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def fill(app: ChinwagApp, **fields: str) -> None:
    for name, value in fields.items():
        app.screen.query_one(f"#{name}", Input).value = value


async def log_in(pilot: Pilot, password: str = PASSWORD) -> ChatScreen:
    """On the login screen with server and username given: type the password, press enter."""
    app = pilot.app
    assert app.focused is app.screen.query_one("#password", Input)
    fill(app, password=password)
    await pilot.press("enter")
    return await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen, what="the chat screen")


def log_lines(app: ChinwagApp) -> list[str]:
    return app.screen.query_one(ConversationView).plain_lines()


def texts(app: ChinwagApp, address: str) -> list[str]:
    """The confirmed message texts of a conversation, in order."""
    from chinwag.protocol.messages import Message

    conv = app.screen.state.conversations[address]  # type: ignore[attr-defined]
    return [line.text for line in conv.lines if type(line) is Message]


def palette_hits(app: ChinwagApp) -> list[str]:
    """The prompts the command palette shows now (empty if it is closed)."""
    from textual.command import CommandList

    found = app.screen.query(CommandList)
    if not found:
        return []
    return [str(option.prompt) for option in found.first().options]


def terminal_output(app: ChinwagApp) -> str:
    """What the app would write to the terminal to draw its whole screen now:
    the characters and the escape sequences of the styles between them."""
    update = app.screen._compositor.render_full_update()
    return update.render_segments(app.console)
