"""Writing a message: several lines, pastes, tab completion, $EDITOR, the
notification commands and the key to reconnect now, against a real server
with another user's real client receiving what is sent."""

from __future__ import annotations

import sys
from pathlib import Path

from textual import events
from textual._xterm_parser import XTermParser

from chinwag.protocol import limits
from chinwag.protocol.messages import Message, NotifySettings
from chinwag.tui.widgets.composer import Composer, read_alt_enter

from ..support.events import next_of
from .conftest import log_in, log_lines, texts, wait_for

NOTIFY = [limits.FEATURE_NOTIFY]


async def next_from(client, sender: str) -> Message:
    while True:
        message = await next_of(client, Message)
        if message.sender == sender:
            return message


def composer_of(app) -> Composer:
    return app.screen.query_one(Composer)


def footer_keys(app) -> set[str]:
    return {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}


def test_the_key_reader_tells_alt_enter_from_enter() -> None:
    """ESC CR is what xterm and tmux send for alt+enter; Textual alone reads it as enter."""
    read_alt_enter()
    keys: list[str] = []
    parser = XTermParser()
    for token in parser.feed("a\x1b\rb\r"):
        if isinstance(token, events.Key):
            keys.append(token.key)
    assert keys == ["a", "alt+enter", "b", "enter"]


async def test_newline_keys_make_one_message_of_several_lines(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 36)) as pilot:
        chat = await log_in(pilot)
        composer = composer_of(app)
        assert "alt+enter" in footer_keys(app)  # the footer says how to start a new line
        await pilot.press(*"one", "alt+enter", *"two", "ctrl+j", *"three", "shift+enter", *"four")
        assert composer.value == "one\ntwo\nthree\nfour"
        await pilot.pause()
        assert composer.size.height == 4  # grown with its text
        for n in range(5, 12):
            await pilot.press("ctrl+j", *str(n))
        await pilot.pause()
        assert composer.size.height == 5  # a few lines, then it scrolls
        assert composer.max_scroll_y > 0
        await pilot.press("up")  # within the text, up moves the cursor: no recall, no selection
        assert composer.cursor_location == (9, 2) and app.focused is composer
        await pilot.press("end", "down")
        await pilot.press("enter")
        got = await next_from(bob, "alice")
        assert got.text == "one\ntwo\nthree\nfour\n5\n6\n7\n8\n9\n10\n11"
        assert composer.value == ""
        await wait_for(pilot, lambda: texts(app, "#lobby") == [got.text], what="the message confirmed")
        await pilot.pause()
        assert chat.state.current == "#lobby"


async def test_the_newline_hint_leaves_a_narrow_footer_to_the_other_keys(server, user, make_app) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await pilot.pause()
        assert "alt+enter" not in footer_keys(app) and "ctrl+q" in footer_keys(app)
        await pilot.press(*"a", "alt+enter", *"b")  # the keys work all the same
        assert composer_of(app).value == "a\nb"


async def test_a_paste_keeps_every_line(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        composer = composer_of(app)
        await pilot.press(*"see: ")
        composer.post_message(events.Paste("first\rsecond\r\nthird\n"))  # terminals paste newlines as CR
        await pilot.pause()
        assert composer.value == "see: first\nsecond\nthird\n"
        await pilot.press(*"end", "enter")
        got = await next_from(bob, "alice")
        assert got.text == "see: first\nsecond\nthird\nend"


async def test_a_paste_too_long_stays_with_the_length_error(server, user, make_app) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await log_in(pilot)
        composer = composer_of(app)
        limit = chat.link.max_text
        text = "x" * (limit + 100)
        composer.post_message(events.Paste(text))
        await pilot.pause()
        assert composer.value == text  # nothing cut off, nothing lost
        words = f"that line has {limit + 100} characters; the limit is {limit}"
        await wait_for(pilot, lambda: any(words in line for line in log_lines(app)), what="the length error")
        await pilot.press("enter")
        await pilot.pause()
        assert composer.value == text  # refused, given back to be cut down
        assert not chat.state.conversation("#lobby").pending
        assert sum(words in line for line in log_lines(app)) == 2


async def test_tab_completes_nicks_rooms_and_commands_and_keeps_the_focus(server, user, make_app) -> None:
    await (await user("alice")).close()
    for name in ("carol", "caroline"):
        await (await user(name)).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: {"carol", "caroline"} <= set(chat.state.people), what="the directory")
        composer = composer_of(app)
        # keys in one burst: tab takes its turn between the characters around it
        await pilot.press(*"hi ca", "tab", *"rol")
        assert composer.value == "hi carol rol"
        assert app.focused is composer  # tab never leaves a composer with text in it
        composer.value = "ca"
        await pilot.press("tab")
        assert composer.value == "carol: "  # at the start of the line, IRC's ": "
        await pilot.press("tab")
        assert composer.value == "caroline: "
        await pilot.press("shift+tab")
        assert composer.value == "carol: "
        composer.value = "ping @car"
        await pilot.press("tab")
        assert composer.value == "ping @carol "
        composer.value = "/hig"
        await pilot.press("tab")
        assert composer.value == "/highlight "
        composer.value = "/join #lob"
        await pilot.press("tab")
        assert composer.value == "/join #lobby "
        composer.value = "zzz"
        await pilot.press("tab")  # nothing to complete: nothing changes, and the focus stays
        assert composer.value == "zzz" and app.focused is composer
        composer.value = ""
        await pilot.press("tab")  # an empty composer: tab moves the focus as usual
        assert app.focused is not composer


async def test_ctrl_x_ctrl_e_edits_the_draft_in_the_editor(server, user, make_app, tmp_path, monkeypatch) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "path = sys.argv[1]\n"
        "text = open(path).read()\n"
        "open(path, 'w').write(text.upper() + '\\nsecond line\\n')\n"
    )
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor}")
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        composer = composer_of(app)
        await pilot.press(*"draft", "ctrl+x", "ctrl+e")
        await wait_for(pilot, lambda: composer.value == "DRAFT\nsecond line", what="the edited draft")
        assert app.focused is composer
        composer.value = "/edit"
        await pilot.press("enter")
        await wait_for(pilot, lambda: composer.value == "\nsecond line", what="/edit on an empty draft")
        monkeypatch.setenv("VISUAL", f"{sys.executable} -c 'raise SystemExit(3)'")
        composer.value = "kept"
        await pilot.press("ctrl+x", "ctrl+e")
        await wait_for(pilot, lambda: any("exited with status 3" in line for line in log_lines(app)))
        assert composer.value == "kept"
        await pilot.press("ctrl+x", "x")  # ctrl+x and another key: cut (the line, as nothing is selected), then the key
        assert composer.value == "x"


async def test_notify_levels_and_highlights_follow_the_user(server, user, make_app) -> None:
    await (await user("alice")).close()
    other_device = await user("alice", features=NOTIFY)
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 30)) as pilot:
        chat = await log_in(pilot)
        composer = composer_of(app)
        composer.value = "/notify none"
        await pilot.press("enter")
        synced = await next_of(other_device, NotifySettings)
        assert synced.levels == {"#lobby": "none"}
        await wait_for(pilot, lambda: any("notifications for #lobby: nothing" in line for line in log_lines(app)))
        assert chat.state.notify_settings.levels == {"#lobby": "none"}
        composer.value = "/highlight deploy Outage deploy"
        await pilot.press("enter")
        synced = await next_of(other_device, NotifySettings)
        assert synced.words == ("deploy", "Outage")
        composer.value = "/notify default"
        await pilot.press("enter")
        synced = await next_of(other_device, NotifySettings)
        assert synced.levels == {}
        composer.value = "/notify loud"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("usage: /notify all|mentions|none" in line for line in log_lines(app)))
        assert composer.value == "/notify loud"  # given back to be fixed
        assert (await other_device.notify_settings()).words == ("deploy", "Outage")
    await other_device.close()


async def test_the_palette_sets_the_level_of_the_conversation(server, user, make_app) -> None:
    await (await user("alice")).close()
    other_device = await user("alice", features=NOTIFY)
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 30)) as pilot:
        await log_in(pilot)
        await pilot.press("ctrl+k", *"notify every")
        await pilot.pause(0.3)
        await pilot.press("enter")
        synced = await next_of(other_device, NotifySettings)
        assert synced.levels == {"#lobby": "all"}
        await pilot.press("ctrl+k", *"highlight keywords")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert composer_of(app).value == "/highlight "
    await other_device.close()


async def test_ctrl_q_with_lines_pending_says_they_go_next_time(server, user, make_app, tmp_path: Path) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await log_in(pilot)
        await server.stop()
        await wait_for(pilot, lambda: chat.link.state == "reconnecting", what="the link lost")
        await pilot.press(*"still here", "enter", *"and here", "enter")
        await wait_for(pilot, lambda: len(chat.state.conversation("#lobby").pending) == 2)
        await pilot.press("ctrl+q")
    assert app.farewell.startswith("2 messages not sent yet: they will be sent the next time you log in to")
    assert app.farewell.endswith("as alice")
    outbox = next((tmp_path / "outbox").glob("*/alice.jsonl"))
    assert outbox.read_text().count('"add"') == 2


async def test_the_retry_key_shows_while_reconnecting_and_reconnects_now(make_server, user, make_app) -> None:
    first = await make_server()
    port = first.port
    await (await user("alice", to=first)).close()
    # a backoff no test would wait out: only the key can reconnect in time
    app = make_app(first, username="alice")
    app.link_settings = app.link_settings.__class__(options={"backoff_base": 600, "backoff_cap": 600}, outbox=None)
    async with app.run_test(size=(120, 30)) as pilot:
        chat = await log_in(pilot)
        assert "ctrl+r" not in footer_keys(app)
        await first.stop()
        await wait_for(pilot, lambda: chat.link.state == "reconnecting", what="the link lost")
        await pilot.pause()
        assert "ctrl+r" in footer_keys(app)
        await make_server(port=port)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: chat.link.state == "connected", timeout=10, what="connected again")
        await pilot.pause()
        assert "ctrl+r" not in footer_keys(app)
