"""The account screen (from the command palette): change the password,
change the display name, see the sessions logged in and revoke one.
Every request runs in a worker; each section has its own line for the
server's answer. Dismissed with the user as now shown (a new display
name), or None if it did not change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ...protocol import limits
from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ...protocol.messages import SessionInfo, User
from ...protocol.reconnect import ReconnectingClient
from ..text import literal
from .chat_messages import reason
from .confirm import ConfirmScreen


def when(ms: int, tz: tzinfo | None) -> str:
    if ms <= 0:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M")


def session_prompt(session: SessionInfo, tz: tzinfo | None) -> Text:
    """`chinwag-tui/0.1 (this one)` and, below, when it began and was last used."""
    text = literal(session.client or "unknown client", "bold")
    if session.current:
        text.append(" (this one)")
    text.append(f"\n  since {when(session.created, tz)} · last used {when(session.last_used, tz)}")
    return text


class AccountScreen(ModalScreen[User | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close", show=False),
    ]

    def __init__(
        self, link: ReconnectingClient, me: User, *, clock: Callable[[], float], tz: tzinfo | None = None
    ) -> None:
        super().__init__()
        self.link = link
        self.me = me
        self.clock = clock
        self.tz = tz
        self.sessions: list[SessionInfo] = []
        self._changed: User | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="account"):
            yield Label(literal(f"Your account · @{self.me.username}", "bold"), id="account-title")
            with TabbedContent(id="account-tabs"):
                with TabPane("Password", id="tab-password"):
                    yield self._field("Current", Input(password=True, id="old", placeholder="your password now"))
                    yield self._field("New", Input(password=True, id="new", placeholder="a new password"))
                    yield self._field("Again", Input(password=True, id="new-again", placeholder="the new one again"))
                    yield Checkbox("Sign out my other sessions", True, id="revoke-others")
                    with Horizontal(classes="account-actions"):
                        yield Button("Change password", variant="primary", id="change-password")
                    yield Static(id="password-message", classes="account-message")
                with TabPane("Display name", id="tab-name"):
                    yield self._field(
                        "Name",
                        Input(self.me.display_name, id="display-name", max_length=limits.DISPLAY_NAME_MAX),
                    )
                    with Horizontal(classes="account-actions"):
                        yield Button("Save", variant="primary", id="save-name")
                    yield Static(id="name-message", classes="account-message")
                with TabPane("Sessions", id="tab-sessions"):
                    yield OptionList(id="sessions")
                    with Horizontal(classes="account-actions"):
                        yield Button("Revoke", variant="error", id="revoke")
                    yield Static("loading…", id="sessions-message", classes="account-message")
            yield Label("escape closes · enter on a session revokes it", id="account-hint")

    def _field(self, label: str, widget: Input) -> Horizontal:
        return Horizontal(Label(label, classes="field-label"), widget, classes="field")

    def on_mount(self) -> None:
        self.query_one("#old", Input).focus()
        self._load_sessions()

    def _say(self, selector: str, text: str, level: str = "error") -> None:
        line = self.query_one(selector, Static)
        line.set_classes(f"account-message -{level}")
        line.update(literal(text))  # may carry the server's words

    def action_close(self) -> None:
        self.dismiss(self._changed)

    # --- password --------------------------------------------------------------------------

    @on(Button.Pressed, "#change-password")
    def _change_password(self) -> None:
        old, new = self.query_one("#old", Input).value, self.query_one("#new", Input).value
        again = self.query_one("#new-again", Input).value
        problem = (
            ("type your current password" if not old else None)
            or limits.password_problem(new)
            or (None if new == again else "the two new passwords differ")
            or ("the new password is the one you have" if new == old else None)
        )
        if problem:
            self._say("#password-message", problem)
            return
        self._say("#password-message", "changing…", "info")
        self._send_password(old, new, self.query_one("#revoke-others", Checkbox).value)

    @work(group="password", exclusive=True)
    async def _send_password(self, old: str, new: str, revoke_others: bool) -> None:
        try:
            await self.link.change_password(old, new, revoke_others)
        except ServerError as exc:
            words = "your current password is not that one" if exc.code == ErrorCode.BAD_CREDENTIALS else exc.message
            self._say("#password-message", words)
            return
        except ConnectionClosed as exc:
            self._say("#password-message", reason(exc))
            return
        for selector in ("#old", "#new", "#new-again"):
            self.query_one(selector, Input).value = ""
        others = "; your other sessions are signed out" if revoke_others else ""
        self._say("#password-message", f"password changed{others}", "ok")
        self._load_sessions("other sessions signed out" if revoke_others else "")

    @on(Input.Submitted, "#old, #new, #new-again")
    def _password_enter(self, event: Input.Submitted) -> None:
        order = ["old", "new", "new-again"]
        for name in order:
            if not self.query_one(f"#{name}", Input).value:
                self.query_one(f"#{name}", Input).focus()
                return
        self._change_password()

    # --- display name ----------------------------------------------------------------------

    @on(Button.Pressed, "#save-name")
    @on(Input.Submitted, "#display-name")
    def _save_name(self) -> None:
        name = self.query_one("#display-name", Input).value.strip()
        problem = limits.display_name_problem(name, "the display name")
        if problem:
            self._say("#name-message", problem)
            return
        self._say("#name-message", "saving…", "info")
        self._send_name(name)

    @work(group="name", exclusive=True)
    async def _send_name(self, name: str) -> None:
        try:
            user = await self.link.set_display_name(name)
        except (ServerError, ConnectionClosed) as exc:
            self._say("#name-message", reason(exc))
            return
        self._changed = user
        self._say("#name-message", f"you are now shown as {user.display_name}", "ok")

    # --- sessions ---------------------------------------------------------------------------

    @work(group="sessions", exclusive=True)
    async def _load_sessions(self, done: str = "") -> None:
        """List the sessions; `done` (what was just done) goes before the count."""
        try:
            sessions = await self.link.sessions()
        except (ServerError, ConnectionClosed) as exc:
            self._say("#sessions-message", f"could not list your sessions: {reason(exc)}")
            return
        self.sessions = sorted(sessions, key=lambda s: (not s.current, -s.last_used))
        listing = self.query_one("#sessions", OptionList)
        listing.clear_options()
        listing.add_options([Option(session_prompt(s, self.tz), id=s.id) for s in self.sessions])
        if self.sessions:
            listing.highlighted = 0
        count = len(self.sessions)
        listed = f"{count} session{'s' if count != 1 else ''} logged in"
        self._say("#sessions-message", f"{done} · {listed}" if done else listed, "ok" if done else "info")

    def _highlighted_session(self) -> SessionInfo | None:
        listing = self.query_one("#sessions", OptionList)
        option = listing.highlighted_option
        return next((s for s in self.sessions if option is not None and s.id == option.id), None)

    @on(Button.Pressed, "#revoke")
    @on(OptionList.OptionSelected, "#sessions")
    def _revoke_wanted(self) -> None:
        session = self._highlighted_session()
        if session is None:
            self._say("#sessions-message", "pick a session first")
            return
        if session.current:
            self._say("#sessions-message", "that is this session: /logout ends it")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._revoke(session.id)

        detail = f"{session.client or 'unknown client'}, last used {when(session.last_used, self.tz)}"
        self.app.push_screen(ConfirmScreen("Sign this session out?", detail, "Revoke"), confirmed)

    @work(group="revoke")
    async def _revoke(self, session_id: str) -> None:
        try:
            await self.link.revoke(session_id)
        except (ServerError, ConnectionClosed) as exc:
            self._say("#sessions-message", f"could not revoke it: {reason(exc)}")
            return
        self._load_sessions("revoked: that session is signed out")
