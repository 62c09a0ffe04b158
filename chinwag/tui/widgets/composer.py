"""The composer: one line of input. Enter sends (the screen decides what the
line means). Up in an empty composer selects the newest message (as in most
chat clients); ctrl+up/ctrl+down walk back through the lines already sent,
and so do up/down once a line is being recalled or typed, like a shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
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
        Binding("up", "up", "select a message", show=False),
        Binding("down", "recall(1)", "next line", show=False),
        Binding("ctrl+up", "recall(-1)", "previous line", show=False),
        Binding("ctrl+down", "recall(1)", "next line", show=False),
    ]

    class SelectWanted(Message):
        """Up in an empty composer: the user wants to pick a message."""

    @dataclass
    class Sent(Message):
        """Enter was pressed on `line`; the composer is already empty."""

        composer: Composer
        line: str

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(id=id, placeholder=placeholder, select_on_focus=False)
        self.sent: list[str] = []
        self.editing = False  # the line is an edit of a message: no recall over it
        self._recall_at: int | None = None
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        # Enter is handled here, in order with the characters around it: as a
        # binding it would run only once the key has bubbled up, after every
        # character already queued behind it (a fast typist, or a terminal
        # sending a burst of keys) had been added to this line.
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()
            return
        await super()._on_key(event)

    async def action_submit(self) -> None:
        """Take the line and empty the composer at once: keys after this
        Enter start a new line, rather than being wiped when the screen gets
        to this one."""
        line, self.value = self.value, ""
        self.post_message(self.Sent(self, line))

    def give_back(self, line: str) -> None:
        """A line the screen refused (a bad command) comes back to be fixed,
        unless a new one has been started meanwhile."""
        if not self.value:
            self.value = line
            self.cursor_position = len(line)

    def set_line(self, line: str) -> None:
        """Put `line` in the composer to be edited, the cursor at its end."""
        self.value = line
        self.cursor_position = len(line)
        self._recall_at = None

    def remember(self, line: str) -> None:
        """Keep a sent line for recall (consecutive repeats once)."""
        if line and (not self.sent or self.sent[-1] != line):
            self.sent.append(line)
            del self.sent[:-RECALL_MAX]
        self._recall_at = None
        self._draft = ""

    def action_up(self) -> None:
        if not self.value and self._recall_at is None:
            self.post_message(self.SelectWanted())
        else:
            self.action_recall(-1)

    def action_recall(self, step: int) -> None:
        if not self.sent or self.editing:
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
