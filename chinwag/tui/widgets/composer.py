"""The composer: one line of input. Enter sends (the screen decides what the
line means); up/down walk back through the lines already sent, like a shell.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input

RECALL_MAX = 200


class Composer(Input):
    # Input sets its virtual size (the width of the text) on every keystroke,
    # and Widget declares that reactive with layout=True: each key would lay
    # out and repaint the whole screen. The composer's box never depends on
    # its text, so here the size only repaints the composer.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "recall(-1)", "previous line", show=False),
        Binding("down", "recall(1)", "next line", show=False),
    ]

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(id=id, placeholder=placeholder, select_on_focus=False)
        self.sent: list[str] = []
        self._recall_at: int | None = None
        self._draft = ""

    def remember(self, line: str) -> None:
        """Keep a sent line for recall (consecutive repeats once)."""
        if line and (not self.sent or self.sent[-1] != line):
            self.sent.append(line)
            del self.sent[:-RECALL_MAX]
        self._recall_at = None
        self._draft = ""

    def action_recall(self, step: int) -> None:
        if not self.sent:
            return
        if self._recall_at is None:
            if step > 0:
                return
            self._draft = self.value
            index = len(self.sent) - 1
        else:
            index = self._recall_at + step
        if index < 0:
            index = 0
        if index >= len(self.sent):
            self._recall_at = None
            self.value = self._draft
        else:
            self._recall_at = index
            self.value = self.sent[index]
        self.cursor_position = len(self.value)
