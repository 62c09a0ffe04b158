"""What the log shows: multi-line messages under their text column, links
as terminal hyperlinks (one link across a wrap; only http, https and
mailto), `o` and `y` on a selected message, following the newest line
through resizes and the "N new messages" bar, and a colour for your own
name that no one else's gets."""

from __future__ import annotations

import re

from textual.pilot import Pilot

from chinwag.protocol.messages import Message
from chinwag.tui.screens.chat_messages import ServerEvents
from chinwag.tui.screens.confirm import ConfirmScreen
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.rows import DARK_PALETTE, LIGHT_PALETTE, NEAR, _distance, palette_for, sender_colour

from .conftest import log_in, log_lines, texts, wait_for
from .demo import at, open_demo_chat, snapshot_app

URL = "https://example.org/docs/" + "very-long-segment/" * 8 + "end?x=1&y=2"
OSC8 = re.compile(r"\x1b\]8;([^;\x1b]*);([^\x1b]*)\x1b\\")


def output(app) -> str:
    """What the app writes to the terminal for its whole screen now (the
    bytes its driver would be given)."""
    return app.screen._compositor.render_full_update().render_segments(app.console)


def links_in(text: str) -> list[tuple[str, str]]:
    """(params, url) of every OSC 8 opening in `text` (not the closings, which have no URL)."""
    return [(params, url) for params, url in OSC8.findall(text) if url]


def live(n: int, sender: str, text: str, minute: int = 25) -> Message:
    ts = at(3, 14, minute)
    return Message(f"{ts}-{n}", "#lobby", sender, text, ts)


async def feed(pilot: Pilot, screen, *messages: Message) -> None:
    screen.post_message(ServerEvents(list(messages)))
    await pilot.pause()
    screen._sync_view()
    await pilot.pause()


async def test_a_wrapped_url_is_one_hyperlink_and_other_schemes_are_text(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_demo_chat(pilot)
        await feed(
            pilot,
            screen,
            live(9, "bob", f"the docs: {URL} and javascript:alert(1) or ftp://files.example.org/x"),
        )
        lines = log_lines(app)
        start = next(i for i, line in enumerate(lines) if "https://example.org/docs/" in line)
        end = next(i for i, line in enumerate(lines) if "end?x=1&y=2" in line)
        wrapped = lines[start : end + 1]
        assert len(wrapped) >= 3  # the URL takes several lines of the log
        written = output(app)
        ours = [(params, url) for params, url in links_in(written) if "very-long-segment" in url]
        assert len(ours) == len(wrapped)  # one opening per line the URL is on
        assert {url for _, url in ours} == {URL}  # each the whole URL, never a piece of it
        assert len({params for params, _ in ours}) == 1  # and one id: the terminal joins them into one link
        assert ours[0][0].startswith("id=")
        urls = {url for _, url in links_in(written)}
        assert not any(u.startswith(("javascript:", "ftp:")) for u in urls)


async def test_a_multi_line_message_lines_up_under_its_text(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_demo_chat(pilot)
        await feed(pilot, screen, live(9, "bob", "first line\nsecond line\n    indented third"))
        lines = log_lines(app)
        first = next(i for i, line in enumerate(lines) if line.endswith("bob first line"))
        column = lines[first].index("first line")
        assert lines[first + 1] == " " * column + "second line"
        assert lines[first + 2] == " " * column + "    indented third"


async def test_o_opens_the_link_after_a_confirm_and_y_copies_by_osc52(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    await bob.send("#lobby", f"see ({URL}).")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        opened: list[str] = []
        chat.open_url = lambda url: opened.append(url) or True
        await wait_for(pilot, lambda: texts(app, "#lobby") == [f"see ({URL})."], what="bob's line")
        written: list[str] = []
        driver = app._driver
        assert driver is not None
        real_write = driver.write
        driver.write = lambda data: (written.append(data), real_write(data))[1]  # see what reaches the terminal
        await pilot.press("alt+k")
        view = chat.query_one(ConversationView)
        assert app.focused is view and view.selected_message is not None
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert app.screen.detail == URL  # the full URL, without the sentence's brackets and stop
        await pilot.press("n")
        await pilot.pause(0.1)
        assert opened == []
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: opened, what="the browser")
        assert opened == [URL]
        await pilot.press("y")  # the selection is still there: copy its text
        await wait_for(pilot, lambda: app.clipboard == f"see ({URL}).", what="the copy")
        import base64

        osc52 = f"\x1b]52;c;{base64.b64encode(f'see ({URL}).'.encode()).decode()}\a"
        assert osc52 in "".join(written)


async def test_o_is_offered_only_for_a_message_with_a_link(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    await bob.send("#lobby", "no link here, only javascript:void(0)")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: len(texts(app, "#lobby")) == 1, what="bob's line")
        await pilot.press("alt+k")
        view = chat.query_one(ConversationView)
        assert view.check_action("act", ("open",)) is False
        await pilot.press("o")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_after_a_resize_the_log_keeps_following(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_demo_chat(pilot)
        view = screen.query_one(ConversationView)
        await feed(pilot, screen, *(live(10 + n, "bob", f"filler line {n} " * 3) for n in range(40)))
        assert view.is_vertical_scroll_end and view.max_scroll_y > 0
        for n, size in enumerate(((100, 30), (80, 24), (130, 42), (60, 20))):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await feed(pilot, screen, live(100 + n, "carol", f"after resizing to {size}"))
            assert view.is_vertical_scroll_end, size
            assert str(size) in log_lines(app)[-1]  # the newest line is the last on screen
            assert view.unseen == 0


async def test_scrolled_up_new_messages_show_a_bar_and_a_key_jumps_down(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_demo_chat(pilot)
        view = screen.query_one(ConversationView)
        await feed(pilot, screen, *(live(10 + n, "bob", f"filler line {n}") for n in range(60)))
        await pilot.press("pageup")
        await pilot.resize_terminal(100, 30)  # a resize while scrolled up keeps the place
        await pilot.pause()
        assert not view.following
        await feed(pilot, screen, live(200, "carol", "one"), live(201, "alice", "mine"), live(202, "dave", "two"))
        assert view.unseen == 2  # your own line is not news to you
        assert not view.is_vertical_scroll_end
        last = view.render_line(view.scrollable_content_region.height - 1).text
        assert "2 new messages ↓" in last
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert view.is_vertical_scroll_end and view.following and view.unseen == 0
        assert "new messages ↓" not in view.render_line(view.scrollable_content_region.height - 1).text
        await feed(pilot, screen, live(203, "carol", "three"))
        assert view.is_vertical_scroll_end and view.unseen == 0

        await pilot.press("pageup")
        await feed(pilot, screen, live(204, "carol", "four"))
        assert view.unseen == 1
        await pilot.click(ConversationView, offset=(10, view.scrollable_content_region.height - 1))  # the bar
        await pilot.pause()
        assert view.is_vertical_scroll_end and view.unseen == 0


def test_no_one_else_gets_a_colour_near_your_own() -> None:
    for avoid, dark, palette in (("#57A5E2", True, DARK_PALETTE), ("#195B8A", False, LIGHT_PALETTE)):
        kept = palette_for(dark, avoid)
        assert 0 < len(kept) < len(palette)  # these themes' own colour has a near twin in the palette
        names = [f"user{n}" for n in range(500)]
        assert all(_distance(sender_colour(n, dark, avoid), avoid) >= NEAR for n in names)
        assert {sender_colour(n, dark, avoid) for n in names} == set(kept)  # the rest are all still used


async def test_your_name_has_its_own_colour_in_every_theme(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_demo_chat(pilot)
        view = screen.query_one(ConversationView)
        for theme in ("textual-dark", "textual-light", "nord", "dracula", "monokai", "solarized-light"):
            app.theme = theme
            await pilot.pause()
            own = view.painter.own_colour()
            assert own is not None
            for n in range(300):
                colour = view.painter.colour_of(f"user{n}").color
                assert colour is not None
                assert _distance(colour.get_truecolor().hex, own) >= NEAR, (theme, n)
