"""The search panel (ctrl+f, or /search words): results come in as you
type, each with its conversation, author, time and the matching words
highlighted; Enter goes to the message, escape back to where you were.

Typing never waits for the network: each change restarts a short timer,
and the search itself runs in a worker (a newer one cancels the older);
an answer to anything but the latest query is dropped. Results are other
people's messages: built as literal Content (text.py), never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.cells import cell_len
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.screen import ModalScreen
from textual.style import Style
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ...protocol import limits
from ...protocol.client import Requests, SearchPage
from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ...protocol.messages import Message
from ..search import FILTER_HELP, QueryError, SearchQuery, match_spans, parse_query
from ..text import cut, literal, literal_content, shown
from ..timeline import is_action
from ..widgets.rows import sender_colour

DEBOUNCE_S = 0.25
MORE_AT = 3  # fetch the next page when the highlight is this close to the end
SNIPPET_LEAD = 12  # characters kept (at least) before the first match when a text is cut


@dataclass
class SearchDone(TextualMessage):
    generation: int
    query: SearchQuery
    page: SearchPage | None
    error: BaseException | None
    more: bool  # a further page of the same search


def when(ts: int, now: float, tz: tzinfo | None) -> str:
    """A result's time: the hour today, the day this year, else the date."""
    at = datetime.fromtimestamp(ts / 1000, tz)
    today = datetime.fromtimestamp(now, tz).date()
    if at.date() == today:
        return at.strftime("%H:%M")
    if at.year == today.year:
        return f"{at.day} {at:%b} {at:%H:%M}"
    return f"{at.day} {at:%b} {at.year}"


def snippet(text: str, terms: list[str], cells: int) -> Content:
    """One line of a result's text with its matches highlighted, starting a
    little before the first match when the whole does not fit."""
    flat = text.replace("\n", " ").replace("\t", " ")  # one character for one: offsets hold
    spans = match_spans(flat, terms)
    start = 0
    lead = max(SNIPPET_LEAD, cells // 3)
    if spans and spans[0][0] > lead and cell_len(flat) > cells:
        space = flat.rfind(" ", 0, spans[0][0] - lead)  # start at a word
        start = space + 1 if space >= 0 else spans[0][0] - lead
    shown_text = ("…" if start else "") + shown(flat[start:])
    shift = 1 - start if start else 0
    content = Content(shown_text)
    for a, b in spans:
        if b + shift > 0:
            content = content.stylize(Style(bold=True, reverse=True), max(0, a + shift), b + shift)
    limit = len(cut(shown_text, cells))
    if limit < len(shown_text):
        content = content[: max(0, limit - 1)] + Content("…")
    return content


class SearchScreen(ModalScreen[Message | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "back", show=False),
        Binding("down", "results('cursor_down')", "next result", show=False),
        Binding("up", "results('cursor_up')", "previous result", show=False),
        Binding("pagedown", "results('page_down')", "page down", show=False),
        Binding("pageup", "results('page_up')", "page up", show=False),
    ]

    def __init__(
        self, link: Requests | None, *, query: str = "", clock: Callable[[], float], tz: tzinfo | None = None
    ) -> None:
        super().__init__()
        self.link = link
        self.initial = query
        self.clock = clock
        self.tz = tz
        self.results: list[Message] = []
        self.status = ""
        self._query: SearchQuery | None = None
        self._next: str | None = None
        self._generation = 0
        self._timer: Timer | None = None
        self._fetching = False

    def compose(self) -> ComposeResult:
        with Vertical(id="search"):
            yield Input(
                value=self.initial,
                placeholder="Search messages…   from:bob in:#ops before:2026-11-30",
                max_length=limits.SEARCH_QUERY_MAX + 120,  # room for filters
                id="search-input",
            )
            yield Label(id="search-status")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self.query_one("#search", Vertical).border_title = "Search"
        results = self.query_one(OptionList)
        results.can_focus = False  # typing stays in the input; up/down move the highlight
        self.query_one(Input).focus()
        if self.initial:
            self._start()
        else:
            self._say(f"Type to search your conversations · {FILTER_HELP}")

    # --- typing ----------------------------------------------------------------------

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self._start)

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        results = self.query_one(OptionList)
        if results.highlighted is not None and results.highlighted < len(self.results):
            self.dismiss(self.results[results.highlighted])
        else:
            self._start()

    def _start(self) -> None:
        """Search for what is typed now."""
        self._timer = None
        self._generation += 1
        line = self.query_one(Input).value
        if not line.strip():
            self._show([], None)
            self._say(f"Type to search your conversations · {FILTER_HELP}")
            return
        try:
            query = parse_query(line, tz=self.tz, today=datetime.fromtimestamp(self.clock(), self.tz).date())
        except QueryError as exc:
            self._say(str(exc), error=True)
            return
        if not query.terms:
            self._say("type a word to search for, as well as the filters", error=False)
            return
        if self.link is None:
            self._say("not connected", error=True)
            return
        self._query = query
        self._say("searching…")
        self._search(self._generation, query, None)

    @work(group="search", exclusive=True)
    async def _search(self, generation: int, query: SearchQuery, page: str | None) -> None:
        link = self.link
        assert link is not None
        try:
            found = await link.search(
                query.text, conv=query.conv, sender=query.sender, before=query.before, after=query.after, page=page
            )
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(SearchDone(generation, query, None, exc, page is not None))
            return
        self.post_message(SearchDone(generation, query, found, None, page is not None))

    def on_search_done(self, message: SearchDone) -> None:
        if message.generation != self._generation:
            return  # an answer to something no longer typed
        self._fetching = False
        if message.error is not None:
            self.show_failure(message.error, keep=message.more)
        else:
            assert message.page is not None
            self.show_page(message.query, message.page, more=message.more)

    def show_page(self, query: SearchQuery, page: SearchPage, *, more: bool = False) -> None:
        """Show a page of results for `query` (`more`: after those shown)."""
        self._query = query
        found = self.results + page.results if more else page.results
        self._show(found, page.next)
        if not found:
            filters = f" ({' '.join(query.filters)})" if query.filters else ""
            self._say(f"no messages match “{query.text}”{filters}")
        else:
            count = f"{len(found)}+" if page.next else str(len(found))
            self._say(f"{count} result{'s' if len(found) != 1 else ''} · ↑↓ choose · enter goes there · esc back")

    def show_failure(self, error: BaseException, *, keep: bool = False) -> None:
        """Say why the search failed (`keep`: the results shown stay)."""
        self._say(self._failure(error), error=True)
        if not keep:
            self._show([], None)

    @staticmethod
    def _failure(error: BaseException) -> str:
        if isinstance(error, ServerError):
            if error.code == ErrorCode.UNAVAILABLE:
                return f"search is not available on this server right now: {error.message}"
            if error.code == ErrorCode.UNKNOWN_TYPE:
                return "this server does not offer search"
            return error.message
        return "not connected; search again once the link is back"

    # --- results ------------------------------------------------------------------------

    def _say(self, text: str, error: bool = False) -> None:
        self.status = text
        label = self.query_one("#search-status", Label)
        label.update(literal(text))
        label.set_class(error, "-error")

    def _show(self, results: list[Message], nxt: str | None) -> None:
        options = self.query_one(OptionList)
        keep = options.highlighted if results[: len(self.results)] == self.results else None
        self.results = results
        self._next = nxt
        terms = self._query.terms if self._query else []
        width = max(20, options.scrollable_content_region.width - 4 or self.size.width - 8)
        options.clear_options()
        options.add_options(Option(self._prompt(m, terms, width), id=str(n)) for n, m in enumerate(results))
        if results:
            options.highlighted = keep if keep is not None else 0

    def _prompt(self, message: Message, terms: list[str], width: int) -> Content:
        head = Content.assemble(
            literal_content(message.conv).stylize(Style(bold=True)),
            "  ",
            literal_content(message.sender).stylize(Style.parse(sender_colour(message.sender))),
            "  ",
            Content(when(message.ts, self.clock(), self.tz)).stylize(Style(dim=True)),
        )
        text = message.text[4:] if is_action(message.text) else message.text
        return Content.assemble(head, "\n  ", snippet(text, terms, width - 2))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if (
            self._next
            and not self._fetching
            and self._query is not None
            and event.option_index >= len(self.results) - MORE_AT
        ):
            self._fetching = True
            self._search(self._generation, self._query, self._next)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_index < len(self.results):
            self.dismiss(self.results[event.option_index])

    def action_results(self, move: str) -> None:
        getattr(self.query_one(OptionList), f"action_{move}")()

    def action_close(self) -> None:
        self.dismiss(None)
