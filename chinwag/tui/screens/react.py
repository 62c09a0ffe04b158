"""The reaction picker: a row of common emoji (arrows or 1-8 and enter, or
a click), or any one typed in. One you have already made is marked; picking
it again takes it back (the chat screen decides that). What is typed is
checked with the protocol's own rule (`limits.emoji_problem`)."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label

from ...protocol import limits
from ..text import literal

COMMON = ("👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅")
CELL = 5  # columns per choice


class EmojiRow(Widget, can_focus=True):
    """The common emoji on one line, one of them highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"emoji-row--highlight", "emoji-row--mine"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "previous", show=False),
        Binding("right", "step(1)", "next", show=False),
        Binding("enter", "pick", "react", show=False),
        *(Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, len(COMMON) + 1)),
    ]
    highlight: reactive[int] = reactive(0)

    class Picked(Message):
        def __init__(self, emoji: str) -> None:
            super().__init__()
            self.emoji = emoji

    def __init__(self, mine: frozenset[str], id: str | None = None) -> None:
        super().__init__(id=id)
        self.mine = mine

    def render(self) -> Text:
        text = Text(end="")
        for n, emoji in enumerate(COMMON):
            style = Style()
            if emoji in self.mine:
                style += self.get_component_rich_style("emoji-row--mine")
            if n == self.highlight and self.has_focus:
                style += self.get_component_rich_style("emoji-row--highlight")
            label = f" {emoji} "
            text.append(label, style=style)
            text.append(" " * max(0, CELL - cell_len(label)))
        text.append("\n")
        for n in range(len(COMMON)):
            text.append(f"{n + 1}".center(CELL)[:CELL], style="dim")
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_step(self, step: int) -> None:
        self.highlight = (self.highlight + step) % len(COMMON)

    def action_pick(self, index: int | None = None) -> None:
        self.post_message(self.Picked(COMMON[self.highlight if index is None else index]))

    def on_click(self, event: events.Click) -> None:
        index = event.x // CELL
        if 0 <= index < len(COMMON):
            self.highlight = index
            self.action_pick(index)


class ReactScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel", show=False)]

    def __init__(self, mine: frozenset[str]) -> None:
        super().__init__()
        self.mine = mine

    def compose(self) -> ComposeResult:
        with Vertical(id="react"):
            yield Label(literal("React", "bold"), id="react-title")
            yield EmojiRow(self.mine, id="react-choices")
            yield Input(placeholder="or type one (tab), enter to react", id="react-typed", max_length=limits.EMOJI_MAX)
            yield Label(
                literal("←→ or 1-8 choose · enter reacts · a marked one is yours: again takes it back"), id="react-hint"
            )

    def on_mount(self) -> None:
        self.query_one(EmojiRow).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(EmojiRow.Picked)
    def _picked(self, event: EmojiRow.Picked) -> None:
        self.dismiss(event.emoji)

    @on(Input.Submitted, "#react-typed")
    def _typed(self, event: Input.Submitted) -> None:
        emoji = event.value.strip()
        problem = limits.emoji_problem(emoji)
        hint = self.query_one("#react-hint", Label)
        if problem is not None:
            hint.update(literal(problem))
            hint.add_class("-error")
            return
        self.dismiss(emoji)
