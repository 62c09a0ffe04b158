"""The register screen: username (its rules checked as you type), display
name, password twice. On success it logs in by itself and opens the chat."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from ...protocol import limits
from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ..connection import LinkSettings, ServerAddress
from ..text import literal
from .form import Brand, FormScreen, LoggedIn, unreachable_reason


def username_hint(name: str) -> tuple[str, bool]:
    if not name:
        return limits.USERNAME_RULE, True
    problem = limits.username_problem(name)
    return (problem, False) if problem else (f"✓ you will be @{name.lower()}", True)


def password_hint(password: str, again: str) -> tuple[str, bool]:
    if not password:
        return f"at least {limits.PASSWORD_MIN} characters", True
    problem = limits.password_problem(password)
    if problem:
        return problem, False
    if again and again != password:
        return "the two passwords differ", False
    if again:
        return "✓ passwords match", True
    return "✓ long enough; type it again below", True


class RegisterScreen(FormScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back to login", priority=True),
        Binding("ctrl+l", "back", "log in instead", show=False, priority=True),
        Binding("ctrl+q", "app.quit", "quit", priority=True),
    ]

    def __init__(
        self,
        server: str = "",
        username: str = "",
        *,
        settings: LinkSettings | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(settings=settings, clock=clock)
        self._server = server
        self._username = username
        self._registered: tuple[str, str] | None = None  # made here; only log in again

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="form", classes="register"):
            yield Brand(id="brand")
            yield self.field("Server", Input(self._server, placeholder="host:port", id="server"))
            yield self.field(
                "Username",
                Input(self._username, placeholder="pick a username", id="username", max_length=limits.USERNAME_MAX),
            )
            yield Static(id="username-hint", classes="hint")
            yield self.field(
                "Name", Input(placeholder="display name (optional)", id="display", max_length=limits.DISPLAY_NAME_MAX)
            )
            yield self.field("Password", Input(placeholder="a password", password=True, id="password"))
            yield self.field("Again", Input(placeholder="the same password", password=True, id="again"))
            yield Static(id="password-hint", classes="hint")
            with Horizontal(classes="actions"):
                yield Button("Register", variant="primary", id="register")
            yield Static(id="message")
            yield Label(Text.assemble(("escape", "bold"), " back to login · ", ("ctrl+q", "bold"), " quits"), id="hint")

    def on_mount(self) -> None:
        self._update_hints()
        for field in self.query(Input):
            if not field.value and field.id != "display":
                field.focus()
                break

    def _hint(self, selector: str, text: str, ok: bool) -> None:
        hint = self.query_one(selector, Static)
        hint.set_class(not ok, "-error")
        hint.update(literal(text))

    @on(Input.Changed)
    def _update_hints(self) -> None:
        self._hint("#username-hint", *username_hint(self.value("#username")))
        self._hint("#password-hint", *password_hint(self.value("#password"), self.value("#again")))

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        order = ["server", "username", "display", "password", "again"]
        missing = [f for f in order if f != "display" and not self.value("#" + f)]
        if missing:
            self.query_one("#" + missing[0], Input).focus()
            return
        self.submit()

    @on(Button.Pressed, "#register")
    def _pressed(self) -> None:
        self.submit()

    def submit(self) -> None:
        if self.waiting:
            self.say(self._wait_words.format(n=max(1, round(self.waiting))))
            return
        username, password = self.value("#username").strip(), self.value("#password")
        problem = (
            limits.username_problem(username)
            or limits.password_problem(password)
            or (None if password == self.value("#again") else "the two passwords differ")
        )
        display = self.value("#display").strip()
        if problem is None and display:
            problem = limits.display_name_problem(display, "the display name")
        try:
            address = ServerAddress.parse(self.value("#server"))
        except ValueError as exc:
            problem = problem or str(exc)
            address = None
        if problem or address is None:
            self.say(problem or "enter the server as host:port")
            return
        self.set_busy(True)
        self._register(address, username, display, password)

    @work(group="register", exclusive=True)
    async def _register(self, address: ServerAddress, username: str, display: str, password: str) -> None:
        link = self.settings.open(address)
        try:
            if self._registered != (str(address), username.lower()):
                await link.register(username, password, display or None)
                self._registered = (str(address), username.lower())
            self.say("registered; logging in…", "info")
            session = await link.start(username=username, password=password)
        except ServerError as exc:
            self.set_busy(False)
            if exc.code == ErrorCode.THROTTLED:
                self.start_countdown(
                    float(exc.retry_after or 60), "too many registrations from here — try again in {n} s", retry=False
                )
                return
            self.say(exc.message)
            target = (
                "#username"
                if exc.code in (ErrorCode.USER_EXISTS, ErrorCode.INVALID_USERNAME)
                else "#password"
                if exc.code == ErrorCode.WEAK_PASSWORD
                else None
            )
            if target:
                self.query_one(target, Input).focus()
            return
        except (ConnectionClosed, OSError) as exc:
            self.set_busy(False)
            self.say(f"cannot reach server at {address} ({unreachable_reason(exc)}) — press enter to try again")
            return
        self.post_message(LoggedIn(address, link, session))

    def action_back(self) -> None:
        self.app.pop_screen()
