"""The line above the composer while a reply or an edit is being written:
what it answers or changes, and how to drop it. The quoted author and text
are another party's strings: drawn with `literal`."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..text import literal
from .rows import one_line

QUOTED_CELLS = 60


class DraftLine(Static):
    def show_reply(self, author: str | None, text: str) -> None:
        line = Text(end="")
        line.append("↳ replying to ", style="bold")
        if author is not None:
            line.append_text(literal(one_line(author, 24), "bold"))
            line.append(": ")
        line.append_text(literal(one_line(text, QUOTED_CELLS)))
        line.append("   esc cancels", style="dim")
        self.update(line)
        self.add_class("-active")

    def show_edit(self) -> None:
        line = Text(end="")
        line.append("✎ editing your message", style="bold")
        line.append("   enter saves · esc cancels", style="dim")
        self.update(line)
        self.add_class("-active")

    def clear(self) -> None:
        self.update("")
        self.remove_class("-active")
