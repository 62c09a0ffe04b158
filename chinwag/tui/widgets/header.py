"""The line above the conversation: its name, who is in it, and who is typing.
Names and display names are other people's strings: drawn with `literal`."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ..text import literal


def typing_line(names: list[str]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return f"{names[0]}, {names[1]} and {len(names) - 2} more are typing…"


class ConversationHeader(Horizontal):
    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str, str, str] | None = None
        self.away = False

    def compose(self) -> ComposeResult:
        yield Label(id="title")
        yield Label(id="typing")

    def show(self, title: str, detail: str, typers: list[str]) -> None:
        """Update, unless nothing changed: a label update costs a layout."""
        typing = typing_line(typers)
        if not typing and self.away:
            typing = "↓ newer lines below · ctrl+end"
        if (title, detail, typing) == self._shown:
            return
        self._shown = (title, detail, typing)
        text = literal(title, "bold")
        if detail:
            text.append_text(literal("  " + detail, "dim"))
        self.query_one("#title", Label).update(text)
        self.query_one("#typing", Label).update(literal(typing))
