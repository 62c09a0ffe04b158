"""What a line typed in the search panel asks for, and which words of a
result to highlight. Pure: the panel (screens/search.py) runs the search.

Filters are typed among the words, as in most chat clients:
`from:bob in:#ops before:2026-11-30 after:2026-11-01 on:2026-11-15`.
Dates are days in the local time zone; `before:` and `after:` leave the
day itself out (both are exclusive on the wire), `on:` is that day.
Matching is the server's (PROTOCOL-EXTENSIONS.md); the highlight follows
the same rules: a word matches the start of a word, any case; a quoted
phrase matches as a phrase; Chinese or Japanese text matches anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from ..protocol import limits
from ..protocol.address import ROOM_SIGIL, USER_SIGIL, Address, bare_room

FILTER_HELP = "from:USER in:#ROOM before:YYYY-MM-DD after:YYYY-MM-DD on:YYYY-MM-DD"
_TOKEN = re.compile(r'"[^"]*"?|\S+')
# Scripts written without spaces between words: found by any substring.
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")


class QueryError(ValueError):
    """A filter that cannot be read; the message says what to type."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str  # the words, as sent to the server
    conv: str | None = None
    sender: str | None = None
    before: int | None = None
    after: int | None = None
    filters: tuple[str, ...] = ()  # as typed, to say what was searched

    @property
    def terms(self) -> list[str]:
        """The words and quoted phrases of `text`."""
        out = []
        for token in _TOKEN.findall(self.text):
            term = token.strip('"').strip()
            if term:
                out.append(term)
        return out


def _day(value: str, name: str, today: date) -> date:
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{name}: takes a day, like {name}:2026-11-30") from None


def _start_ms(day: date, tz: tzinfo | None) -> int:
    start = datetime.combine(day, time(), tzinfo=tz)
    if tz is None:
        start = start.astimezone()  # local time
    return int(start.timestamp() * 1000)


def parse_query(line: str, *, tz: tzinfo | None = None, today: date | None = None) -> SearchQuery:
    """The search a typed line asks for; raises QueryError with what to type."""
    today = today or datetime.now(tz).date()
    words: list[str] = []
    filters: list[str] = []
    conv = sender = None
    before = after = None
    for token in _TOKEN.findall(line):
        name, sep, value = token.partition(":")
        name = name.lower()
        if not sep or token.startswith('"') or name not in ("from", "in", "before", "after", "on"):
            words.append(token)
            continue
        if not value:
            raise QueryError(f"{name}: needs a value ({FILTER_HELP})")
        filters.append(token)
        if name == "from":
            sender = limits.normalize_username(value.removeprefix(USER_SIGIL))
            if sender is None:
                raise QueryError(f"from: takes a username, like from:bob ({limits.USERNAME_RULE})")
        elif name == "in":
            conv = _conversation(value)
        elif name == "before":
            before = _start_ms(_day(value, name, today), tz)
        elif name == "after":
            after = _start_ms(_day(value, name, today) + timedelta(days=1), tz) - 1
        else:
            day = _day(value, name, today)
            after, before = _start_ms(day, tz) - 1, _start_ms(day + timedelta(days=1), tz)
    text = " ".join(words)
    if len(text) > limits.SEARCH_QUERY_MAX:
        raise QueryError(f"a search has at most {limits.SEARCH_QUERY_MAX} characters")
    return SearchQuery(text, conv, sender, before, after, tuple(filters))


def _conversation(value: str) -> str:
    if value.startswith(USER_SIGIL):
        name = limits.normalize_username(value[1:])
        if name is None:
            raise QueryError(f"in:@ takes a username, like in:@bob ({limits.USERNAME_RULE})")
        return Address.user(name)
    room = limits.normalize_room(bare_room(value))
    if room is None:
        raise QueryError(f"in: takes a room or a person, like in:{ROOM_SIGIL}ops or in:@bob")
    return Address.room(room)


def match_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Where `terms` match in `text`, as (start, end) offsets, merged and in
    order: a word matches the word of the text it starts (the whole word is
    highlighted), a phrase its words in order, unspaced text anywhere."""
    spans: list[tuple[int, int]] = []
    for term in terms:
        if _UNSPACED.search(term):
            pattern = re.escape(term)
        else:
            words = [re.escape(w) for w in term.split()]
            pattern = r"(?<!\w)" + r"\W+".join(words) + r"\w*"
        spans.extend(m.span() for m in re.finditer(pattern, text, re.IGNORECASE) if m.end() > m.start())
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
