"""The sidebar: invitations waiting (if any), rooms (lobby first), then
people with a presence dot, each with its unread badge and, apart, its
mention count. A small line-API widget: it
redraws from a list of `SidebarEntry` and never takes focus from the composer.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...protocol.address import ROOM_SIGIL
from ..state import SidebarEntry
from ..text import cut, shown
from .strips import text_strip


class Sidebar(ScrollView, can_focus=False):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "sidebar--heading",
        "sidebar--current",
        "sidebar--unread",
        "sidebar--read",
        "sidebar--badge",
        "sidebar--mention",
        "sidebar--online",
        "sidebar--offline",
        "sidebar--room",
        "sidebar--invitation",
        "sidebar--away",
    }

    class Selected(Message):
        """A row was clicked: a conversation to open, or an invitation to answer."""

        def __init__(self, address: str, invitation: bool = False) -> None:
            super().__init__()
            self.address = address
            self.invitation = invitation

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[SidebarEntry] = []
        self.current = ""
        self._rows: list[SidebarEntry | str] = []
        self._cache: dict[int, Strip] = {}

    def update(self, entries: list[SidebarEntry], current: str) -> None:
        if entries == self.entries and current == self.current:
            return
        self.entries, self.current = entries, current
        rows: list[SidebarEntry | str] = []
        invitations = [e for e in entries if e.section == "invitations"]
        if invitations:
            rows.append("Invitations")
            rows.extend(invitations)
            rows.append("")
        rows.append("Rooms")
        rows.extend(e for e in entries if e.section == "rooms")
        people = [e for e in entries if e.section == "people"]
        rows.append("")
        rows.append("People")
        rows.extend(people or ["nobody else is online"])
        self._rows = rows
        self._cache.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows))
        self._scroll_to_current()
        self.refresh()

    def _scroll_to_current(self) -> None:
        for y, row in enumerate(self._rows):
            if isinstance(row, SidebarEntry) and row.address == self.current:
                height = self.scrollable_content_region.height
                if height and not self.scroll_y <= y < self.scroll_y + height:
                    self.scroll_to(y=max(0, y - height // 2), animate=False, immediate=True)
                return

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def on_resize(self) -> None:
        self._cache.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)  # rows start below the top padding
        if offset is None:
            return
        y = offset.y + int(self.scroll_y)
        if 0 <= y < len(self._rows):
            row = self._rows[y]
            if isinstance(row, SidebarEntry):
                self.post_message(self.Selected(row.address, row.section == "invitations"))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = y + int(self.scroll_y)
        base = self.rich_style
        if index >= len(self._rows):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None or strip.cell_length != width:
            strip = self._cache[index] = self._render_row(self._rows[index], width, base)
        return strip

    def _fg(self, name: str) -> Style:
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bold=full.bold, italic=full.italic, dim=full.dim)

    def _render_row(self, row: SidebarEntry | str, width: int, base: Style) -> Strip:
        fg = self._fg
        if isinstance(row, str):
            heading = row in ("Invitations", "Rooms", "People")
            text = Text(" " + row, style=base + fg("sidebar--heading" if heading else "sidebar--read"), end="")
            text.truncate(width)
            return text_strip(text, self.app.console).extend_cell_length(width, base)
        current = row.address == self.current
        line_style = base
        if current:
            line_style = base + Style(bgcolor=self.get_component_rich_style("sidebar--current").bgcolor)
        if row.section == "invitations":
            return self._render_invitation(row, width, line_style)
        if row.section == "rooms":
            mark = Text(ROOM_SIGIL, style=fg("sidebar--room"))
        elif row.online and row.away:
            mark = Text("◐", style=fg("sidebar--away"))
        elif row.online:
            mark = Text("●", style=fg("sidebar--online"))
        else:
            mark = Text("○", style=fg("sidebar--offline"))
        name_style = fg("sidebar--unread" if row.unread or row.mentions else "sidebar--read")
        badge = Text()
        if row.unread:
            badge.append(str(row.unread) if row.unread < 1000 else "999+", style=fg("sidebar--badge"))
        if row.mentions:
            badge.append((" " if row.unread else "") + f"@{row.mentions}", style=fg("sidebar--mention"))
        room_for_name = width - 4 - (cell_len(badge.plain) + 1 if badge.plain else 0)
        label = shown(row.label)
        name = label if cell_len(label) <= room_for_name else cut(label, max(1, room_for_name - 1)) + "…"
        text = Text.assemble(" ", mark, " ", (name, name_style), style=line_style, end="")
        if badge.plain:
            gap = max(1, width - cell_len(text.plain) - cell_len(badge.plain) - 1)
            text.append(" " * gap)
            text.append_text(badge)
        return text_strip(text, self.app.console).crop_extend(0, width, line_style)

    def _render_invitation(self, row: SidebarEntry, width: int, line_style: Style) -> Strip:
        """` ✉ #room · bob`: the room and who invited (both other people's words, cut to fit)."""
        fg = self._fg
        room = shown(ROOM_SIGIL + row.label)
        by = shown(row.detail)
        room_for_name = max(1, width - 4)
        if cell_len(room) > room_for_name:
            room, by = cut(room, max(1, room_for_name - 1)) + "…", ""
        text = Text.assemble(
            " ", ("✉", fg("sidebar--invitation")), " ", (room, fg("sidebar--unread")), style=line_style, end=""
        )
        space = width - cell_len(text.plain) - 4
        if by and space >= 2:
            by = by if cell_len(by) <= space else cut(by, space - 1) + "…"
            text.append(" · " + by, style=fg("sidebar--read"))
        return text_strip(text, self.app.console).crop_extend(0, width, line_style)
