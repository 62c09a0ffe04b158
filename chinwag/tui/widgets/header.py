"""The line above the conversation: its name, who is in it, and who is typing."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label


def typing_line(names: list[str]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return f"{names[0]}, {names[1]} and {len(names) - 2} more are typing…"


class ConversationHeader(Horizontal):
    def compose(self) -> ComposeResult:
        yield Label(id="title")
        yield Label(id="typing")

    def show(self, title: str, detail: str, typers: list[str]) -> None:
        text = Text(title, style="bold", end="")
        if detail:
            text.append("  " + detail, style="dim")
        self.query_one("#title", Label).update(text)
        self.query_one("#typing", Label).update(Text(typing_line(typers), end=""))
