"""How each row of the conversation log looks: a message (with its reply
quote, "(edited)", tombstone and reactions), a notice, an unsent line, a day
separator, the "new messages" line, a gap in the loaded history and the top
line. The view decides which rows there are and where; this draws one.

Every string another party wrote goes through `shown`/`cut` (text.py).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Protocol

from rich.cells import cell_len
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from ...protocol.messages import Message
from ..links import linkify
from ..text import cut, shown
from ..timeline import Conversation, Gap, Notice, Pending, is_action
from .strips import text_strip

TIME_WIDTH = 5
MARGIN = 1  # drawn here rather than as CSS padding: padding costs a strip copy per line
QUOTE_MARK = "╭ "
SELECTED_MARK = "▎"

# Sender colours: readable on dark backgrounds, and darker twins for light themes.
DARK_PALETTE = (
    "#e06c75",
    "#98c379",
    "#e5c07b",
    "#61afef",
    "#c678dd",
    "#56b6c2",
    "#d19a66",
    "#ff8fab",
    "#7fd1ae",
    "#a9b1ff",
    "#f4a259",
    "#b5e48c",
)
LIGHT_PALETTE = (
    "#b3262f",
    "#3d7a1f",
    "#8a6100",
    "#1f5fa8",
    "#7b2fa3",
    "#17707a",
    "#9a4b00",
    "#b0305c",
    "#1d7a56",
    "#4650b8",
    "#a3500c",
    "#53761f",
)


NEAR = 100  # colour distance ("redmean" over 0-255 channels) under which two nicks look alike


def _distance(a: str, b: str) -> float:
    """How different two colours look: the low-cost "redmean" weighting of
    RGB, good enough to tell a near twin from a different hue."""
    x, y = Color.parse(a).get_truecolor(), Color.parse(b).get_truecolor()
    mean_red = (x.red + y.red) / 2
    dr, dg, db = x.red - y.red, x.green - y.green, x.blue - y.blue
    return float(((2 + mean_red / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean_red) / 256) * db * db) ** 0.5)


@lru_cache(maxsize=32)
def palette_for(dark: bool, avoid: str | None) -> tuple[str, ...]:
    """The colours other people's names get: the palette without the ones
    that look like `avoid` (your own name's colour, which no one else gets)."""
    palette = DARK_PALETTE if dark else LIGHT_PALETTE
    if avoid is None:
        return palette
    kept = tuple(c for c in palette if _distance(c, avoid) >= NEAR)
    return kept or palette


def sender_colour(username: str, dark: bool = True, avoid: str | None = None) -> str:
    """A colour per user that is the same on every screen and every run;
    one that looks like `avoid` gives way to the next in the palette (so
    only the few users who had it change colour)."""
    palette = DARK_PALETTE if dark else LIGHT_PALETTE
    allowed = palette_for(dark, avoid)
    start = zlib.crc32(username.encode()) % len(palette)
    for step in range(len(palette)):
        colour = palette[(start + step) % len(palette)]
        if colour in allowed:
            return colour
    return palette[start]


def clean(text: str) -> str:
    """A message body made safe to draw (see text.py): tabs expanded,
    newlines kept, every other control character a placeholder."""
    return shown(text, lines=True)


def rjust(text: str, cells: int) -> str:
    """`str.rjust` counts characters; a nick of wide characters (or with
    combining marks) must be padded by the columns it takes."""
    return " " * max(0, cells - cell_len(text)) + text


def day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    label = f"{day:%A} {day.day} {day:%B}"
    return label if day.year == today.year else f"{label} {day.year}"


def one_line(text: str, cells: int) -> str:
    """The start of `text` on one line of `cells` columns, "…" where cut."""
    flat = shown(" ".join(text.split()))
    return flat if cell_len(flat) <= cells else cut(flat, max(0, cells - 1)) + "…"


def quote_text(parent: Message | None) -> tuple[str | None, str]:
    """(author, words) of a reply's quote line; no author when there is
    nothing to quote."""
    if parent is None:
        return None, "an earlier message"
    if parent.deleted:
        return None, "deleted message"
    if is_action(parent.text):
        return parent.sender, "* " + parent.text[4:]
    return parent.sender, parent.text


def has_extras(message: Message) -> bool:
    """Drawn on more than the plain one-line-per-wrap layout."""
    return bool(message.reply_to is not None or message.reactions or message.edited or message.deleted)


@dataclass(slots=True)
class Row:
    """One entry of the log: a message, a notice, a pending line, a day
    separator, the "new messages" line, a gap, or the top line."""

    kind: str
    item: Any = None
    width: int = -1
    generation: int = -1
    height: int = 1
    strips: list[Strip] | None = None


class Surface(Protocol):
    """What a painter needs of the view it draws for."""

    me: str
    dark: bool
    conversation: Conversation | None
    mention: re.Pattern[str] | None

    @property
    def base(self) -> Style: ...
    def style(self, name: str) -> Style: ...
    def background(self, name: str) -> Style: ...
    def nick_width(self, width: int) -> int: ...
    def prefix_width(self, width: int) -> int: ...
    def time(self, ts: int) -> str: ...
    def nick(self, name: str, width: int) -> str: ...


class RowPainter:
    """Draws rows with the view's component styles."""

    def __init__(self, view: Surface, console: Callable[[], Console]) -> None:
        self.view = view
        self._console = console

    @property
    def console(self) -> Console:
        return self._console()

    def own_colour(self) -> str | None:
        """Your own name's colour (the theme's), as `#rrggbb`."""
        colour = self.view.style("conversation--own").color
        return colour.get_truecolor().hex if colour is not None else None

    def colour_of(self, sender: str) -> Style:
        """The style of a name: yours, or a colour of someone else's no one shares with you."""
        view = self.view
        if sender == view.me:
            return view.style("conversation--own")
        return Style(color=sender_colour(sender, view.dark, self.own_colour()), bold=True)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.rstrip()
        return text_strip(text, self.console).extend_cell_length(width, style)

    def link_style(self) -> Style:
        return self.view.style("conversation--link") + Style(underline=True)

    # --- rules ----------------------------------------------------------------------------

    def rule(self, label: str, style: Style, width: int) -> Strip:
        text = Text(" " * MARGIN + label.center(width - MARGIN, "─")[: width - MARGIN], style=style, end="")
        return text_strip(text, self.console)

    def day(self, day: date, width: int, clock: Callable[[], float], tz: tzinfo | None) -> Strip:
        view = self.view
        today = datetime.fromtimestamp(clock(), tz).date()
        return self.rule(f" {day_label(day, today)} ", view.base + view.style("conversation--day"), width)

    def new_line(self, width: int) -> Strip:
        view = self.view
        return self.rule(" new messages ", view.base + view.style("conversation--new"), width)

    def gap(self, gap: Gap, width: int) -> Strip:
        view = self.view
        label = " loading messages… " if gap.loading else " messages not loaded here "
        line = " " * MARGIN + label.center(width - MARGIN, "·")[: width - MARGIN]
        text = Text(line, style=view.base + view.style("conversation--gap"), end="")
        return text_strip(text, self.console)

    def top(self, conv: Conversation | None, width: int) -> Strip:
        view = self.view
        if conv is None:
            label = ""
        elif conv.missing:
            label = shown(conv.missing)
        elif conv.loading or conv.more is None:
            label = "loading older messages…"
        elif conv.more:
            label = "↑ scroll up for older messages"
        else:
            label = f"beginning of {shown(conv.address)}"
        text = Text(label.center(width)[:width], style=view.base + view.style("conversation--top"), end="")
        return text_strip(text, self.console)

    # --- lines with a time and a nick ---------------------------------------------------------

    def message(self, message: Message, width: int, selected: bool) -> list[Strip]:
        view = self.view
        base = view.base
        nick_w = view.nick_width(width)
        own = message.sender == view.me
        nick_style = self.colour_of(message.sender)
        mentioned = (
            not own
            and not message.deleted
            and view.mention is not None
            and view.conversation is not None
            and view.conversation.is_room
            and view.mention.search(message.text)
        )
        line_style = base
        if mentioned:
            line_style = base + view.background("conversation--mention")
        if selected:
            line_style = base + view.background("conversation--selected")
        if message.deleted:
            nick = rjust(view.nick(message.sender, nick_w), nick_w)
            body = Text("message deleted", style=view.style("conversation--deleted"))
        elif is_action(message.text):
            nick = "*".rjust(nick_w)
            said = clean(message.text[4:])
            body = linkify(Text(said, style=Style(italic=True)), said, self.link_style())
            body = Text.assemble((shown(message.sender), nick_style + Style(italic=True)), " ", body)
        else:
            nick = rjust(view.nick(message.sender, nick_w), nick_w)
            said = clean(message.text)
            body = linkify(Text(said), said, self.link_style())
        if mentioned and view.mention is not None:
            body.highlight_regex(view.mention, view.style("conversation--mention-word"))
        if message.edited is not None and not message.deleted:
            body.append(" (edited)", style=view.style("conversation--edited"))
        lines: list[Text] = []
        if message.reply_to is not None and not message.deleted:
            lines.append(self.quote(message.reply_to, width))
        lines += self._lines(view.time(message.ts), view.style("conversation--time"), nick, nick_style, body, width)
        if message.reactions and not message.deleted:
            lines += self.reactions(message, width)
        return self._finish(lines, width, line_style, selected)

    def notice(self, notice: Notice, width: int) -> list[Strip]:
        view = self.view
        level_style = view.style("conversation--error" if notice.level == "error" else "conversation--notice")
        nick = ("!" if notice.level == "error" else "–").rjust(view.nick_width(width))
        body = Text(clean(notice.text), style=level_style)
        return self._finish(self._lines(view.time(notice.ts), level_style, nick, level_style, body, width), width)

    def pending(self, pending: Pending, width: int) -> list[Strip]:
        view = self.view
        failed = pending.error is not None
        state_style = view.style("conversation--failed" if failed else "conversation--pending")
        nick_w = view.nick_width(width)
        nick = rjust(view.nick(view.me, nick_w), nick_w)
        said = pending.text
        if is_action(said):
            said = f"* {view.me} {said[4:]}"
        body = Text(clean(said), style=view.style("conversation--pending"))
        if failed:
            body.append(f"  not sent: {shown(pending.error or '')}", style=state_style)
        lines: list[Text] = []
        if pending.reply_to is not None:
            lines.append(self.quote(pending.reply_to, width))
        time_text = "  ✗  " if failed else " ··· "
        lines += self._lines(time_text, state_style, nick, view.style("conversation--own"), body, width)
        return self._finish(lines, width)

    def _lines(
        self, time_text: str, time_style: Style, nick: str, nick_style: Style, body: Text, width: int
    ) -> list[Text]:
        """The time and nick, then the body wrapped under itself."""
        prefix_w = self.view.prefix_width(width)
        prefix = Text.assemble(" " * MARGIN, (time_text, time_style), " ", (nick, nick_style), " ")
        avail = max(8, width - prefix_w)
        if "\n" not in body.plain and cell_len(body.plain) <= avail:
            lines = [body]
        else:
            lines = list(body.wrap(self.console, avail, overflow="fold"))
        indent = " " * prefix_w
        return [Text.assemble(prefix if n == 0 else indent, line, end="") for n, line in enumerate(lines)]

    def _finish(self, lines: list[Text], width: int, style: Style | None = None, selected: bool = False) -> list[Strip]:
        """Texts to strips over the line's background; a selected line has
        a bar at its left edge."""
        view = self.view
        line_style = style or view.base
        out: list[Strip] = []
        for line in lines:
            if selected and line.plain[:1] == " ":
                line = Text.assemble((SELECTED_MARK, view.style("conversation--selected-mark")), line[1:], end="")
            line.style = line_style
            out.append(self._strip(line, width, line_style))
        return out

    # --- a message's extras -----------------------------------------------------------------------

    def quote(self, parent_mid: str, width: int) -> Text:
        """The one-line quote of the message a reply answers."""
        view = self.view
        conv = view.conversation
        parent = conv.get(parent_mid) if conv is not None else None
        author, words = quote_text(parent)
        quote_style = view.style("conversation--quote")
        indent = " " * view.prefix_width(width)
        text = Text.assemble(indent, (QUOTE_MARK, quote_style), end="")
        room = width - cell_len(text.plain)
        if author is not None:
            name = one_line(author, max(1, room // 3))
            text.append(name, style=Style(color=self.colour_of(author).color))
            text.append(": ", style=quote_style)
            room -= cell_len(name) + 2
        text.append(one_line(words, max(1, room)), style=quote_style)
        return text

    def reactions(self, message: Message, width: int) -> list[Text]:
        """`👍 3  🎉 1` under the message, wrapped; the ones you made stand out."""
        view = self.view
        prefix_w = view.prefix_width(width)
        avail = max(8, width - prefix_w)
        mine = view.style("conversation--reaction-mine") + view.background("conversation--reaction-mine")
        theirs = view.style("conversation--reaction")
        lines: list[Text] = []
        line = Text(end="")
        for emoji, users in message.reactions.items():
            token = f"{one_line(emoji, 12)} {len(users)}"
            style = mine if view.me in users else theirs
            need = cell_len(token) + (2 if line.plain else 0)
            if line.plain and cell_len(line.plain) + need > avail:
                lines.append(line)
                line = Text(end="")
            if line.plain:
                line.append("  ")
            line.append(token, style=style)
        if line.plain:
            lines.append(line)
        indent = " " * prefix_w
        return [Text.assemble(indent, part, end="") for part in lines]
