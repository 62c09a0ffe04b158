"""Unread badges and the "new messages" line follow the server's read
marker: across the user's devices, across restarts, and only for what has
been on screen while the terminal had focus. Real server, real clients."""

from __future__ import annotations

from textual import events

from chinwag.protocol.messages import Message, ReadEvent

from ..support.events import next_of
from .conftest import log_in, log_lines, texts, wait_for

READ = ["read"]


def badge(app, address: str) -> int:
    entries = {e.address: e for e in app.screen.query_one("#sidebar").entries}
    return entries[address].unread if address in entries else 0


async def test_a_message_read_on_one_device_is_read_on_the_other(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    await bob.send("@alice", "are you there?")
    last = await bob.send("@alice", "the backup job again")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        assert "read" in chat.state.features
        await wait_for(pilot, lambda: badge(app, "@bob") == 2, what="the badge")
        phone = await user("alice", features=READ)
        assert phone.session is not None and phone.session.unread.get("@bob") == 2
        await phone.mark_read("@bob", last.mid)  # read on the phone
        await wait_for(pilot, lambda: badge(app, "@bob") == 0, what="the badge to go")

        newer = await bob.send("@alice", "and one more")
        await wait_for(pilot, lambda: badge(app, "@bob") == 1, what="a new badge")
        await pilot.press("alt+u")  # read here: the phone hears of it
        seen = await next_of(phone, ReadEvent)
        assert (seen.conv, seen.upto) == ("@bob", newer.mid)
        assert chat.state.conversations["@bob"].unread == 0


async def test_badges_and_the_new_messages_line_survive_a_restart(server, user, make_app, tmp_path) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    await bob.send("#lobby", "seen in the lobby")
    first = await bob.send("@alice", "while you were out")
    await bob.send("@alice", "second")
    for _ in range(2):  # log in, look at nothing but the lobby, quit; then again
        first_app = make_app(server, username="alice")
        async with first_app.run_test(size=(110, 32)) as pilot:
            await log_in(pilot)
            await wait_for(pilot, lambda app=first_app: badge(app, "@bob") == 2, what="the badge")
            await pilot.pause(0.5)  # long enough for any read to go out
            await pilot.press("ctrl+q")
    phone = await user("alice", features=READ)
    assert phone.session is not None and phone.session.unread == {"@bob": 2}
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: badge(app, "@bob") == 2, what="the badge")
        await pilot.press("alt+u")
        await wait_for(pilot, lambda: len(texts(app, "@bob")) == 2, what="the history")
        lines = log_lines(app)
        assert any("new messages" in line for line in lines)
        at = next(i for i, line in enumerate(lines) if "new messages" in line)
        assert "while you were out" in lines[at + 1]
        assert chat.state.conversations["@bob"].marker == first.mid
        seen = await next_of(phone, ReadEvent)
        assert seen.conv == "@bob"


async def test_only_what_is_on_screen_while_the_terminal_has_focus_is_read(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    await bob.send("@alice", "hello")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: badge(app, "@bob") == 1, what="the badge")
        phone = await user("alice", features=READ)
        await pilot.press("alt+u")
        await next_of(phone, ReadEvent)

        app.post_message(events.AppBlur())  # the terminal went to the background
        await wait_for(pilot, lambda: not chat.state.window_focused, what="the blur")
        unseen = await bob.send("@alice", "are you still there?")
        await wait_for(pilot, lambda: "are you still there?" in texts(app, "@bob"), what="the line")
        await pilot.pause(0.5)
        assert phone.pending_events() == 0 or not any(
            isinstance(e, ReadEvent) for e in [await phone.next_event() for _ in range(phone.pending_events())]
        )
        assert chat.state.conversations["@bob"].read_upto != unseen.mid
        assert app.window_title.startswith("(1)")  # unseen, so counted in the title
        assert any("new messages" in line for line in log_lines(app))

        app.post_message(events.AppFocus())  # back: what is on screen is read now
        seen = await next_of(phone, ReadEvent)
        assert seen.upto == unseen.mid
        await wait_for(pilot, lambda: not app.window_title.startswith("("), what="the title")


async def test_lines_arriving_while_scrolled_up_stay_unread(make_server, user, make_app) -> None:
    server = await make_server(send_rate=100_000.0, send_burst=100_000)
    await (await user("alice", to=server)).close()
    bob = await user("bob", to=server)
    for n in range(80):
        await bob.send("@alice", f"line {n}")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        phone = await user("alice", to=server, features=READ)
        await pilot.press("alt+u")
        await wait_for(pilot, lambda: len(texts(app, "@bob")) == 80, what="the lines")
        seen = await next_of(phone, ReadEvent)
        conv = chat.state.conversations["@bob"]
        assert seen.upto == conv.newest().mid
        await pilot.press("pageup", "pageup")
        await pilot.pause(0.1)
        late = await bob.send("@alice", "below the fold")
        await wait_for(pilot, lambda: "below the fold" in texts(app, "@bob"), what="the line")
        await pilot.pause(0.5)
        assert conv.read_upto != late.mid and conv.unread == 1
        await pilot.press("ctrl+end")
        seen = await next_of(phone, ReadEvent)
        assert seen.upto == late.mid and conv.unread == 0
        assert isinstance(conv.newest(), Message)


async def test_a_message_read_just_before_quitting_stays_read(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    last = await bob.send("@alice", "read me and go")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        await log_in(pilot)
        await wait_for(pilot, lambda: badge(app, "@bob") == 1, what="the badge")
        await pilot.press("alt+u")
        await wait_for(pilot, lambda: app.screen.state.conversations["@bob"].read_upto == last.mid, what="seen")
        await pilot.press("ctrl+q")  # at once: the read has not gone out yet
    phone = await user("alice", features=READ)
    assert phone.session is not None and phone.session.read.get("@bob") == last.mid
    assert "@bob" not in phone.session.unread
