"""Desktop notifications through the terminal, so they work over SSH and
inside tmux: the escape sequence a terminal turns into a notification, as
pure data. Which one depends on the terminal, read from the environment:

- OSC 99 (kitty): `ESC ] 99 ; ; body ESC \\`, with the title as a first part;
- OSC 777 (foot, rxvt-unicode, Ghostty, VTE terminals such as GNOME
  Terminal): `ESC ] 777 ; notify ; title ; body BEL`;
- OSC 9 (iTerm2, WezTerm, Windows Terminal): `ESC ] 9 ; text BEL`;
- otherwise the bell (BEL), which every terminal does something with.

Inside tmux the sequence is wrapped for passthrough (`ESC P tmux; ...
ESC \\`, every ESC inside doubled); tmux 3.3+ passes it on only with
`set -g allow-passthrough on`, and rings its own bell otherwise. The
variables that name the outer terminal (LC_TERMINAL, TERM_PROGRAM before
tmux replaced it, KITTY_WINDOW_ID, VTE_VERSION, WT_SESSION) survive tmux,
so the choice is made from them first.

Title and body come from other people: every control character (ESC and
BEL would end the sequence early and let the rest drive the terminal), bidi
control and line separator is dropped, `;` in a title becomes `,` (it
separates OSC 777's fields), and both are cut short.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..protocol import limits
from .text import UNSAFE_CLASS

METHODS = ("auto", "osc9", "osc777", "osc99", "bell", "off")
ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
TITLE_MAX, BODY_MAX = 60, 200
# the text's unsafe characters, and the bidi marks too: an escape sequence's text has no direction to keep
_UNSAFE = re.compile(f"[\t\n\u200e\u200f{UNSAFE_CLASS}]+")


def method_for(env: Mapping[str, str]) -> str:
    """The notification this terminal understands, from its environment."""
    program = env.get("TERM_PROGRAM", "")
    term = env.get("TERM", "")
    if "KITTY_WINDOW_ID" in env or term == "xterm-kitty":
        return "osc99"
    if env.get("LC_TERMINAL") == "iTerm2" or program == "iTerm.app" or "WT_SESSION" in env:
        return "osc9"
    if program == "WezTerm" or "WEZTERM_PANE" in env:
        return "osc9"
    if program == "ghostty" or term in ("xterm-ghostty", "foot") or term.startswith(("foot-", "rxvt-unicode")):
        return "osc777"
    if "VTE_VERSION" in env:
        return "osc777"
    return "bell"


def in_tmux(env: Mapping[str, str]) -> bool:
    return bool(env.get("TMUX"))


def clean(text: str, most: int) -> str:
    """Someone else's text, safe inside an escape sequence: one line, no
    control characters, at most `most` characters (an ellipsis if cut)."""
    flat = " ".join(_UNSAFE.sub(" ", text).split())
    return flat if len(flat) <= most else flat[: most - 1] + "…"


def sequence(method: str, title: str, body: str) -> str:
    """The bytes (as str) that ask the terminal for a notification; "" for
    `off`. `method` is one of METHODS other than `auto` (see method_for)."""
    title = clean(title, TITLE_MAX).replace(";", ",")
    body = clean(body, BODY_MAX)
    if method == "osc99":
        return f"{ESC}]99;i=1:d=0;{title}{ST}{ESC}]99;i=1:d=1:p=body;{body}{ST}"
    if method == "osc777":
        return f"{ESC}]777;notify;{title};{body}{BEL}"
    if method == "osc9":
        return f"{ESC}]9;{title}: {body}{BEL}"
    if method == "bell":
        return BEL
    return ""


def for_tmux(seq: str) -> str:
    """A sequence wrapped for tmux's passthrough; the bell needs none."""
    if not seq or seq == BEL:
        return seq
    return f"{ESC}Ptmux;{seq.replace(ESC, ESC + ESC)}{ST}"


def notification(env: Mapping[str, str], title: str, body: str, method: str = "auto") -> str:
    """What to write to the terminal for one notification."""
    chosen = method_for(env) if method == "auto" else method
    seq = sequence(chosen, title, body)
    return for_tmux(seq) if in_tmux(env) else seq


def should_notify(
    level: str, *, direct: bool, mentioned: bool, highlighted: bool, focused: bool, open_here: bool
) -> bool:
    """Whether a message notifies: never while you are looking at it (the
    terminal focused and its conversation open); otherwise by the
    conversation's level (`all`: every message; `mentions`: a direct
    message, a mention of you, or a highlight keyword; `none`: nothing)."""
    if focused and open_here:
        return False
    if level == limits.NOTIFY_NONE:
        return False
    if level == limits.NOTIFY_ALL:
        return True
    return direct or mentioned or highlighted


def highlight_hit(text: str, words: tuple[str, ...]) -> bool:
    """Whether a highlight keyword occurs in `text` as a whole word, ignoring case."""
    folded = text.casefold()
    return any(re.search(rf"(?<!\w){re.escape(w.casefold())}(?!\w)", folded) for w in words if w)
