"""Property test: whatever another party's strings contain (markup, terminal
controls, bidi controls, combining pile-ups, wide and ZWJ characters,
4,000-character words), every widget that draws them shows them literally,
with only the control characters replaced by their placeholders, and nothing
raises.

One real app (the chat screen fed through its own event handler, as in
demo.py) renders every example; the examples are drawn by hypothesis in a
worker thread, each one run on the app's loop, so one app start serves all
of them. What is checked is read back from what the app draws: the screen's
composed strips cut to each widget's region, the palette's hits, the toast,
and the text the app would write to the terminal.
"""

from __future__ import annotations

import asyncio
import re
import signal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.command import CommandList
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import OptionList
from textual.widgets._toast import Toast

from chinwag.protocol.client import SearchPage
from chinwag.protocol.messages import ErrorEvent, Message, PresenceEvent, User
from chinwag.protocol.reconnect import ConnectionStateEvent
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.chat_messages import ServerEvents
from chinwag.tui.screens.confirm import ConfirmScreen
from chinwag.tui.screens.login import LoginScreen
from chinwag.tui.screens.search import SearchScreen
from chinwag.tui.search import parse_query
from chinwag.tui.state import ChatState
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.header import ConversationHeader
from chinwag.tui.widgets.sidebar import Sidebar
from chinwag.tui.widgets.status import ConnectionStatus

from .conftest import terminal_output, wait_for
from .demo import ME, NOW, snapshot_app

EXAMPLES = 25  # about a second each: the whole screen is composed and read back
NO_SHRINK = (Phase.explicit, Phase.generate)  # at a second an example, shrinking would take minutes
GUARD_S = 150  # this test's own hang guard (the root conftest's is 60 s)
SIZE = (200, 60)  # tall and wide enough that a 4,000-character message is all on screen

PIECES = [
    "[",
    "]",
    "[/]",
    "[b]",
    "[/b]",
    "[bold red]",
    "[AFK]",
    "[#ff0000]",
    "[$accent]",
    "$accent",
    "[link=https://evil.example]",
    "[/link]",
    "[@click=app.quit]",
    "[@click=app.bell]x[/]",
    "\\[b]",
    "\\",
    "[on red]",
    ":smile:",
    "\x1b",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\x1b]8;;x\x1b\\",
    "\x00",
    "\x07",
    "\x08",
    "\r",
    "\t",
    "\n",
    "\x7f",
    "\x80",
    "\x85",
    "\x9b",
    "\x9b31m",
    "\x9d",
    "\x9c",
    "\u2028",
    "\u202a",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200d",
    "\u200b",
    "\u200e",
    "\ufeff",
    "\u00ad",
    "e" + "\u0301\u0302\u0303\u0304\u0305" * 6,
    "\u0301",
    "文字化け",
    "\uff57\uff49\uff44\uff45",
    "👩\u200d👩\u200d👧\u200d👦",
    "🏳️\u200d🌈",
    "🇫🇷",
    "\U0001f600",
    " ",
    "  ",
    "x",
]
pieces = st.sampled_from(PIECES)
hostile = st.lists(st.one_of(pieces, st.text(max_size=6)), min_size=1, max_size=10).map("".join)
long_word = st.builds(
    lambda piece, n: (piece * n)[:4000], st.sampled_from(["a", "文", "[b]", "\x9b", "e\u0301"]), st.integers(500, 4000)
)
message_text = st.one_of(hostile, hostile, long_word).filter(lambda s: s.strip())
short = hostile.filter(lambda s: s.strip() and len(s) <= 64)
usernames = short.filter(lambda s: s != ME.username)

SENT = int(NOW * 1000) - 60_000
CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# The app's own hyperlinks (links.py): an http, https or mailto URL free of
# control characters, or the empty closing.
OSC8 = re.compile(r"\x1b\]8;(?:id=[0-9]+)?;((?:https?://|mailto:)[^\x00-\x1f\x7f-\x9f\x1b]*)?\x1b\\", re.IGNORECASE)


def expected(text: str, *, lines: bool = False) -> str:
    """The placeholders the TUI promises (docs/reliability.md), written out
    independently of chinwag/tui/text.py."""
    out = []
    for ch in text.expandtabs(4) if lines else text:
        code = ord(ch)
        if lines and ch == "\n":
            out.append(ch)
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code <= 0x9F or code in (0x2028, 0x2029) or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def squash(text: str) -> str:
    """Without whitespace: wrapping a long line may drop the spaces it breaks at."""
    return "".join(text.split())


def region_strips(app, widget) -> list[Strip]:
    """What the screen shows in `widget`'s content region, row by row (cut
    by columns, so wide characters count two)."""
    strips = app.screen._compositor.render_strips()
    region = widget.content_region
    return [strips[y].crop(region.x, region.right) for y in range(region.y, region.bottom)]


def region_lines(app, widget) -> list[str]:
    return [strip.text for strip in region_strips(app, widget)]


def fits_or_cut(visible: str, full: str) -> None:
    """`visible` is `full`, or its start when the widget is too narrow
    (ending in … where the widget says it cut)."""
    visible = visible.rstrip()
    if visible == full.rstrip():
        return
    start = visible[:-1] if visible.endswith("…") else visible
    assert full.startswith(start.rstrip()), (visible, full)


def palette_lines(app) -> list[str]:
    found = app.screen.query(CommandList)
    if not found:
        return []
    return [line for option in found.first().options for line in option.prompt.plain.split("\n")]


async def render_and_check(pilot: Pilot, username: str, display: str, text: str, error: str) -> None:
    app = pilot.app
    state = ChatState(ME)
    screen = ChatScreen(state, None, clock=app.clock, tz=app.tz)  # type: ignore[attr-defined]
    await app.switch_screen(screen)
    await pilot.pause()
    address = "@" + username
    screen.post_message(
        ServerEvents(
            [
                PresenceEvent(User(username, display), True),
                Message("1-0", address, username, text, SENT),
                ConnectionStateEvent("reconnecting", retry_in=5, detail=error),
            ]
        )
    )
    await pilot.pause()
    state.conversations[address].more = False
    screen.open(address)
    await pilot.pause()
    await pilot.pause()

    # The conversation: the sender's nick and the body, as typed.
    view = screen.query_one(ConversationView)
    rows = region_strips(app, view)
    prefix_w = view.prefix_width(view._width())
    stamp = view.time(SENT)
    first = next(i for i, row in enumerate(rows) if row.crop(1, 6).text == stamp)  # after the rules
    # The first row is " HH:MM ", the nick (bold, in the sender's colour),
    # a space and the body; the rows after it are an indent and the body.
    segments = list(rows[first])
    at = next(i for i, segment in enumerate(segments) if segment.style and segment.style.bold)
    fits_or_cut(segments[at].text.strip(), expected(username).strip())
    body = "".join(segment.text for segment in segments[at + 1 :])
    body += "".join(row.text[prefix_w:] for row in rows[first + 1 :])
    assert squash(body) == squash(expected(text, lines=True))

    # The sidebar: the person, by username.
    sidebar = screen.query_one(Sidebar)
    entry = next(line for line in region_lines(app, sidebar) if line.startswith(" ● "))
    fits_or_cut(entry[3:].rstrip(), expected(username))

    # The header: the address, the display name and the presence.
    title = screen.query_one(ConversationHeader).query_one("#title")
    full = f"@{expected(username)}" + (f"  {expected(display)} · online" if display != username else "  online")
    fits_or_cut(region_lines(app, title)[0], full)

    # The connection status' tooltip and the error toast: the server's words.
    status = screen.query_one(ConnectionStatus)
    if error:
        assert status.tooltip.plain == expected(error)  # type: ignore[union-attr]
    screen.post_message(ServerEvents([ErrorEvent("bad_request", error)]))
    toast = await wait_for(pilot, lambda: app.screen.query(Toast), what="the toast")
    assert toast.first().render().plain == expected(f"bad_request: {error}")

    # Nothing the app writes to the terminal is a control character other
    # than its own CSI sequences (colours, cursor moves) and hyperlinks.
    for written in (terminal_output(app),):
        rest = OSC8.sub("", CSI.sub("", written))
        assert not [
            ch
            for ch in rest
            if (ord(ch) < 0x20 and ch != "\n")
            or 0x7F <= ord(ch) <= 0x9F
            or 0x202A <= ord(ch) <= 0x202E
            or 0x2066 <= ord(ch) <= 0x2069
        ]

    # The ctrl+k switcher: the display name in the person's help line.
    screen.state.current = "#lobby"  # the switcher lists every conversation but the current
    app.action_command_palette()
    await wait_for(pilot, lambda: palette_lines(app), what="the switcher's hits")
    lines = palette_lines(app)
    helptext = f"{expected(display)} · online" if display != username else "online"
    assert f"● @{expected(username)}" in lines and helptext in lines, lines
    rest = OSC8.sub("", CSI.sub("", terminal_output(app)))
    assert not [ch for ch in rest if 0x80 <= ord(ch) <= 0x9F or ch in "\x07\x1b"]
    await pilot.press("escape")
    await pilot.pause()
    app.clear_notifications()

    # The login screen's error line, as after the server ended the session.
    login = LoginScreen("chat.example.org:7878", "alice", error or "x")
    await app.push_screen(login)
    await pilot.pause()
    assert login.query_one("#message").render().plain == expected(error or "x")
    app.pop_screen()
    await pilot.pause()


async def test_every_widget_shows_other_peoples_strings_literally(tmp_path) -> None:
    signal.alarm(GUARD_S)  # raises the root conftest's hang guard for this test alone
    app = snapshot_app(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        loop = asyncio.get_running_loop()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=NO_SHRINK,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(username=usernames, display=short, text=message_text, error=st.one_of(st.just(""), hostile))
        def check(username: str, display: str, text: str, error: str) -> None:
            future = asyncio.run_coroutine_threadsafe(render_and_check(pilot, username, display, text, error), loop)
            future.result(timeout=60)

        await asyncio.to_thread(check)
        assert app.is_running  # nothing raised inside the app either


def test_the_window_title_never_carries_a_control_character(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    app.set_window_title("(1) chinwag · \x07\x1b]0;evil\x9c")
    assert app.window_title == "(1) chinwag · \u2407\u241b]0;evil\ufffd"
    assert cell_len(app.window_title) == len(app.window_title)


UNSAFE_OUT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def no_controls(written: str) -> None:
    rest = OSC8.sub("", CSI.sub("", written))
    assert not UNSAFE_OUT.findall(rest), sorted(set(UNSAFE_OUT.findall(rest)))


async def test_quotes_reactions_drafts_and_search_results_show_strings_literally(tmp_path) -> None:
    """The places `messages` and `search` add: a reply's quote of a hostile
    message, reactions with hostile "emoji" (a server may send anything),
    the reply draft, the delete question and a search result."""
    hostile = "".join(PIECES[:40])
    name = "\x1b]0;x\x07[b]eve"
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(200, 60)) as pilot:
        state = ChatState(ME)
        state.features = frozenset({"messages", "read", "search"})
        screen = ChatScreen(state, None, clock=app.clock, tz=app.tz)
        await app.switch_screen(screen)
        await pilot.pause()
        parent = Message("1-0", "#lobby", name, hostile, SENT)
        reply = Message(
            "2-0",
            "#lobby",
            ME.username,
            "re",
            SENT + 1,
            reply_to="1-0",
            reactions={"\x1b[2J": (name,), "[b]x": ("alice",)},
        )
        screen.post_message(ServerEvents([parent, reply]))
        await pilot.pause()
        state.conversations["#lobby"].more = False
        screen.open("#lobby")
        await pilot.pause()
        lines = "\n".join(region_lines(app, screen.query_one(ConversationView)))
        assert expected("\x1b[2J") + " 1" in lines and "[b]x 1" in lines
        assert "╭ " + expected(name)[:8] in lines
        no_controls(terminal_output(app))

        await pilot.press("alt+k", "up", "r")  # reply to the hostile one
        await pilot.pause()
        draft = str(screen.query_one("#draft").render())
        assert "replying to " + expected(name) in draft
        no_controls(terminal_output(app))
        await pilot.press("escape", "alt+k", "up", "y")  # copying is the text as it is, not as shown
        assert app.clipboard == hostile

        app.push_screen(ConfirmScreen("Delete this message?", hostile, "Delete"))
        await pilot.pause()
        no_controls(terminal_output(app))
        app.pop_screen()

        search = SearchScreen(None, clock=app.clock, tz=app.tz)
        app.push_screen(search)
        await pilot.pause()
        search.show_page(parse_query("b"), SearchPage([parent], None))
        await pilot.pause()
        shown_lines = "\n".join(region_lines(app, search.query_one(OptionList)))
        assert expected(name) in shown_lines
        no_controls(terminal_output(app))
