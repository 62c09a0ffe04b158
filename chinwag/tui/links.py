"""Links in messages: found in the text, drawn as terminal hyperlinks
(OSC 8), opened or copied on request. Only http, https and mailto are ever
made clickable; anything else stays text.

A URL ends at whitespace, a quote or an angle bracket, and never holds a
control character or a bidi control (the URL goes inside an escape
sequence, and must not be able to end it or hide what it points to).
Trailing punctuation that ends a sentence is not part of it, and a closing
bracket without its opening one ends it: "(see https://x.org/a_(b))." links
`https://x.org/a_(b)`, and "[link=https://x.org]text[/link]" links
`https://x.org`.

The whole URL is one style with one link id, so a URL the log wraps onto
several lines is still one link: the terminal joins cells of the same id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from .text import UNSAFE_CLASS

SCHEMES = ("http://", "https://", "mailto:")
# the text's unsafe characters (text.py), the bidi marks, whitespace, quotes and angle brackets end a URL
_URL = re.compile(rf"(?:https?://|mailto:)[^\s<>\"'`\u200e\u200f{UNSAFE_CLASS}]+", re.IGNORECASE)
_TRAILING = ".,;:!?*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class Link:
    start: int
    end: int
    url: str


def _trim(url: str) -> str:
    depth = dict.fromkeys(_PAIRS.values(), 0)
    for at, char in enumerate(url):
        if char in depth:
            depth[char] += 1
        elif char in _PAIRS:
            if depth[_PAIRS[char]] == 0:
                url = url[:at]  # closes a bracket opened before the URL: the URL ended
                break
            depth[_PAIRS[char]] -= 1
    return url.rstrip(_TRAILING)


def find_links(text: str) -> list[Link]:
    """Every link in `text`, in order."""
    out: list[Link] = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        scheme_only = url.lower() in SCHEMES
        if url and not scheme_only:
            out.append(Link(match.start(), match.start() + len(url), url))
    return out


def linkify(text: Text, source: str, style: Style | None = None) -> Text:
    """`text` (drawn from `source`, one character for one) with each link
    of `source` made a hyperlink."""
    for link in find_links(source):
        text.stylize(Style(link=link.url) + (style or Style(underline=True)), link.start, link.end)
    return text


def first_link(text: str) -> str | None:
    links = find_links(text)
    return links[0].url if links else None
