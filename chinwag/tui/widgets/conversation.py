"""The conversation log: a line-API ScrollView over the model's lines, with
a selected message that the keyboard (and the mouse) moves and acts on.

Nothing is mounted per message. Each line of the model becomes a `Row` that
knows its height at the current width and renders its strips only when it
is on screen (then caches them), so a conversation with thousands of
messages costs a list of rows and a list of offsets, and appending one
message costs one row. How a row looks is rows.py's.

What the user asks of a message goes up as a message (`Act`, `ShowQuoted`,
`Leave`); what the screen must load (`NeedOlder`, `NeedGap`) and what is on
screen now (`Viewed`, for the read marker) too.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message as TextualMessage
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...protocol.messages import Message
from ..links import first_link
from ..text import cut, shown
from ..timeline import Conversation, Gap, Key, is_action
from .rows import MARGIN, TIME_WIDTH, Row, RowPainter, clean, has_extras

DRAWN_ROWS_KEPT = 600  # rows whose rendered strips are kept (a few screens' worth)
ActKind = Literal["reply", "edit", "delete", "react", "copy", "open"]
LINE_KINDS = ("msg", "notice")


def _always(message: Message) -> bool:
    return True


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
        "conversation--gap",
        "conversation--selected",
        "conversation--selected-mark",
        "conversation--quote",
        "conversation--edited",
        "conversation--deleted",
        "conversation--reaction",
        "conversation--reaction-mine",
        "conversation--link",
        "conversation--unseen",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "up", show=False),  # how the user got here: the footer keeps its room
        Binding("down,j", "move(1)", "down", show=False),
        Binding("r", "act('reply')", "reply"),
        Binding("e", "act('edit')", "edit"),
        Binding("d", "act('delete')", "delete"),
        Binding("plus", "act('react')", "react", key_display="+"),
        Binding("y", "act('copy')", "copy"),
        Binding("o", "act('open')", "open link"),
        Binding("enter", "quoted", "quoted", key_display="⏎"),
        Binding("escape", "leave", "back"),
    ]

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

    @dataclass
    class NeedGap(TextualMessage):
        """A gap in the loaded history is on screen: fill it from its lower
        end (`downward`: the user reads towards it from above) or its upper."""

        address: str
        hi: Key
        downward: bool

    class Viewed(TextualMessage):
        """What is on screen changed (the read marker may move)."""

    @dataclass
    class Act(TextualMessage):
        """The user asked for something done to the selected message."""

        kind: ActKind
        message: Message

    @dataclass
    class ShowQuoted(TextualMessage):
        """Go to the message a reply quotes."""

        address: str
        mid: str

    class Leave(TextualMessage):
        """Done with selecting: back to the composer."""

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
        self.selected: str | None = None  # mid of the selected message
        self.changes = False  # `messages` is in effect: reply, edit, delete, react
        self.may_edit: Callable[[Message], bool] = _always
        self.may_delete: Callable[[Message], bool] = _always
        self.rows: list[Row] = []
        self._starts: list[int] = []
        self._total = 0
        self._row_of: dict[int, Row] = {}
        self._index_of: dict[str, int] = {}  # mid -> index in rows
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
        self.dark = True
        self._away = False  # scrolled up from the newest line (else the view follows new lines)
        self.unseen = 0  # messages from others that arrived below the view while it was away
        self.painter = RowPainter(self, lambda: self.app.console)

    # --- public ------------------------------------------------------------------------

    def show(self, conversation: Conversation) -> None:
        """Display another conversation, scrolled to its end."""
        self.conversation = conversation
        self.selected = None
        self.unseen = 0
        self._row_of.clear()
        self._pending_rows.clear()
        self._drawn.clear()
        self._rebuild()
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._check_edges()
        self.refresh_bindings()

    def sync(self, anchor: str | None = None) -> None:
        """Bring the view up to date with the model after any change; with
        `anchor` (a mid), that message stays where it is on screen."""
        conv = self.conversation
        if conv is None:
            return
        pending_sig = tuple((c, p.error) for c, p in conv.pending.items())
        if conv.version != self._seen_version or len(conv.lines) < self._seen_lines:
            self._rebuild(keep_position=True, anchor=anchor)
        elif len(conv.lines) != self._seen_lines or pending_sig != self._seen_pending:
            self._append()
        if self.selected is not None and self.selected not in self._index_of:
            self.selected = None
        self._check_edges()
        self.refresh_bindings()

    def refresh_top(self) -> None:
        """The top line's text depends on loading state; redraw it."""
        if self.rows and self.rows[0].kind == "top":
            self.rows[0].strips = None
            self.refresh()

    def refresh_gaps(self) -> None:
        """A gap's line says whether it is loading; redraw those."""
        for row in self.rows:
            if row.kind == "gap":
                row.strips = None
        self.refresh()

    def reveal_marker(self) -> bool:
        """Scroll so that the "new messages" line is near the top, the last
        line read just above it (a backlog loaded above the screen): where
        reading goes on. False if there is no line or it is on screen."""
        index = next((i for i, row in enumerate(self.rows) if row.kind == "new"), None)
        if index is None:
            return False
        top, height = int(self.scroll_y), self.scrollable_content_region.height or self.size.height
        if top <= self._starts[index] < top + height:
            return False
        self.scroll_to(y=max(0, self._starts[index] - 1), animate=False, immediate=True, force=True)
        return True

    def plain_lines(self) -> list[str]:
        """Every line as plain text (for tests and copying)."""
        width = self._width()
        out: list[str] = []
        for row in self.rows:
            out.extend(strip.text.rstrip() for strip in self._strips(row, width))
        return out

    def newest_visible(self) -> Message | None:
        """The newest message with a line on screen now."""
        height = self.scrollable_content_region.height
        if not self.rows or height <= 0:
            return None
        top = int(self.scroll_y)
        index = min(bisect_right(self._starts, top + height - 1), self._confirmed_rows) - 1
        while index >= 0 and self._starts[index] + self.rows[index].height > top:
            row = self.rows[index]
            if row.kind == "msg":
                message: Message = row.item
                return message
            index -= 1
        return None

    def first_visible(self) -> str | None:
        """The mid of the first message at or below the top of the screen."""
        if not self.rows:
            return None
        top = int(self.scroll_y)
        index = max(0, bisect_right(self._starts, top) - 1)
        while index < self._confirmed_rows:
            row = self.rows[index]
            if row.kind == "msg" and self._starts[index] + row.height > top:
                mid: str = row.item.mid
                return mid
            index += 1
        return None

    @property
    def selected_message(self) -> Message | None:
        if self.selected is None or self.conversation is None:
            return None
        return self.conversation.get(self.selected)

    def select(self, mid: str | None, *, center: bool = False) -> bool:
        """Select a message (None: none); False if it is not in the view."""
        if mid is not None and mid not in self._index_of:
            return False
        for old in (self.selected, mid):
            if old is not None and old in self._index_of:
                self.rows[self._index_of[old]].strips = None
        self.selected = mid
        if mid is not None:
            self._reveal(self._index_of[mid], center=center)
        self.refresh()
        self.refresh_bindings()
        return True

    def select_newest(self) -> bool:
        for row in reversed(self.rows[: self._confirmed_rows]):
            if row.kind == "msg":
                return self.select(row.item.mid)
        return False

    # --- keys ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            message = self.selected_message
            if message is None:
                return False
            kind = parameters[0] if parameters else ""
            if kind == "copy":
                return not message.deleted
            if kind == "open":
                return not message.deleted and first_link(message.text) is not None
            if not self.changes or message.deleted:
                return False
            if kind == "edit":
                return self.may_edit(message)
            if kind == "delete":
                return self.may_delete(message)
            return True
        if action == "quoted":
            message = self.selected_message
            return message is not None and message.reply_to is not None and not message.deleted and self.changes
        return True

    def action_move(self, step: int) -> None:
        """Select the message `step` places up or down; down from the
        newest goes back to the composer."""
        messages = [i for i in range(self._confirmed_rows) if self.rows[i].kind == "msg"]
        if not messages:
            if step > 0:
                self.post_message(self.Leave())
            return
        if self.selected is None or self.selected not in self._index_of:
            self.select(self.rows[messages[-1]].item.mid)
            return
        at = messages.index(self._index_of[self.selected]) + step
        if at >= len(messages):
            self.post_message(self.Leave())
            return
        self.select(self.rows[messages[max(0, at)]].item.mid)
        if at <= 0:
            self.scroll_to(y=0, animate=False, immediate=True)
            self._check_edges()

    def action_act(self, kind: ActKind) -> None:
        message = self.selected_message
        if message is not None:
            self.post_message(self.Act(kind, message))

    def action_quoted(self) -> None:
        message = self.selected_message
        if message is not None and message.reply_to is not None and self.conversation is not None:
            self.post_message(self.ShowQuoted(self.conversation.address, message.reply_to))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def on_click(self, event: events.Click) -> None:
        """A click selects the message under it; on a reply's quote line, it
        goes to the quoted message; on a gap, loads it."""
        if self.unseen and self._away and event.y == self.scrollable_content_region.height - 1:
            self.jump_to_newest()
            return
        y = event.y + int(self.scroll_y)
        if not self.rows or y >= self._total:
            return
        index = bisect_right(self._starts, y) - 1
        row = self.rows[index]
        if row.kind == "gap":
            self.post_message(self.NeedGap(self._address(), row.item.hi, downward=False))
        elif row.kind == "msg":
            message: Message = row.item
            if y == self._starts[index] and message.reply_to is not None and not message.deleted and self.changes:
                self.post_message(self.ShowQuoted(self._address(), message.reply_to))
            else:
                self.select(message.mid)

    def _address(self) -> str:
        assert self.conversation is not None
        return self.conversation.address

    # --- building rows -------------------------------------------------------------------

    def _width(self) -> int:
        return max(20, self.scrollable_content_region.width or self.size.width or 80)

    def _day(self, ts: int) -> date:
        return datetime.fromtimestamp(ts / 1000, self.tz).date()

    def _row(self, kind: str, item: object, rows_of: dict[int, Row]) -> Row:
        row = self._row_of.get(id(item))
        if row is None or row.kind != kind or row.item is not item:
            row = Row(kind, item)
        rows_of[id(item)] = row
        return row

    def _rows_for_lines(self, conv: Conversation, start: int, rows_of: dict[int, Row]) -> list[Row]:
        rows: list[Row] = []
        day = self._last_day
        marker = conv.marker
        gaps: dict[Key, Gap] = {gap.hi: gap for gap in conv.gaps}
        keys = conv.keys
        for at in range(start, len(conv.lines)):
            line = conv.lines[at]
            if type(line) is Message and gaps and keys[at] in gaps:
                rows.append(Row("gap", gaps[keys[at]]))
            line_day = self._day(line.ts)
            if line_day != day:
                rows.append(Row("day", line_day))
                day = line_day
            if type(line) is Message:
                if line.mid == marker:
                    rows.append(Row("new"))
                row = self._row("msg", line, rows_of)
                if line.reply_to is not None:
                    row.strips = None  # its quote shows another message, which may have changed
                rows.append(row)
            else:
                rows.append(self._row("notice", line, rows_of))
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

    def _anchor(self, keep_position: bool, anchor: str | None) -> tuple[Row, int] | None:
        """The row to keep in place across a rebuild, and its offset from
        the top of the screen: `anchor`'s, or the first line at the top."""
        if anchor is not None and anchor in self._index_of:
            index = self._index_of[anchor]
            return self.rows[index], self._starts[index] - int(self.scroll_y)
        if not keep_position or self.following or not self.rows:
            return None
        top = int(self.scroll_y)
        i = max(0, bisect_right(self._starts, top) - 1)
        while i < len(self.rows) and self.rows[i].kind not in LINE_KINDS:
            i += 1
        if i < len(self.rows):
            return self.rows[i], self._starts[i] - top
        return None

    def _rebuild(self, keep_position: bool = False, anchor: str | None = None) -> None:
        conv = self.conversation
        if conv is None:
            return
        at_end = self.following
        kept = self._anchor(keep_position, anchor)
        self._last_day = None
        rows = [Row("top", None)] if not self.rows or self.rows[0].kind != "top" else [self.rows[0]]
        rows[0].strips = None
        rows_of: dict[int, Row] = {}
        rows.extend(self._rows_for_lines(conv, 0, rows_of))
        self._row_of = rows_of
        self._confirmed_rows = len(rows)
        rows.extend(self._pending(conv))
        self.rows = rows
        self._index_of = {row.item.mid: i for i, row in enumerate(rows) if row.kind == "msg"}
        self._seen_version = conv.version
        self._seen_lines = len(conv.lines)
        self._layout_rows()
        if kept is not None:
            row, offset = kept
            for index, candidate in enumerate(self.rows):
                if candidate is row or (
                    row.kind == "msg" and candidate.kind == "msg" and candidate.item.mid == row.item.mid
                ):
                    self.scroll_to(y=self._starts[index] - offset, animate=False, immediate=True, force=True)
                    break
        elif at_end or not keep_position:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def _append(self) -> None:
        """New lines at the end (and/or a changed pending tail): only new rows are made."""
        conv = self.conversation
        assert conv is not None
        at_end = self.following
        if not at_end:
            me = self.me
            self.unseen += sum(
                1 for line in conv.lines[self._seen_lines :] if type(line) is Message and line.sender != me
            )
        width = self._width()
        if width != self._wrap_width:
            self._rebuild(keep_position=True)
            return
        del self.rows[self._confirmed_rows :]
        del self._starts[self._confirmed_rows :]
        new_rows = self._rows_for_lines(conv, self._seen_lines, self._row_of)
        self._seen_lines = len(conv.lines)
        for row in new_rows:
            if row.kind == "msg":
                self._index_of[row.item.mid] = len(self.rows)
            self.rows.append(row)
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

    def _reveal(self, index: int, *, center: bool) -> None:
        """Scroll so that row `index` is on screen (in the middle, with `center`)."""
        start, height = self._starts[index], self.rows[index].height
        view_h = self.scrollable_content_region.height or self.size.height
        top = int(self.scroll_y)
        if center:
            y = start - max(0, (view_h - height) // 2)
        elif start < top:
            y = start
        elif start + height > top + view_h:
            y = start + height - view_h
        else:
            return
        self.scroll_to(y=max(0, y), animate=False, immediate=True, force=True)

    # --- measuring and drawing ---------------------------------------------------------------

    def nick_width(self, width: int) -> int:
        conv = self.conversation
        if conv is not None and not conv.is_room:
            nick = max(len(self.me), len(conv.name))
            nick = max(4, min(12, nick))
        else:
            nick = 10
        return min(nick, 8) if width < 64 else nick

    def prefix_width(self, width: int) -> int:
        return MARGIN + TIME_WIDTH + 1 + self.nick_width(width) + 1

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
            if row.kind == "pending" and (row.item.error or row.item.reply_to):
                extra = width
            if row.kind == "msg" and has_extras(row.item):
                extra = width
            if "\n" in body or cell_len(body) + extra > width - self.prefix_width(width):
                return len(self._strips(row, width))
        row.height = 1
        row.width = width
        row.generation = self._generation
        row.strips = None
        return 1

    @property
    def base(self) -> Style:
        """This widget's own style (colour on background), cached: Textual
        computes `rich_style` from the whole DOM path on every call."""
        style = self._styles.get("")
        if style is None:
            style = self._styles[""] = self.rich_style
        return style

    def style(self, name: str) -> Style:
        """A component's text attributes only (colour, bold, italic): rows keep
        their own background."""
        style = self._styles.get(name)
        if style is None:
            full = self.get_component_rich_style(name)
            style = self._styles[name] = Style(color=full.color, bold=full.bold, italic=full.italic, dim=full.dim)
        return style

    def background(self, name: str) -> Style:
        """A component's background, blended over this widget's."""
        key = "bg:" + name
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style(bgcolor=self.get_component_rich_style(name).bgcolor)
        return style

    def time(self, ts: int) -> str:
        return datetime.fromtimestamp(ts / 1000, self.tz).strftime("%H:%M")

    def nick(self, name: str, width: int) -> str:
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
        painter = self.painter
        kind = row.kind
        if kind == "msg":
            return painter.message(row.item, width, row.item.mid == self.selected)
        if kind == "notice":
            return painter.notice(row.item, width)
        if kind == "pending":
            return painter.pending(row.item, width)
        if kind == "day":
            return [painter.day(row.item, width, self.clock, self.tz)]
        if kind == "new":
            return [painter.new_line(width)]
        if kind == "gap":
            return [painter.gap(row.item, width)]
        return [painter.top(self.conversation, width)]

    # --- Textual hooks ---------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._generation += 1
        try:
            self.dark = self.app.current_theme.dark
        except Exception:  # before the app has a theme
            self.dark = True
        if self.rows:
            self._layout_rows()

    @property
    def following(self) -> bool:
        """The view shows the newest line and keeps showing it as lines come
        and the terminal is resized. Kept as state rather than read from the
        scroll position: a resize moves the end of the log away from a view
        that was at it, before the view can follow."""
        return not self._away

    def on_resize(self) -> None:
        follow = self.following
        if self.rows and self._width() != self._wrap_width:
            self._layout_rows()
        if follow and self.rows:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.post_message(self.Viewed())

    def jump_to_newest(self) -> None:
        """To the newest line, following again (the "new messages" bar's key)."""
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._set_away(False)

    def _set_away(self, away: bool) -> None:
        if away == self._away:
            return
        self._away = away
        if not away and self.unseen:
            self.unseen = 0
            self.refresh()
        self.post_message(self.Away(away))

    def unseen_bar(self, width: int) -> Strip:
        """The last line of the view while new messages wait below it."""
        count = self.unseen
        label = f" {count} new message{'s' if count != 1 else ''} ↓   ctrl+end "
        style = self.base + self.style("conversation--unseen") + self.background("conversation--unseen")
        return Strip([Segment(label.center(width)[:width], style)], width)

    def render_line(self, y: int) -> Strip:
        width = self._wrap_width or self.scrollable_content_region.width
        if self.unseen and self._away and y == self.scrollable_content_region.height - 1:
            return self.unseen_bar(width)
        line_no = int(self.scroll_y) + y
        if line_no >= self._total or not self.rows:
            return Strip.blank(width, self.base)
        index = bisect_right(self._starts, line_no) - 1
        strips = self._strips(self.rows[index], width)
        offset = line_no - self._starts[index]
        if offset >= len(strips):  # the row grew since layout (rare): relayout next frame
            self.call_later(self._layout_rows)
            return Strip.blank(width, self.base)
        strip = strips[offset]
        return strip if strip.cell_length == width else strip.crop_extend(0, width, self.base)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < 2 and old_value >= new_value:
            self._maybe_need_older()
        self._maybe_fill_gaps()
        self._set_away(new_value < self.max_scroll_y - 1)
        self.post_message(self.Viewed())

    def _check_edges(self) -> None:
        self._maybe_need_older()
        self._maybe_fill_gaps()
        self.post_message(self.Viewed())

    def _maybe_need_older(self) -> None:
        conv = self.conversation
        if conv is None or conv.loading or not conv.more:
            return
        if self.scroll_y < 2 or self.max_scroll_y == 0:
            self.post_message(self.NeedOlder(conv.address))

    def _maybe_fill_gaps(self) -> None:
        """A gap on screen is to be loaded: from below when the user reads
        down towards it (it is in the lower half, or the selected message
        is above it, or this is the very top), else from above."""
        conv = self.conversation
        if conv is None or not conv.gaps or not self.rows:
            return
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = int(self.scroll_y)
        first = max(0, bisect_right(self._starts, top) - 1)
        last = min(len(self.rows), bisect_right(self._starts, top + height - 1))
        selected = self._index_of.get(self.selected) if self.selected is not None else None
        for index in range(first, last):
            row = self.rows[index]
            if row.kind == "gap" and not row.item.loading:
                downward = (
                    self._starts[index] - top >= height // 2
                    or top == 0
                    or (selected is not None and selected < index and self._starts[selected] >= top)
                )
                self.post_message(self.NeedGap(conv.address, row.item.hi, downward))
