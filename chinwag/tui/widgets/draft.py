"""The line above the composer while a reply or an edit is being written:
what it answers or changes, and how to drop it. The quoted author and text
are another party's strings: drawn with `literal`."""

from __future__ import annotations

from textual.widgets import Static

from ..text import literal
from .rows import one_line

QUOTED_CELLS = 60


class DraftLine(Static):
    def show_reply(self, author: str | None, text: str) -> None:
        line = literal("↳ replying to ", "bold")
        if author is not None:
            line.append_text(literal(one_line(author, 24), "bold"))
            line.append_text(literal(": "))
        line.append_text(literal(one_line(text, QUOTED_CELLS)))
        line.append_text(literal("   esc cancels", "dim"))
        self.update(line)
        self.add_class("-active")

    def show_edit(self) -> None:
        line = literal("✎ editing your message", "bold")
        line.append_text(literal("   enter saves · esc cancels", "dim"))
        self.update(line)
        self.add_class("-active")

    def clear(self) -> None:
        self.update("")
        self.remove_class("-active")
