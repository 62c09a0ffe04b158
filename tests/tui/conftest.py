"""Helpers for the TUI tests: an app pointed at a test server, with a
throwaway config file and fast reconnects."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.widgets.conversation import ConversationView

from ..support.settings import PASSWORD, fast_settings

FAST_RECONNECT = {"backoff_base": 0.05, "backoff_cap": 0.3}
T = TypeVar("T")


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., ChinwagApp]:
    def factory(server: ChatServer | None = None, username: str | None = None, **kwargs: Any) -> ChinwagApp:
        address = f"127.0.0.1:{server.port}" if server is not None else kwargs.pop("address", "")
        return ChinwagApp(
            server=address,
            username=username,
            config_path=tmp_path / "config.toml",
            link_options=FAST_RECONNECT,
            outbox_dir=kwargs.pop("outbox_dir", tmp_path / "outbox"),
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


class ThreadedServer:
    """A real server on its own event loop in a thread: for snapshot tests,
    whose app runs on a loop snap_compare makes. `call` runs a coroutine
    (a headless client's request) on the server's loop and awaits it from
    the app's."""

    def __init__(self, redis_url: str, **overrides: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

        async def up() -> ChatServer:  # made on its own loop: the server's parts bind to the loop that runs them
            server = ChatServer(fast_settings(**overrides), redis_url)
            await server.start()
            return server

        self.server = self._sync(up())
        self.port = self.server.port
        self.clients: list[ChatClient] = []

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def user(self, name: str, display_name: str | None = None) -> ChatClient:
        """Register and log in `name` (with rooms and people), on the server's loop."""

        async def make() -> ChatClient:
            client = ChatClient("127.0.0.1", self.port, features=("rooms", "people"))
            await client.connect()
            await client.register(name, PASSWORD, display_name)
            await client.login(name, PASSWORD)
            return client

        client = await self.call(make())
        self.clients.append(client)
        return client

    async def register(self, name: str, display_name: str | None = None) -> None:
        """Make the account `name` (the app logs in as it)."""

        async def make() -> None:
            async with ChatClient("127.0.0.1", self.port) as client:
                await client.register(name, PASSWORD, display_name)

        await self.call(make())

    def stop(self) -> None:
        async def down() -> None:
            for client in self.clients:
                await client.close()
            await self.server.stop()

        self._sync(down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def threaded_server(clean_redis: str) -> Iterator[Callable[..., ThreadedServer]]:
    made: list[ThreadedServer] = []

    def factory(**overrides: Any) -> ThreadedServer:
        made.append(ThreadedServer(clean_redis, **overrides))
        return made[-1]

    yield factory
    for server in made:
        server.stop()


@pytest.fixture
def still_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input cursors that stay shown instead of blinking: a snapshot taken
    at any moment sees the same cursor (a blink caught it off, now and then)."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)  # the composer
