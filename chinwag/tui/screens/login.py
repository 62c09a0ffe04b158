"""The login screen: server, username, password. Enter submits; every error
says what to do next, and an unreachable server is retried on a countdown."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Static

from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ..connection import ServerAddress
from ..text import literal

if TYPE_CHECKING:
    from ..app import ChinwagApp

RETRY_DELAYS = (3, 5, 10, 20, 30)


def unreachable_reason(error: BaseException) -> str:
    """A short cause for "cannot reach server at …"."""
    cause = error.__cause__ or error
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError):
        return "timed out"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed: {cause.reason or cause}"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return getattr(error, "reason", "") or str(error)


def server_error_text(error: ServerError) -> str:
    if error.code == ErrorCode.BAD_CREDENTIALS:
        return "unknown user or wrong password — press ctrl+r to register"
    return error.message


class Brand(Static):
    def on_mount(self) -> None:
        self.update(Text.assemble(("chinwag", "bold"), "\n",
                                  ("chat for people who live in the terminal", "dim"),
                                  justify="center"))


class FormScreen(Screen[None]):
    """What login and register share: fields in rows, an error line, a countdown."""

    def __init__(self) -> None:
        super().__init__()
        self._countdown: Timer | None = None
        self._wait_until = 0.0
        self._wait_words = ""
        self._retry = False

    @property
    def chinwag(self) -> ChinwagApp:
        return self.app  # type: ignore[return-value]

    def field(self, label: str, input_widget: Input) -> Horizontal:
        return Horizontal(Label(label, classes="field-label"), input_widget, classes="field")

    def value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def say(self, text: str, level: str = "error") -> None:
        message = self.query_one("#message", Static)
        message.set_classes(f"-{level}")
        message.update(literal(text))  # may carry the server's words

    def focus_first_empty(self) -> None:
        for field in self.query(Input):
            if not field.value:
                field.focus()
                return
        inputs = list(self.query(Input))
        if inputs:
            inputs[-1].focus()

    def set_busy(self, busy: bool) -> None:
        for button in self.query(Button):
            button.disabled = busy
        if busy:
            self.say("connecting…", "info")

    # --- a countdown (retry or throttle) ------------------------------------------------

    def start_countdown(self, seconds: float, words: str, retry: bool) -> None:
        """Show `words` with {n} counting down; run `submit()` at zero if `retry`."""
        self.stop_countdown()
        self._wait_until = self.chinwag.clock() + seconds
        self._wait_words = words
        self._retry = retry
        self._tick()
        self._countdown = self.set_interval(1.0, self._tick)

    def stop_countdown(self) -> None:
        if self._countdown is not None:
            self._countdown.stop()
            self._countdown = None

    @property
    def waiting(self) -> float:
        return max(0.0, self._wait_until - self.chinwag.clock()) if self._countdown else 0.0

    def _tick(self) -> None:
        left = self._wait_until - self.chinwag.clock()
        if left <= 0.5 and self._countdown is not None:
            self.stop_countdown()
            if self._retry:
                self.submit()
            else:
                self.say("you can try again now", "info")
            return
        self.say(self._wait_words.format(n=max(1, round(left))))

    def submit(self) -> None:
        raise NotImplementedError


class LoginScreen(FormScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "register", "register", priority=True),
        Binding("ctrl+q", "app.quit", "quit", priority=True),
    ]

    def __init__(self, server: str = "", username: str = "", message: str = "") -> None:
        super().__init__()
        self._server = server
        self._username = username
        self._message = message
        self._attempt = 0

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="form"):
            yield Brand(id="brand")
            yield self.field("Server", Input(self._server, placeholder="host:port", id="server"))
            yield self.field("Username", Input(self._username, placeholder="your username",
                                               id="username"))
            yield self.field("Password", Input(placeholder="your password", password=True,
                                               id="password"))
            with Horizontal(classes="actions"):
                yield Button("Log in", variant="primary", id="login")
            yield Static(id="message")
            yield Label(Text.assemble("new here? ", ("ctrl+r", "bold"), " registers · ",
                                      ("ctrl+q", "bold"), " quits"), id="hint")

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
        server, username, password = (self.value("#server"), self.value("#username"),
                                      self.value("#password"))
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
        link = self.chinwag.make_link(address)
        try:
            session = await link.login(username, password)
        except ServerError as exc:
            self.set_busy(False)
            self._attempt = 0
            if exc.code == ErrorCode.THROTTLED:
                self.start_countdown(float(exc.retry_after or 30),
                                     "too many failed attempts — try again in {n} s", retry=False)
            else:
                self.say(server_error_text(exc))
                self.query_one("#password", Input).focus()
            return
        except (ConnectionClosed, OSError) as exc:
            self.set_busy(False)
            delay = RETRY_DELAYS[min(self._attempt, len(RETRY_DELAYS) - 1)]
            self._attempt += 1
            self.start_countdown(
                delay, f"cannot reach server at {address} ({unreachable_reason(exc)}) — "
                       "retrying in {n} s; enter retries now", retry=True)
            return
        self._attempt = 0
        self.chinwag.start_chat(link, session)

    def action_register(self) -> None:
        from .register import RegisterScreen

        self.stop_countdown()
        self.app.push_screen(RegisterScreen(self.value("#server"), self.value("#username")))
