"""The login screen: server, username, password. Enter submits; every error
says what to do next, and an unreachable server is retried on a countdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ..connection import LinkSettings, ServerAddress
from .form import Brand, FormScreen, LoggedIn, unreachable_reason

RETRY_DELAYS = (3, 5, 10, 20, 30)


def server_error_text(error: ServerError) -> str:
    if error.code == ErrorCode.BAD_CREDENTIALS:
        return "unknown user or wrong password — press ctrl+r to register"
    return error.message


class LoginScreen(FormScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "register", "register", priority=True),
        Binding("ctrl+q", "app.quit", "quit", priority=True),
    ]

    @dataclass
    class RegisterWanted(Message):
        """ctrl+r: for the app to open the register screen with these values."""

        server: str
        username: str

    def __init__(
        self,
        server: str = "",
        username: str = "",
        message: str = "",
        *,
        settings: LinkSettings | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(settings=settings, clock=clock)
        self._server = server
        self._username = username
        self._message = message
        self._attempt = 0

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="form"):
            yield Brand(id="brand")
            yield self.field("Server", Input(self._server, placeholder="host:port", id="server"))
            yield self.field("Username", Input(self._username, placeholder="your username", id="username"))
            yield self.field("Password", Input(placeholder="your password", password=True, id="password"))
            with Horizontal(classes="actions"):
                yield Button("Log in", variant="primary", id="login")
            yield Static(id="message")
            yield Label(
                Text.assemble("new here? ", ("ctrl+r", "bold"), " registers · ", ("ctrl+q", "bold"), " quits"),
                id="hint",
            )

    def on_mount(self) -> None:
        self.focus_first_empty()
        if self._message:
            self.say(self._message)

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        if all(field.value for field in self.query(Input)):
            self.submit()
        else:
            self.focus_first_empty()

    @on(Button.Pressed, "#login")
    def _pressed(self) -> None:
        self.submit()

    @on(Input.Changed)
    def _edited(self) -> None:
        if self._retry and self._countdown is not None:
            self.stop_countdown()
            self.say("press enter to connect", "info")

    def submit(self) -> None:
        if self.waiting and not self._retry:
            self.say(self._wait_words.format(n=max(1, round(self.waiting))))
            return
        self.stop_countdown()
        server, username, password = (self.value("#server"), self.value("#username"), self.value("#password"))
        if not (server and username and password):
            self.say("fill in the server, your username and your password")
            self.focus_first_empty()
            return
        try:
            address = ServerAddress.parse(server)
        except ValueError as exc:
            self.say(str(exc))
            self.query_one("#server", Input).focus()
            return
        self.set_busy(True)
        self._login(address, username.strip(), password)

    @work(group="login", exclusive=True)
    async def _login(self, address: ServerAddress, username: str, password: str) -> None:
        link = self.settings.open(address, username)
        try:
            session = await link.start(username=username, password=password)
        except ServerError as exc:
            self.set_busy(False)
            self._attempt = 0
            if exc.code == ErrorCode.THROTTLED:
                self.start_countdown(
                    float(exc.retry_after or 30), "too many failed attempts — try again in {n} s", retry=False
                )
            else:
                self.say(server_error_text(exc))
                self.query_one("#password", Input).focus()
            return
        except (ConnectionClosed, OSError) as exc:
            self.set_busy(False)
            delay = RETRY_DELAYS[min(self._attempt, len(RETRY_DELAYS) - 1)]
            self._attempt += 1
            self.start_countdown(
                delay,
                f"cannot reach server at {address} ({unreachable_reason(exc)}) — "
                "retrying in {n} s; enter retries now",
                retry=True,
            )
            return
        self._attempt = 0
        self.post_message(LoggedIn(address, link, session))

    def action_register(self) -> None:
        self.stop_countdown()
        self.post_message(self.RegisterWanted(self.value("#server"), self.value("#username")))
