"""Desktop notifications through the terminal (chinwag/tui/desktop_notify.py):
the sequence each terminal gets, wrapped for tmux inside tmux, and other
people's text never able to end the sequence and drive the terminal."""

from __future__ import annotations

import pytest

from chinwag.tui.desktop_notify import (
    BEL,
    ESC,
    clean,
    for_tmux,
    highlight_hit,
    method_for,
    notification,
    sequence,
    should_notify,
)


@pytest.mark.parametrize(
    ("env", "method"),
    [
        ({"TERM": "xterm-kitty"}, "osc99"),
        ({"TERM": "tmux-256color", "TMUX": "/tmp/x", "KITTY_WINDOW_ID": "1"}, "osc99"),
        ({"TERM_PROGRAM": "iTerm.app"}, "osc9"),
        ({"TERM_PROGRAM": "tmux", "LC_TERMINAL": "iTerm2"}, "osc9"),
        ({"WT_SESSION": "x", "TERM": "xterm-256color"}, "osc9"),
        ({"TERM_PROGRAM": "WezTerm"}, "osc9"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM": "rxvt-unicode-256color"}, "osc777"),
        ({"TERM_PROGRAM": "ghostty"}, "osc777"),
        ({"VTE_VERSION": "7600", "TERM": "xterm-256color"}, "osc777"),
        ({"TERM": "xterm-256color"}, "bell"),
        ({}, "bell"),
    ],
)
def test_the_method_follows_the_terminal(env: dict[str, str], method: str) -> None:
    assert method_for(env) == method


def test_the_sequences() -> None:
    assert sequence("osc9", "bob", "hi") == f"{ESC}]9;bob: hi{BEL}"
    assert sequence("osc777", "bob; in #ops", "hi; there") == f"{ESC}]777;notify;bob, in #ops;hi; there{BEL}"
    assert sequence("osc99", "bob", "hi") == f"{ESC}]99;i=1:d=0;bob{ESC}\\{ESC}]99;i=1:d=1:p=body;hi{ESC}\\"
    assert sequence("bell", "bob", "hi") == BEL
    assert sequence("off", "bob", "hi") == ""


def test_inside_tmux_the_sequence_is_wrapped_for_passthrough_and_the_bell_is_not() -> None:
    env = {"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color", "LC_TERMINAL": "iTerm2"}
    wrapped = notification(env, "bob", "hi")
    assert wrapped == f"{ESC}Ptmux;{ESC}{ESC}]9;bob: hi{BEL}{ESC}\\"
    assert notification({"TMUX": "x"}, "bob", "hi") == BEL
    assert notification({"TERM": "foot"}, "bob", "hi", method="off") == ""
    osc99 = for_tmux(sequence("osc99", "t", "b"))
    assert osc99.count(ESC + ESC) == 4, "every ESC inside is doubled"


@pytest.mark.parametrize("method", ["osc9", "osc777", "osc99"])
def test_hostile_text_cannot_end_the_sequence(method: str) -> None:
    evil = f"x{BEL}{ESC}]52;c;cm0gLXJmIH4={BEL}{ESC}[2J\x9b31m\u202eevil\u2028line\n2"
    seq = sequence(method, evil, evil)
    inner = seq[:-1] if seq.endswith(BEL) else seq
    assert BEL not in inner.replace(f"{ESC}\\", ""), "no BEL but the terminator"
    assert seq.count(ESC) == (4 if method == "osc99" else 1), "no ESC but the sequence's own"
    assert "\x9b" not in seq and "\u202e" not in seq and "\n" not in seq and "\u2028" not in seq


def test_text_is_cut_short_on_one_line() -> None:
    assert clean("a\n\n b\tc", 100) == "a b c"
    long = clean("x" * 500, 200)
    assert len(long) == 200 and long.endswith("…")


def test_when_a_message_notifies() -> None:
    room = {"direct": False, "mentioned": False, "highlighted": False}
    away = {"focused": False, "open_here": True}
    assert not should_notify("mentions", **room, **away), "a room message that is not about you"
    assert should_notify("mentions", **{**room, "mentioned": True}, **away)
    assert should_notify("mentions", **{**room, "highlighted": True}, **away)
    assert should_notify("all", **room, **away)
    assert not should_notify("none", **{**room, "mentioned": True}, **away)
    assert should_notify("all", direct=True, mentioned=False, highlighted=False, focused=True, open_here=False)
    assert not should_notify("all", direct=True, mentioned=True, highlighted=True, focused=True, open_here=True), (
        "never while you are looking at it"
    )


def test_highlight_keywords_match_whole_words_ignoring_case() -> None:
    assert highlight_hit("the DEPLOY failed", ("deploy",))
    assert not highlight_hit("redeployed", ("deploy",))
    assert highlight_hit("c++ is fine", ("c++",))
    assert not highlight_hit("anything", ())
