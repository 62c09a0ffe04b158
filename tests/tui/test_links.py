"""Links in messages (chinwag/tui/links.py): what counts as a link and where
it ends, that only http, https and mailto are ever links, that nothing a
link holds can end its escape sequence, and that a wrapped link stays one."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.text import Text

from chinwag.tui.links import find_links, first_link, linkify


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://example.org/a?b=1#c.", ["https://example.org/a?b=1#c"]),
        ("(see https://en.wikipedia.org/wiki/Rust_(language)).", ["https://en.wikipedia.org/wiki/Rust_(language)"]),
        ("two: http://a.io, and HTTPS://B.IO!", ["http://a.io", "HTTPS://B.IO"]),
        ("mail mailto:ops@example.org?subject=x now", ["mailto:ops@example.org?subject=x"]),
        (
            '"https://quoted.example/x" <https://angle.example/y>',
            ["https://quoted.example/x", "https://angle.example/y"],
        ),
        ("javascript:alert(1) file:///etc/passwd ftp://x.org data:text/html,x", []),
        ("just https:// alone", []),
        ("[link=https://example.org]links[/link]", ["https://example.org"]),
        ("[see https://example.org/x]. {https://b.io/y}", ["https://example.org/x", "https://b.io/y"]),
        ("https://example.org/a_(b)_c/d), then", ["https://example.org/a_(b)_c/d"]),
        ("", []),
    ],
)
def test_what_is_a_link(text: str, urls: list[str]) -> None:
    assert [link.url for link in find_links(text)] == urls
    for link in find_links(text):
        assert text[link.start : link.end] == link.url


def test_a_control_or_bidi_character_ends_the_url() -> None:
    evil = "https://ok.example/\x1b]8;;https://evil.example\x1b\\ https://a.example/\u202etxt.exe"
    urls = [link.url for link in find_links(evil)]
    assert urls[0] == "https://ok.example/" and urls[-1] == "https://a.example/"
    assert all("\x1b" not in u and "\u202e" not in u for u in urls)


def test_a_wrapped_link_is_one_hyperlink() -> None:
    url = "https://example.org/" + "x" * 100
    source = f"look {url} ok"
    text = linkify(Text(source), source)
    console = Console(width=40, force_terminal=True, color_system="truecolor")
    with console.capture() as cap:
        console.print(text)
    out = cap.get()
    ids = {part.split(";")[0] for part in out.split("\x1b]8;id=")[1:]}
    assert len(ids) == 1, "every wrapped piece carries the same link id"
    assert out.count(f";{url}\x1b\\") >= 3, "the whole URL on every piece"
    assert first_link(source) == url and first_link("no links") is None
