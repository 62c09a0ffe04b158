"""The conversation log: a line-API ScrollView over the model's lines.

Nothing is mounted per message. Each line of the model becomes a `Row` that
knows its height at the current width and renders its strips only when it
is on screen (then caches them), so a conversation with thousands of
messages costs a list of rows and a list of offsets, and appending one
message costs one row.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message as TextualMessage
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...protocol.messages import Message
from ..state import Conversation, Notice, Pending, is_action
from ..text import cut, shown
from .strips import text_strip

TIME_WIDTH = 5
MARGIN = 1  # drawn here rather than as CSS padding: padding costs a strip copy per line
DRAWN_ROWS_KEPT = 600  # rows whose rendered strips are kept (a few screens' worth)

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


def sender_colour(username: str, dark: bool = True) -> str:
    """A colour per user that is the same on every screen and every run."""
    palette = DARK_PALETTE if dark else LIGHT_PALETTE
    return palette[zlib.crc32(username.encode()) % len(palette)]


def clean(text: str) -> str:
    """A message body made safe to draw (see text.py): tabs expanded,
    newlines kept, every other control character a placeholder."""
    return shown(text, lines=True)


def _rjust(text: str, cells: int) -> str:
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


@dataclass(slots=True)
class Row:
    """One entry of the log: a message, a notice, a pending line, a day
    separator, the "new messages" line or the top line."""

    kind: str
    item: Any = None
    width: int = -1
    generation: int = -1
    height: int = 1
    strips: list[Strip] | None = None


class ConversationView(ScrollView, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "conversation--time",
        "conversation--own",
        "conversation--mention",
        "conversation--mention-word",
        "conversation--day",
        "conversation--new",
        "conversation--pending",
        "conversation--failed",
        "conversation--notice",
        "conversation--error",
        "conversation--top",
    }

    class Away(TextualMessage):
        """The view left (or came back to) the newest line."""

        def __init__(self, away: bool) -> None:
            super().__init__()
            self.away = away

    class NeedOlder(TextualMessage):
        """The view reached the top of what is loaded; older history is wanted."""

        def __init__(self, address: str) -> None:
            super().__init__()
            self.address = address

    def __init__(
        self,
        me: str,
        *,
        clock: Callable[[], float],
        tz: tzinfo | None,
        mention: re.Pattern[str] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.me = me
        self.clock = clock
        self.tz = tz
        self.mention = mention
        self.conversation: Conversation | None = None
        self.rows: list[Row] = []
        self._starts: list[int] = []
        self._total = 0
        self._row_of: dict[int, Row] = {}
        self._drawn: OrderedDict[int, Row] = OrderedDict()
        self._pending_rows: dict[str, tuple[str | None, Row]] = {}
        self._confirmed_rows = 0
        self._seen_version = -1
        self._seen_lines = 0
        self._seen_pending: tuple[tuple[str, str | None], ...] = ()
        self._last_day: date | None = None
        self._generation = 0
        self._styles: dict[str, Style] = {}
        self._wrap_width = 0
        self._dark = True
        self._away = False

    # --- public ------------------------------------------------------------------------

    def show(self, conversation: Conversation) -> None:
        """Display another conversation, scrolled to its end."""
        self.conversation = conversation
        self._row_of.clear()
        self._pending_rows.clear()
        self._drawn.clear()
        self._rebuild()
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._maybe_need_older()

    def sync(self) -> None:
        """Bring the view up to date with the model after any change."""
        conv = self.conversation
        if conv is None:
            return
        pending_sig = tuple((c, p.error) for c, p in conv.pending.items())
        if conv.version != self._seen_version or len(conv.lines) < self._seen_lines:
            self._rebuild(keep_position=True)
        elif len(conv.lines) != self._seen_lines or pending_sig != self._seen_pending:
            self._append()
        self._maybe_need_older()

    def refresh_top(self) -> None:
        """The top line's text depends on loading state; redraw it."""
        if self.rows and self.rows[0].kind == "top":
            self.rows[0].strips = None
            self.refresh()

    def plain_lines(self) -> list[str]:
        """Every line as plain text (for tests and copying)."""
        width = self._width()
        out: list[str] = []
        for row in self.rows:
            out.extend(strip.text.rstrip() for strip in self._strips(row, width))
        return out

    # --- building rows -------------------------------------------------------------------

    def _width(self) -> int:
        return max(20, self.scrollable_content_region.width or self.size.width or 80)

    def _day(self, ts: int) -> date:
        return datetime.fromtimestamp(ts / 1000, self.tz).date()

    def _row(self, kind: str, item: Any) -> Row:
        row = self._row_of.get(id(item))
        if row is None or row.kind != kind:
            row = Row(kind, item)
            self._row_of[id(item)] = row
        return row

    def _rows_for_lines(self, conv: Conversation, start: int) -> list[Row]:
        rows: list[Row] = []
        day = self._last_day
        marker = conv.marker
        for line in conv.lines[start:]:
            line_day = self._day(line.ts)
            if line_day != day:
                rows.append(Row("day", line_day))
                day = line_day
            if type(line) is Message:
                if line.mid == marker:
                    rows.append(Row("new"))
                rows.append(self._row("msg", line))
            else:
                rows.append(self._row("notice", line))
        self._last_day = day
        return rows

    def _pending(self, conv: Conversation) -> list[Row]:
        rows = []
        for cmid, pending in conv.pending.items():
            known = self._pending_rows.get(cmid)
            if known is None or known[0] != pending.error or known[1].item is not pending:
                known = self._pending_rows[cmid] = (pending.error, Row("pending", pending))
            rows.append(known[1])
        for cmid in [c for c in self._pending_rows if c not in conv.pending]:
            del self._pending_rows[cmid]
        self._seen_pending = tuple((c, p.error) for c, p in conv.pending.items())
        return rows

    def _rebuild(self, keep_position: bool = False) -> None:
        conv = self.conversation
        if conv is None:
            return
        at_end = self.is_vertical_scroll_end
        anchor: tuple[Row, int] | None = None
        if keep_position and not at_end and self.rows:
            # Keep the first message or notice at or below the top line where it is.
            top = int(self.scroll_y)
            i = max(0, bisect_right(self._starts, top) - 1)
            while i < len(self.rows) and self.rows[i].kind not in ("msg", "notice"):
                i += 1
            if i < len(self.rows):
                anchor = (self.rows[i], top - self._starts[i])
        self._last_day = None
        rows = [Row("top", None)] if not self.rows or self.rows[0].kind != "top" else [self.rows[0]]
        rows[0].strips = None
        rows.extend(self._rows_for_lines(conv, 0))
        self._confirmed_rows = len(rows)
        rows.extend(self._pending(conv))
        self.rows = rows
        self._seen_version = conv.version
        self._seen_lines = len(conv.lines)
        self._layout_rows()
        if anchor is not None:
            row, offset = anchor
            for index, candidate in enumerate(self.rows):
                if candidate is row:
                    self.scroll_to(y=self._starts[index] + offset, animate=False, immediate=True, force=True)
                    break
        elif at_end or not keep_position:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def _append(self) -> None:
        """New lines at the end (and/or a changed pending tail): only new rows are made."""
        conv = self.conversation
        assert conv is not None
        at_end = self.is_vertical_scroll_end
        width = self._width()
        if width != self._wrap_width:
            self._rebuild(keep_position=True)
            return
        del self.rows[self._confirmed_rows :]
        del self._starts[self._confirmed_rows :]
        new_rows = self._rows_for_lines(conv, self._seen_lines)
        self._seen_lines = len(conv.lines)
        self.rows.extend(new_rows)
        self._confirmed_rows = len(self.rows)
        self.rows.extend(self._pending(conv))
        total = self._starts[-1] + self.rows[len(self._starts) - 1].height if self._starts else 0
        for row in self.rows[len(self._starts) :]:
            self._starts.append(total)
            total += self._height(row, width)
        self._total = total
        self._set_virtual_size(Size(width, total))
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def _layout_rows(self) -> None:
        width = self._width()
        self._wrap_width = width
        starts: list[int] = []
        total = 0
        height = self._height
        for row in self.rows:
            starts.append(total)
            total += height(row, width)
        self._starts = starts
        self._total = total
        self._set_virtual_size(Size(width, total))

    def _set_virtual_size(self, size: Size) -> None:
        """Set the scrollable size without the screen-wide layout that assigning
        `virtual_size` asks for: this widget's region does not change when
        lines are added, only its scrollbar does (laid out only if it appears)."""
        if size == self.virtual_size:
            return
        had_scrollbar = self.show_vertical_scrollbar
        self.set_reactive(ConversationView.virtual_size, size)
        self._scroll_update(size)
        self.refresh(layout=self.show_vertical_scrollbar != had_scrollbar)

    # --- measuring and drawing ---------------------------------------------------------------

    def _nick_width(self, width: int) -> int:
        conv = self.conversation
        if conv is not None and not conv.is_room:
            nick = max(len(self.me), len(conv.name))
            nick = max(4, min(12, nick))
        else:
            nick = 10
        return min(nick, 8) if width < 64 else nick

    def _prefix_width(self, width: int) -> int:
        return MARGIN + TIME_WIDTH + 1 + self._nick_width(width) + 1

    def _body(self, row: Row) -> str:
        item = row.item
        if row.kind not in ("msg", "notice", "pending"):
            return ""
        text: str = item.text  # a Message, Notice or Pending: each has its text
        if row.kind == "msg" and is_action(text):
            return f"{item.sender} {text[4:]}"
        return text

    def _height(self, row: Row, width: int) -> int:
        if row.width == width and row.generation == self._generation:
            return row.height
        if row.kind in ("msg", "notice", "pending"):
            body = clean(self._body(row))  # measured as drawn: a control character has no width
            extra = 0
            if row.kind == "pending" and row.item.error:
                extra = cell_len(shown(row.item.error)) + 16
            if "\n" in body or cell_len(body) + extra > width - self._prefix_width(width):
                return len(self._strips(row, width))
        row.height = 1
        row.width = width
        row.generation = self._generation
        row.strips = None
        return 1

    @property
    def _base(self) -> Style:
        """This widget's own style (colour on background), cached: Textual
        computes `rich_style` from the whole DOM path on every call."""
        style = self._styles.get("")
        if style is None:
            style = self._styles[""] = self.rich_style
        return style

    def _style(self, name: str) -> Style:
        """A component's text attributes only (colour, bold, italic): rows keep
        their own background."""
        style = self._styles.get(name)
        if style is None:
            full = self.get_component_rich_style(name)
            style = self._styles[name] = Style(color=full.color, bold=full.bold, italic=full.italic, dim=full.dim)
        return style

    def _background(self, name: str) -> Style:
        """A component's background, blended over this widget's."""
        key = "bg:" + name
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style(bgcolor=self.get_component_rich_style(name).bgcolor)
        return style

    def _time(self, ts: int) -> str:
        return datetime.fromtimestamp(ts / 1000, self.tz).strftime("%H:%M")

    def _nick(self, name: str, width: int) -> str:
        name = shown(name)
        return name if cell_len(name) <= width else cut(name, width - 1) + "…"

    def _strips(self, row: Row, width: int) -> list[Strip]:
        if row.strips is not None and row.width == width and row.generation == self._generation:
            self._drawn.move_to_end(id(row))
            return row.strips
        strips = self._render_row(row, width)
        row.strips, row.width, row.generation, row.height = strips, width, self._generation, len(strips)
        drawn = self._drawn
        drawn[id(row)] = row
        if len(drawn) > DRAWN_ROWS_KEPT:  # forget the strips of rows long off screen
            _, old = drawn.popitem(last=False)
            old.strips = None
        return strips

    def _render_row(self, row: Row, width: int) -> list[Strip]:
        base = self._base
        console = self.app.console
        kind = row.kind
        if kind == "day":
            today = datetime.fromtimestamp(self.clock(), self.tz).date()
            return [self._rule(f" {day_label(row.item, today)} ", base + self._style("conversation--day"), width)]
        if kind == "new":
            return [self._rule(" new messages ", base + self._style("conversation--new"), width)]
        if kind == "top":
            return [self._top_line(base, width)]

        nick_w = self._nick_width(width)
        prefix_w = MARGIN + TIME_WIDTH + 1 + nick_w + 1
        line_style = base
        time_style = self._style("conversation--time")
        body_style = Style()
        if kind == "msg":
            message: Message = row.item
            own = message.sender == self.me
            colour = Style(color=sender_colour(message.sender, self._dark), bold=True)
            nick_style = self._style("conversation--own") if own else colour
            mentioned = (
                not own
                and self.mention is not None
                and self.conversation is not None
                and self.conversation.is_room
                and self.mention.search(message.text)
            )
            if mentioned:
                line_style = base + self._background("conversation--mention")
            time_text = self._time(message.ts)
            if is_action(message.text):
                nick = "*".rjust(nick_w)
                body = Text(clean(message.text[4:]), style=Style(italic=True))
                body = Text.assemble((shown(message.sender), nick_style + Style(italic=True)), " ", body)
            else:
                nick = _rjust(self._nick(message.sender, nick_w), nick_w)
                body = Text(clean(message.text), style=body_style)
            if mentioned and self.mention is not None:
                body.highlight_regex(self.mention, self._style("conversation--mention-word"))
        elif kind == "notice":
            notice: Notice = row.item
            level_style = self._style("conversation--error" if notice.level == "error" else "conversation--notice")
            time_text = self._time(notice.ts)
            nick_style = level_style
            nick = ("!" if notice.level == "error" else "–").rjust(nick_w)
            body = Text(clean(notice.text), style=level_style)
        else:
            pending: Pending = row.item
            failed = pending.error is not None
            state_style = self._style("conversation--failed" if failed else "conversation--pending")
            time_text = "  ✗  " if failed else " ··· "
            time_style = state_style
            nick_style = self._style("conversation--own")
            nick = _rjust(self._nick(self.me, nick_w), nick_w)
            said = pending.text
            if is_action(said):
                said = f"* {self.me} {said[4:]}"
            body = Text(clean(said), style=self._style("conversation--pending"))
            if failed:
                body.append(f"  not sent: {shown(pending.error or '')}", style=state_style)

        prefix = Text.assemble(" " * MARGIN, (time_text, time_style), " ", (nick, nick_style), " ")
        avail = max(8, width - prefix_w)
        if "\n" not in body.plain and cell_len(body.plain) <= avail:
            lines = [body]
        else:
            lines = list(body.wrap(console, avail, overflow="fold"))
        strips: list[Strip] = []
        indent = " " * prefix_w
        for n, line in enumerate(lines):
            full = Text.assemble(prefix if n == 0 else indent, line, style=line_style, end="")
            full.rstrip()
            strips.append(text_strip(full, console).extend_cell_length(width, line_style))
        return strips

    def _rule(self, label: str, style: Style, width: int) -> Strip:
        text = Text(" " * MARGIN + label.center(width - MARGIN, "─")[: width - MARGIN], style=style, end="")
        return text_strip(text, self.app.console)

    def _top_line(self, base: Style, width: int) -> Strip:
        conv = self.conversation
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
        text = Text(label.center(width)[:width], style=base + self._style("conversation--top"), end="")
        return text_strip(text, self.app.console)

    # --- Textual hooks ---------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._generation += 1
        try:
            self._dark = self.app.current_theme.dark
        except Exception:  # before the app has a theme
            self._dark = True
        if self.rows:
            self._layout_rows()

    def on_resize(self) -> None:
        if self.rows and self._width() != self._wrap_width:
            at_end = self.is_vertical_scroll_end
            self._layout_rows()
            if at_end:
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def render_line(self, y: int) -> Strip:
        width = self._wrap_width or self.scrollable_content_region.width
        line_no = int(self.scroll_y) + y
        if line_no >= self._total or not self.rows:
            return Strip.blank(width, self._base)
        index = bisect_right(self._starts, line_no) - 1
        strips = self._strips(self.rows[index], width)
        offset = line_no - self._starts[index]
        if offset >= len(strips):  # the row grew since layout (rare): relayout next frame
            self.call_later(self._layout_rows)
            return Strip.blank(width, self._base)
        strip = strips[offset]
        return strip if strip.cell_length == width else strip.crop_extend(0, width, self._base)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < 2 and old_value >= new_value:
            self._maybe_need_older()
        away = new_value < self.max_scroll_y - 1
        if away != self._away:
            self._away = away
            self.post_message(self.Away(away))

    def _maybe_need_older(self) -> None:
        conv = self.conversation
        if conv is None or conv.loading or not conv.more:
            return
        if self.scroll_y < 2 or self.max_scroll_y == 0:
            self.post_message(self.NeedOlder(conv.address))
