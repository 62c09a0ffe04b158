"""Strings from other people, through a real server and a real second client:
a display name or message made of markup or terminal controls is shown as
typed (controls as placeholders) and never crashes or steers the client."""

from __future__ import annotations

from textual.command import CommandList

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.tui.widgets.header import ConversationHeader

from ..support.events import next_of
from ..support.settings import PASSWORD
from .conftest import log_in, log_lines, terminal_output, texts, wait_for

EVIL = "[bold red]EVIL[/] [link=https://evil.example]x[/link]"


async def _registered(connect, name: str, display: str) -> ChatClient:
    """A client registered and logged in with a display name of its choosing,
    as any third-party client could."""
    client = await connect()
    await client.register(name, PASSWORD, display)
    await client.login(name, PASSWORD)
    return client


def switcher_lines(app) -> list[str]:
    """Every line the open ctrl+k switcher draws: each hit's prompt and help."""
    found = app.screen.query(CommandList)
    if not found:
        return []
    return [line for option in found.first().options for line in option.prompt.plain.split("\n")]


async def _open_switcher(pilot) -> list[str]:
    app = pilot.app
    await pilot.press("ctrl+k")
    return await wait_for(pilot, lambda: switcher_lines(app), what="the switcher's hits")


async def test_markup_display_name_in_the_switcher_of_who_talked_to_her(server, user, connect, make_app) -> None:
    await (await user("alice")).close()
    mallory = await _registered(connect, "mallory", EVIL)
    await mallory.send("@alice", "hi alice")
    app = make_app(server, username="alice")
    for _ in range(2):  # and again after logging in once more: never locked out
        async with app.run_test(size=(120, 32)) as pilot:
            chat = await log_in(pilot)
            await wait_for(
                pilot,
                lambda chat=chat: "mallory" in chat.state.people and chat.state.people["mallory"].talked,
                what="the talk with mallory",
            )
            await _open_switcher(pilot)
            await wait_for(
                pilot,
                lambda app=app: any(EVIL in line for line in switcher_lines(app)),
                what="mallory's display name, as typed",
            )
            assert f"{EVIL} · online" in switcher_lines(app)
            await pilot.press("escape")
            await pilot.pause()
            chat.switch_to("@mallory")
            await pilot.pause()
            header = str(chat.query_one(ConversationHeader).query_one("#title").render())
            assert EVIL in header
        assert app.return_code in (0, None)
        app = make_app(server, username="alice")


async def test_markup_display_name_in_the_switcher_of_a_stranger(server, user, connect, make_app) -> None:
    await (await user("bob")).close()
    await _registered(connect, "mallory", EVIL)
    app = make_app(server, username="bob")
    async with app.run_test(size=(120, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: "mallory" in chat.state.people, what="mallory online")
        await _open_switcher(pilot)
        await wait_for(
            pilot, lambda: f"{EVIL} · online" in switcher_lines(app), what="mallory's display name, as typed"
        )
        await pilot.press(*"mall")
        await wait_for(
            pilot, lambda: f"{EVIL} · online" in switcher_lines(app), what="mallory's display name in a search hit"
        )
        assert app.is_running


async def test_closing_tag_and_bracketed_word_display_names(server, user, connect, make_app) -> None:
    await (await user("alice")).close()
    await _registered(connect, "closer", "[/]")
    await _registered(connect, "bob", "[AFK] Bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(120, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: {"closer", "bob"} <= set(chat.state.people), what="both online")
        await _open_switcher(pilot)
        await wait_for(
            pilot,
            lambda: {"[/] · online", "[AFK] Bob · online"} <= set(switcher_lines(app)),
            what="both display names, as typed",
        )


C1 = "csi\u009b31mred nel\u0085 osc\u009d0;pwned\u0007 end"


async def test_c1_controls_in_a_message_are_shown_as_placeholders(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(120, 32)) as pilot:
        chat = await log_in(pilot)
        await pilot.pause(0.2)
        await bob.send("#lobby", C1)
        await wait_for(pilot, lambda: C1 in texts(app, "#lobby"), what="bob's line")
        await pilot.pause(0.2)
        assert chat.state.conversations["#lobby"].lines[-1].text == C1  # stored as sent
        shown = [line for line in log_lines(app) if "csi" in line]
        assert shown and shown[0].endswith("csi\ufffd31mred nel\ufffd osc\ufffd0;pwned\u2407 end")
        written = terminal_output(app)
        assert "pwned" in written
        assert not [ch for ch in written if "\x80" <= ch <= "\x9f" or ch in "\x07\x08\r"]
    got = await next_of(bob, Message)
    assert got.text == C1


async def test_a_long_line_of_controls_is_shown_whole(server, user, make_app) -> None:
    """Control characters have no width to Rich: the log measured such a line
    as one row and hid the rest of it."""
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 40)) as pilot:
        await log_in(pilot)
        await pilot.pause(0.2)
        await bob.send("#lobby", "\u009b" * 600 + "end")
        await wait_for(pilot, lambda: any("end" in line for line in log_lines(app)), what="the end of bob's line")
        shown = "".join(log_lines(app))
        assert shown.count("\ufffd") == 600
