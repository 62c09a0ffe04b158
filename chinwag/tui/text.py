"""The one way a string from another party reaches the screen.

Display names, usernames, room names, message text, server error lines:
anything the client did not write itself goes through `shown()` (and the
`literal*` helpers built on it) before a widget draws it, so that

- it is never parsed as markup: Textual parses a plain `str` given to
  `Static`, `Label`, `notify`, tooltips and the command palette's prompts and
  help lines, where `[/]` raises MarkupError (ending the app) and `[AFK]`
  silently disappears; Rich `Text` and Textual `Content` built here are
  literal;
- no control character reaches the terminal: C0 controls (ESC among them)
  are drawn as their Unicode control pictures (U+241B ␛ for ESC, ␇ for BEL),
  DEL as ␡, and the C1 controls (U+0080-U+009F, which some terminals obey as
  8-bit CSI, OSC...), the bidirectional embeddings, overrides and isolates
  (U+202A-U+202E, U+2066-U+2069, which can make a line read differently from
  what it says) and the line/paragraph separators as U+FFFD �. Every
  placeholder is one character in place of one, so offsets (search
  highlights) stay valid. The stored text is never changed: this is for
  display only.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.fuzzy import Matcher

REPLACEMENT = "\ufffd"
# What never reaches the terminal as itself, in one place (a regex class body):
# the C0 controls but tab and newline, DEL and the C1 controls, the Unicode line
# and paragraph separators, and the bidi embeddings, overrides and isolates.
# Tab and newline are unsafe too except inside a message's lines.
UNSAFE_CLASS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\t\n{UNSAFE_CLASS}]")
_UNSAFE_IN_LINES = re.compile(f"[{UNSAFE_CLASS}]")


def placeholder(ch: str) -> str:
    """What is drawn instead of the control character `ch`."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return REPLACEMENT


def _sub(match: re.Match[str]) -> str:
    return placeholder(match.group())


def shown(text: str, *, lines: bool = False) -> str:
    """`text` as it may be drawn: each control character replaced by its
    placeholder. With `lines`, newlines stay line breaks and tabs become
    spaces (message bodies); otherwise both are placeholders too (names,
    titles, one-line labels)."""
    if lines:
        return _UNSAFE_IN_LINES.sub(_sub, text.expandtabs(4))
    return _UNSAFE.sub(_sub, text)


def cut(text: str, cells: int) -> str:
    """The longest start of `text` that fits in `cells` columns, cut between
    graphemes as Rich measures them (a wide character counts two, a
    combining mark none, an emoji ZWJ sequence two)."""
    if cell_len(text) <= cells:
        return text
    if cells <= 0:
        return ""
    return chop_cells(text, cells)[0]


def literal(text: str, style: str | Style = "", *, lines: bool = False, end: str = "") -> Text:
    """Rich Text that shows `text` as typed (never markup), controls replaced."""
    return Text(shown(text, lines=lines), style=style, end=end)


def literal_content(text: str, *, lines: bool = False) -> Content:
    """Textual Content that shows `text` as typed (never markup), controls
    replaced: for the places that would parse a plain `str` as markup
    (command palette hits and help lines, toasts, tooltips)."""
    return Content(shown(text, lines=lines))


def highlighted(matcher: Matcher, text: str) -> Content:
    """`Matcher.highlight` without parsing `text` as markup: the literal text
    with the fuzzy match's letters in the matcher's style."""
    content = literal_content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if not score:
        return content
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
