"""The composer: a message being written, one or more lines. Enter sends
(the screen decides what the text means); shift+enter, alt+enter and ctrl+j
insert a newline, whichever of them the terminal can send (most send
alt+enter and ctrl+j; shift+enter needs the kitty keyboard protocol). The
box grows with its text up to a few lines (chinwag.tcss), then scrolls.

Up in an empty composer selects the newest message (as in most chat
clients); ctrl+up/ctrl+down walk back through what was already sent, and so
do up/down on the first/last line once a line is being recalled or typed,
like a shell. Tab completes the word at the cursor (completion.py) and
never moves the focus out of a composer with text in it. ctrl+x ctrl+e asks
for the draft in $EDITOR (the screen runs it); ctrl+x then anything else is
cut, as in any text area.

A paste keeps every line. Nothing here cuts text to the limit: a paste that
is too long stays, and `TooLong` tells the screen to say so; the screen
refuses to send it and gives it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, cast

from textual import events
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import TextArea

from ...protocol import limits
from ..completion import Completion, Sources, begin

RECALL_MAX = 200
FOOTER_HINT_WIDTH = 100  # columns from which the footer says how to start a new line
NEWLINE_KEYS = ("shift+enter", "alt+enter", "ctrl+j", "newline")


class _ExtraKey(StrEnum):
    ALT_ENTER = "alt+enter"


def read_alt_enter() -> None:
    """Teach Textual's key reader ESC CR, what xterm, tmux and most terminals
    send for alt+enter: without it the alt is dropped and the key reads as
    enter, which would send a message the user meant to go on writing.
    (Its table maps sequences to key names; this adds one and changes none.)"""
    table = cast("dict[str, object]", ANSI_SEQUENCES_KEYS)  # a plain dict, typed as a read-only Mapping
    table.setdefault("\x1b\r", (_ExtraKey.ALT_ENTER,))


def as_lines(text: str) -> str:
    """A terminal pastes newlines as CR (or CRLF): as "\\n" they are the
    lines the user copied."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Composer(TextArea):
    # TextArea sets its virtual size on every keystroke, and Widget declares
    # that reactive with layout=True: each key would lay out and repaint the
    # whole screen. The box only changes when the number of lines does:
    # `_refresh_size` asks for a layout then, and only then.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "up", "select a message", show=False),
        Binding("down", "down", "next line", show=False),
        Binding("ctrl+up", "recall(-1)", "previous line", show=False),
        Binding("ctrl+down", "recall(1)", "next line", show=False),
        Binding("tab", "complete", "complete", show=False),
        Binding("shift+tab", "complete(True)", "complete back", show=False),
        Binding("ctrl+x", "chord", "cut", show=False),
        # handled in _on_key, in order with the keys around it; here for the footer
        Binding("alt+enter", "newline", "newline", key_display="alt+enter/^j"),
    ]

    class SelectWanted(Message):
        """Up in an empty composer: the user wants to pick a message."""

    class EditorWanted(Message):
        """ctrl+x ctrl+e: the user wants the draft in $EDITOR."""

    @dataclass
    class TooLong(Message):
        """A paste made the text longer than the server takes."""

        length: int
        limit: int

    @dataclass
    class Sent(Message):
        """Enter was pressed on `line`; the composer is already empty."""

        composer: Composer
        line: str

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(
            id=id, placeholder=placeholder, soft_wrap=True, tab_behavior="focus", highlight_cursor_line=False
        )
        self.sent: list[str] = []
        self.editing = False  # the line is an edit of a message: no recall over it
        self.max_text = limits.DEFAULT_MAX_TEXT
        # Set by the screen: what Tab can complete to, asked for at the first tab.
        self.sources: Callable[[], Sources] = Sources
        self._completion: Completion | None = None
        self._chord = False  # ctrl+x pressed: ctrl+e next opens the editor
        self._recall_at: int | None = None
        self._draft = ""
        self._height = 1

    def on_mount(self) -> None:
        read_alt_enter()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_bindings()  # the newline hint comes and goes with the width

    # --- the text as one string, the cursor as an offset into it -----------------------

    @property
    def value(self) -> str:
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self._completion = None
        self.load_text(text)
        self.move_cursor(self.document.end)

    @property
    def cursor_position(self) -> int:
        row, column = self.cursor_location
        lines = self.text.split("\n")
        return sum(len(line) + 1 for line in lines[:row]) + column

    @cursor_position.setter
    def cursor_position(self, offset: int) -> None:
        text = self.text
        offset = max(0, min(offset, len(text)))
        row = text.count("\n", 0, offset)
        self.move_cursor((row, offset - (text.rfind("\n", 0, offset) + 1)))

    def _refresh_size(self) -> None:
        super()._refresh_size()
        height = self.wrapped_document.height
        if height != getattr(self, "_height", height):  # TextArea sizes itself before __init__ ends
            self.refresh(layout=True)
        self._height = height

    # --- keys ---------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        # Enter, the newline keys, tab and ctrl+x are handled here, in order
        # with the characters around them: as bindings they would run only
        # once the key has bubbled up, after every character already queued
        # behind it (a fast typist, or a terminal sending a burst of keys)
        # had been added to this line. Their bindings are for the footer.
        key = event.key
        if key not in ("tab", "shift+tab"):
            self._completion = None
        if self._chord:
            self._chord = False
            if key == "ctrl+e":
                event.stop()
                event.prevent_default()
                self.post_message(self.EditorWanted())
                return
            self.action_cut()  # ctrl+x alone is cut; this key is then typed as usual
        if key == "ctrl+x":
            event.stop()
            event.prevent_default()
            self._chord = True
            return
        if key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()
            return
        if key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            self.action_complete(back=key == "shift+tab")
            return
        await super()._on_key(event)

    async def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        if self.read_only:
            return
        self._completion = None
        start, end = self.selection
        result = self.replace(as_lines(event.text), start, end, maintain_selection_offset=False)
        self.move_cursor(result.end_location)
        self.focus()
        if len(self.text) > self.max_text:
            self.post_message(self.TooLong(len(self.text), self.max_text))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer's newline hint only where there is room for it (under
        FOOTER_HINT_WIDTH columns it would push ctrl+q off the footer); the
        keys work at any width (`_on_key`)."""
        if action == "newline":
            return self.app.size.width >= FOOTER_HINT_WIDTH
        return super().check_action(action, parameters)

    def action_newline(self) -> None:
        self.insert("\n")

    def action_chord(self) -> None:
        self._chord = True

    async def action_submit(self) -> None:
        """Take the text and empty the composer at once: keys after this
        Enter start a new message, rather than being wiped when the screen
        gets to this one."""
        line = self.text
        self.value = ""
        self.post_message(self.Sent(self, line))

    def action_complete(self, back: bool = False) -> None:
        """Tab: the next candidate for the word at the cursor (shift+tab the
        previous). In an empty composer Tab moves the focus as usual; with
        text in it, never (a tab with nothing to complete does nothing)."""
        if not self.text:
            if back:
                self.screen.focus_previous()
            else:
                self.screen.focus_next()
            return
        if self._completion is None:
            self._completion = begin(self.text, self.cursor_position, self.sources(), back)
        else:
            self._completion = self._completion.step(back)
        if self._completion is None:
            return
        self.load_text(self._completion.text)
        self.cursor_position = self._completion.cursor

    # --- lines sent, recalled, given back ------------------------------------------------

    def give_back(self, line: str) -> None:
        """A line the screen refused (a bad command, too long) comes back to
        be fixed, unless a new one has been started meanwhile."""
        if not self.text:
            self.value = line

    def set_line(self, line: str) -> None:
        """Put `line` in the composer to be edited, the cursor at its end."""
        self.value = line
        self._recall_at = None

    def remember(self, line: str) -> None:
        """Keep a sent line for recall (consecutive repeats once)."""
        if line and (not self.sent or self.sent[-1] != line):
            self.sent.append(line)
            del self.sent[:-RECALL_MAX]
        self._recall_at = None
        self._draft = ""

    def action_up(self) -> None:
        if not self.text and self._recall_at is None:
            self.post_message(self.SelectWanted())
        elif self.cursor_location[0] == 0 and self.wrapped_document.location_to_offset(self.cursor_location).y == 0:
            self.action_recall(-1)
        else:
            self.action_cursor_up()

    def action_down(self) -> None:
        last = self.wrapped_document.height - 1
        if self.wrapped_document.location_to_offset(self.cursor_location).y >= last:
            self.action_recall(1)
        else:
            self.action_cursor_down()

    def action_recall(self, step: int) -> None:
        if not self.sent or self.editing:
            return
        if self._recall_at is None:
            if step > 0:
                return
            self._draft = self.text
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
