"""Screens tell the app things; they never call it. A chat screen and a
login screen run inside a bare Textual `App` that knows nothing of chinwag,
and what they have to say arrives there as messages and signals."""

from __future__ import annotations

from textual import on
from textual.app import App

from chinwag.protocol.messages import Message
from chinwag.protocol.reconnect import ConnectionStateEvent
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.chat_messages import Alerts, ServerEvents
from chinwag.tui.screens.login import LoginScreen
from chinwag.tui.state import ChatState

from .conftest import wait_for
from .demo import ME, NOW


class Bare(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.ended: list[str] = []
        self.alerts: list[Alerts] = []
        self.register_wanted: list[tuple[str, str]] = []

    @on(ChatScreen.SessionEnded)
    def _session_ended(self, message: ChatScreen.SessionEnded) -> None:
        self.ended.append(message.reason)

    @on(LoginScreen.RegisterWanted)
    def _wants_register(self, message: LoginScreen.RegisterWanted) -> None:
        self.register_wanted.append((message.server, message.username))


async def test_the_chat_screen_posts_what_the_app_must_do() -> None:
    app = Bare()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = ChatScreen(ChatState(ME), None, clock=lambda: NOW)
        await app.push_screen(screen)
        await pilot.pause()
        screen.alerts.subscribe(app, app.alerts.append, immediate=True)
        screen.post_message(ServerEvents([Message("1-0", "@bob", "bob", "psst", int(NOW * 1000))]))
        await wait_for(pilot, lambda: app.alerts and app.alerts[-1].count == 1, what="the alert")
        assert app.alerts[-1].ring and app.alerts[-1].count == 1  # a direct message out of view rings
        assert [m.text for m in app.alerts[-1].notes] == ["psst"]
        screen.post_message(ServerEvents([ConnectionStateEvent("closed", detail="logged out")]))
        await wait_for(pilot, lambda: app.ended, what="the session's end")
        assert app.ended == ["logged out"]


async def test_the_login_screen_asks_for_the_register_screen() -> None:
    app = Bare()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(LoginScreen("chat.example.org:7878", "zoe"))
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.register_wanted, what="the request")
        assert app.register_wanted == [("chat.example.org:7878", "zoe")]
        assert isinstance(app.screen, LoginScreen)  # the app decides; this one did nothing
