"""The line above the conversation: its name (a lock for a private room),
who is in it, your role there, the room's topic, and who is typing.
Names, display names and topics are other people's strings: drawn with `literal`."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ..text import literal

LOCK = "🔒"


def typing_line(names: list[str]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return f"{names[0]}, {names[1]} and {len(names) - 2} more are typing…"


@dataclass(frozen=True, slots=True)
class RoomLine:
    """What `rooms` adds to a room's header."""

    topic: str = ""
    private: bool = False
    role: str | None = None


class ConversationHeader(Horizontal):
    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str, str, str, RoomLine] | None = None
        self.away = False

    def compose(self) -> ComposeResult:
        yield Label(id="title")
        yield Label(id="topic")
        yield Label(id="typing")

    def show(self, title: str, detail: str, typers: list[str], room: RoomLine | None = None) -> None:
        """Update, unless nothing changed: a label update costs a layout."""
        room = room or RoomLine()
        typing = typing_line(typers)
        if not typing and self.away:
            typing = "↓ newer lines below · ctrl+end"
        if (title, detail, typing, room) == self._shown:
            return
        self._shown = (title, detail, typing, room)
        text = literal(title, "bold")
        if room.private:
            text.append(" " + LOCK)
        facts = [detail] if detail else []
        if room.role:
            facts.append(f"you: {room.role}")
        if facts:
            text.append_text(literal("  " + " · ".join(facts), "dim"))
        self.query_one("#title", Label).update(text)
        self.query_one("#topic", Label).update(literal(room.topic))
        self.query_one("#typing", Label).update(literal(typing))
