"""Someone's profile, from the member panel: name, presence, status, role
in the room. Everything here but the labels is another person's string:
drawn with `literal`. Dismissed with True if a direct conversation is wanted."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ..text import literal


class ProfileScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "answer(True)", "message", show=False),
        Binding("escape", "answer(False)", "close", show=False),
    ]

    def __init__(
        self,
        username: str,
        display_name: str,
        *,
        online: bool,
        away: bool,
        status: str,
        role: str | None,
        room: str,
        me: bool = False,
        blocked: bool = False,
    ) -> None:
        super().__init__()
        self.username = username
        self.display_name = display_name
        self.online, self.away, self.status = online, away, status
        self.role, self.room, self.me, self.blocked = role, room, me, blocked

    def _facts(self) -> Text:
        presence = "offline" if not self.online else "away" if self.away else "online"
        rows: list[tuple[str, str]] = [("username", "@" + self.username), ("presence", presence)]
        if self.status:
            rows.append(("status", self.status))
        if self.role and self.room:
            rows.append(("role", f"{self.role} of {self.room}"))
        if self.blocked:
            rows.append(("blocked", f"you block them · /unblock {self.username}"))
        text = Text()
        for i, (label, value) in enumerate(rows):
            text.append(f"{label:>9}  ", style="dim")
            text.append_text(literal(value))
            if i < len(rows) - 1:
                text.append("\n")
        return text

    def compose(self) -> ComposeResult:
        with Vertical(id="profile"):
            yield Label(literal(self.display_name + (" (you)" if self.me else ""), "bold"), id="profile-name")
            yield Static(self._facts(), id="profile-facts")
            with Horizontal(id="profile-actions"):
                if not self.me:
                    yield Button("Message (m)", variant="primary", id="profile-message")
                yield Button("Close (esc)", id="profile-close")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def action_answer(self, message: bool) -> None:
        self.dismiss(message and not self.me)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "profile-message")
