"""The register screen: username (its rules checked as you type), display
name, password twice. On success it logs in by itself and opens the chat.

A server says in its `hello` reply how it registers (`registration`): open,
by invitation code (the form grows an "invitation code" field), or closed
(the form says so instead of offering fields). The screen asks when it
opens and whenever the server typed changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical
from textual.reactive import reactive
from textual.timer import Timer
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


POLICY_DELAY_S = 0.5  # after the server field last changed, ask that server how it registers
CLOSED_WORDS = "registration is closed on this server — ask its admin for an account, or log in (escape)"


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
        self._policy_timer: Timer | None = None

    # The server's `registration`: "open" (or unknown), "invite", "closed".
    policy: reactive[str] = reactive(limits.REGISTRATION_OPEN)

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="form", classes="register"):
            yield Brand(id="brand")
            yield Horizontal(
                Label("Server", classes="field-label"),
                Input(self._server, placeholder="host:port", id="server"),
                classes="field -server",
            )
            yield Horizontal(
                Label("Invite", classes="field-label"),
                Input(placeholder="invitation code (from an admin)", id="invite", max_length=limits.INVITE_CODE_MAX),
                classes="field",
                id="invite-field",
            )
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
            if not field.value and field.id not in ("display", "invite"):
                field.focus()
                break
        self._ask_policy()

    # --- the server's registration policy -------------------------------------------------

    @on(Input.Changed, "#server")
    def _server_changed(self) -> None:
        if self._policy_timer is not None:
            self._policy_timer.stop()
        self._policy_timer = self.set_timer(POLICY_DELAY_S, self._ask_policy)

    def _ask_policy(self) -> None:
        self._policy_timer = None
        try:
            address = ServerAddress.parse(self.value("#server"))
        except ValueError:
            return
        self._fetch_policy(address)

    @work(group="policy", exclusive=True)
    async def _fetch_policy(self, address: ServerAddress) -> None:
        try:
            hello = await self.settings.open(address).hello()
        except (ConnectionClosed, ServerError, OSError):
            return  # said when registering; until then the form stays as it is
        policy = hello.get("registration")
        self.policy = policy if policy in limits.REGISTRATION_POLICIES else limits.REGISTRATION_OPEN

    def watch_policy(self, old: str, policy: str) -> None:
        form = self.query_one("#form")
        form.set_class(policy == limits.REGISTRATION_INVITE, "-invite")
        form.set_class(policy == limits.REGISTRATION_CLOSED, "-closed")
        if policy == limits.REGISTRATION_CLOSED:
            self.say(CLOSED_WORDS, "info")
        elif old == limits.REGISTRATION_CLOSED:
            self.say("", "info")
        if policy == limits.REGISTRATION_INVITE and not self.value("#invite"):
            self.say("this server registers by invitation: type the code an admin gave you", "info")

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
        order = ["server", "invite", "username", "display", "password", "again"]
        optional = {"display"} | (set() if self.policy == limits.REGISTRATION_INVITE else {"invite"})
        missing = [f for f in order if f not in optional and not self.value("#" + f)]
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
        if self.policy == limits.REGISTRATION_CLOSED:
            self.say(CLOSED_WORDS)
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
        invite = self.value("#invite").strip() if self.policy == limits.REGISTRATION_INVITE else ""
        if problem is None and self.policy == limits.REGISTRATION_INVITE and not invite:
            problem = "this server registers by invitation: type the code an admin gave you"
        try:
            address = ServerAddress.parse(self.value("#server"))
        except ValueError as exc:
            problem = problem or str(exc)
            address = None
        if problem or address is None:
            self.say(problem or "enter the server as host:port")
            return
        self.set_busy(True)
        self._register(address, username, display, password, invite)

    @work(group="register", exclusive=True)
    async def _register(
        self, address: ServerAddress, username: str, display: str, password: str, invite: str = ""
    ) -> None:
        link = self.settings.open(address, username)
        try:
            if self._registered != (str(address), username.lower()):
                await link.register(username, password, display or None, invite or None)
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
            if exc.code == ErrorCode.FORBIDDEN:
                self._fetch_policy(address)  # the server asks for a code, or has closed registration
                if self.policy == limits.REGISTRATION_INVITE:
                    self.query_one("#invite", Input).focus()
                return
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
