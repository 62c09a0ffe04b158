"""An invitation to a room, answered: accept (join it) or decline. The room
name and who invited are other people's strings: drawn with `literal`.
Declining is only this client's: the protocol has no request for it, so
the dialog says so."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ...protocol.address import Address
from ..text import literal


class InvitationScreen(ModalScreen[bool | None]):
    """Dismissed with True (accept), False (decline) or None (not now)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer(True)", "accept", show=False),
        Binding("d", "answer(False)", "decline", show=False),
        Binding("escape", "later", "not now", show=False),
    ]

    def __init__(self, room: str, by: str) -> None:
        super().__init__()
        self.room = room
        self.by = by

    def compose(self) -> ComposeResult:
        with Vertical(id="invitation"):
            yield Label(literal(f"{self.by} invited you to {Address.room(self.room)}", "bold"), id="invitation-title")
            yield Static(
                "Accept joins the room. Decline only hides the invitation here: "
                "no one is told, and it lapses by itself in 7 days.",
                id="invitation-detail",
            )
            with Horizontal(id="invitation-actions"):
                yield Button("Accept (a)", variant="primary", id="invitation-accept")
                yield Button("Decline (d)", id="invitation-decline")

    def on_mount(self) -> None:
        self.query_one("#invitation-accept", Button).focus()

    def action_answer(self, accept: bool) -> None:
        self.dismiss(accept)

    def action_later(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "invitation-accept")
