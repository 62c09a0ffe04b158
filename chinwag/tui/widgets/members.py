"""The member panel (ctrl+g): who is in the room in view, grouped by role
(owner, moderators, members), each with an online/away dot and their status.
Enter on a member asks for a direct conversation, `p` for their profile; the
screen decides what that means (messages up). Escape, or any other key that
types, goes back to the composer (with that key), so typing never gets lost
in the panel. Names and statuses are other
people's strings: drawn with `literal`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from ..state import MemberRow
from ..text import literal

ONLINE, AWAY, OFFLINE = "●", "◐", "○"


def member_prompt(row: MemberRow, style: Callable[[str], Style]) -> Text:
    """`● Bob Marley @bob (you)` and, below, their status: `style` gives
    each part's look from the stylesheet."""
    dot = Text(ONLINE, style=style("members--online"))
    if not row.online:
        dot = Text(OFFLINE, style=style("members--offline"))
    elif row.away:
        dot = Text(AWAY, style=style("members--away"))
    name_style = style("members--name" if row.online else "members--offline")
    text = Text.assemble(dot, " ", literal(row.display_name, name_style))
    if row.display_name != row.username:
        text.append_text(literal(f" @{row.username}", style("members--detail")))
    if row.me:
        text.append(" (you)", style=style("members--detail"))
    words = row.status or ("away" if row.away and row.online else "")
    if words:
        text.append("\n  ")
        text.append_text(literal(words, style("members--status")))
    return text


class MemberList(OptionList):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "members--title",
        "members--heading",
        "members--online",
        "members--away",
        "members--offline",
        "members--name",
        "members--detail",
        "members--status",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "profile", "profile"),
        Binding("m", "message", "message", show=False),
        Binding("escape", "done", "back to typing", show=False),
    ]

    @dataclass
    class Chosen(Message):
        """A member was picked: `message` opens a direct conversation, `profile` shows them."""

        username: str
        what: Literal["message", "profile"]

    @dataclass
    class TypedAway(Message):
        """A key meant for the composer reached the panel (a letter, `/`):
        the screen gives the composer focus and the key."""

        key: str
        character: str | None

    class Done(Message):
        """Escape: back to the composer, the panel staying open."""

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character and event.key not in ("p", "m", "space"):
            event.stop()
            event.prevent_default()
            self.post_message(self.TypedAway(event.key, event.character))

    def action_done(self) -> None:
        self.post_message(self.Done())

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str, list[tuple[str, list[MemberRow]]], bool] | None = None

    def show(self, title: str, groups: list[tuple[str, list[MemberRow]]], more: bool, empty: str = "") -> None:
        """Redraw from the model, keeping the highlighted member highlighted."""
        if self._shown == (title, groups, more):
            return
        self._shown = (title, groups, more)
        keep = self.highlighted_option.id if self.highlighted_option is not None else None
        style = self._style
        options: list[Option] = [Option(literal(title, style("members--title")), disabled=True)]
        for heading, rows in groups:
            options.append(Option(Text(f"{heading} ({len(rows)})", style=style("members--heading")), disabled=True))
            options.extend(Option(member_prompt(row, style), id=row.username) for row in rows)
        if more:
            options.append(Option(Text("… and more", style=style("members--status")), disabled=True))
        if not groups:
            options.append(Option(literal(empty or "no one here", style("members--status")), disabled=True))
        self.clear_options()
        self.add_options(options)
        if keep is not None:
            try:
                self.highlighted = self.get_option_index(keep)
            except OptionDoesNotExist:
                keep = None
        if keep is None:
            first = next((i for i, option in enumerate(options) if not option.disabled), None)
            self.highlighted = first

    def _style(self, name: str) -> Style:
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bold=full.bold, italic=full.italic, dim=full.dim)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._shown = None  # the prompts carry styles: drawn again at the next show

    def _chosen(self, what: Literal["message", "profile"]) -> None:
        option = self.highlighted_option
        if option is not None and option.id is not None:
            self.post_message(self.Chosen(option.id, what))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Chosen(event.option.id, "message"))

    def action_profile(self) -> None:
        self._chosen("profile")

    def action_message(self) -> None:
        self._chosen("message")
