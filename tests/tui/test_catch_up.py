"""A backlog larger than the login/resume replay: the replay carries the
newest REPLAY_MAX of a conversation while `unread` counts them all, so the
conversation opened fetches the rest (`catch_up`), the "new messages" line
goes at the real first unread message, and the view lands at it. Real
servers, real Redis, the app over TCP."""

from __future__ import annotations

import asyncio

import pytest

from chinwag.protocol import limits
from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.server.app import ChatServer
from chinwag.tui import connection, history, state
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.status import ConnectionStatus

from ..support.events import barrier
from .conftest import log_in, log_lines, wait_for

FAST = {"send_rate": 1e6, "send_burst": 1_000_000}  # a burst of sends, not the abuse limits
BACKLOG = limits.REPLAY_MAX + 200  # 200 more than the replay carries: one history page


async def burst(client: ChatClient, to: str, n: int, tag: str) -> list[str]:
    """`n` sends pipelined, in order; their mids."""
    futures = [client.send_nowait(to, f"{tag} {i}") for i in range(n)]
    return [reply["mid"] for reply in await asyncio.gather(*futures)]


async def offline_backlog(make_server, user, to: str, n: int, tag: str) -> tuple[ChatServer, list[str]]:
    """alice registered and away, then `n` messages from bob to `to`: a
    server and the backlog's mids, for alice's app to log in to."""
    server = await make_server(**FAST)
    await (await user("alice", to=server)).close()
    bob = await user("bob", to=server)
    return server, await burst(bob, to, n, tag)


def held(chat: ChatScreen, address: str) -> list[str]:
    return [line.mid for line in chat.state.conversations[address].lines if type(line) is Message]


def shown_state(chat: ChatScreen) -> str | None:
    """The link's state as the screen has taken it in (the replay before it)."""
    event = chat.query_one(ConnectionStatus).state
    return event.state if event is not None else None


def on_screen(app: ChinwagApp) -> list[str]:
    view = app.screen.query_one(ConversationView)
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


def is_new_line(text: str) -> bool:
    return "new messages" in text and "↓" not in text  # the line, not the bar of messages below the view


async def caught_up(pilot, chat: ChatScreen, address: str, mids: list[str], first_text: str) -> None:
    """The line at the first of `mids` (its text `first_text`), every one of
    them held from it on, in order and once, and the view at the line."""
    conv = chat.state.conversations[address]
    await wait_for(pilot, lambda: conv.marker == mids[0], what="the line at the first unread message")
    have = held(chat, address)
    assert len(have) == len(set(have)), "a message held twice"
    at = have.index(mids[0])
    assert have[at:] == mids
    lines = log_lines(pilot.app)
    line = next(i for i, text in enumerate(lines) if is_new_line(text))
    assert lines[line + 1].endswith(first_text), lines[line + 1]
    assert any(is_new_line(text) for text in on_screen(pilot.app)), on_screen(pilot.app)


async def test_a_dm_backlog_past_the_replay_is_caught_up_when_opened(make_server, user, make_app) -> None:
    server, mids = await offline_backlog(make_server, user, "@alice", BACKLOG, "dm")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: len(held(chat, "@bob")) == limits.REPLAY_MAX, what="the replay")
        await wait_for(pilot, lambda: shown_state(chat) == "connected", what="the replay's end")
        assert held(chat, "@bob") == mids[-limits.REPLAY_MAX :], "only the conversation opened is caught up"
        assert chat.state.conversations["@bob"].unread == BACKLOG  # the badge: the reply's count
        await pilot.press("alt+u")
        await caught_up(pilot, chat, "@bob", mids, "dm 0")
        await pilot.press(*"still here", "enter")  # the composer works on
        await wait_for(pilot, lambda: "still here" in [m.text for m in chat.state.conversations["@bob"].messages()])


async def test_a_room_backlog_in_view_at_login_is_caught_up(make_server, user, make_app) -> None:
    server, mids = await offline_backlog(make_server, user, "#lobby", BACKLOG, "room")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        assert chat.state.current == "#lobby"
        await caught_up(pilot, chat, "#lobby", mids, "room 0")


@pytest.mark.parametrize(("to", "shown"), [("@alice", "@bob"), ("#lobby", "#lobby")])
async def test_a_backlog_missed_while_the_link_was_down_is_caught_up_after_the_resume(
    make_server, user, make_app, to: str, shown: str
) -> None:
    first = await make_server(**FAST)
    port = first.port
    other = await make_server(**FAST)  # another node on the same Redis, for bob while alice's is down
    await (await user("alice", to=first)).close()
    bob = await user("bob", to=other)
    before = await burst(bob, to, 3, "before")
    app = make_app(first, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        if shown != chat.state.current:
            await pilot.press("alt+u")
        await wait_for(pilot, lambda: held(chat, shown) == before, what="the first messages")
        await wait_for(pilot, lambda: chat.state.conversations[shown].read_upto == before[-1], what="seen")
        await first.stop()
        await wait_for(pilot, lambda: chat.link is not None and chat.link.state == "reconnecting", what="the drop")
        mids = await burst(bob, to, BACKLOG, "missed")
        await barrier(bob)
        await make_server(port=port, **FAST)
        await caught_up(pilot, chat, shown, mids, "missed 0")
        assert held(chat, shown) == before + mids


async def test_without_the_extensions_the_line_goes_as_many_back_as_the_count_says(
    make_server, user, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "FEATURES", ())  # a version 1 session: counts after the delivery cursor
    server, mids = await offline_backlog(make_server, user, "@alice", BACKLOG, "dm")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        assert not chat.state.features
        await wait_for(pilot, lambda: shown_state(chat) == "connected", what="the replay's end")
        assert chat.state.conversations["@bob"].unread == BACKLOG
        await pilot.press("alt+u")
        await caught_up(pilot, chat, "@bob", mids, "dm 0")


async def test_past_the_cap_the_line_stays_at_the_oldest_message_held(
    make_server, user, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "CATCH_UP_MAX", 100)
    server, mids = await offline_backlog(make_server, user, "@alice", limits.REPLAY_MAX + 450, "dm")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: shown_state(chat) == "connected", what="the replay's end")
        await pilot.press("alt+u")
        newest = mids[-limits.REPLAY_MAX - limits.HISTORY_MAX :]  # one page of 200 brings the 100 asked for
        await caught_up(pilot, chat, "@bob", newest, "dm 250")
        conv = chat.state.conversations["@bob"]
        assert conv.more and not chat.state.backlogs  # older ones on scroll, none fetched now


async def test_a_history_of_mostly_ones_own_messages_is_read_only_so_far(
    make_server, user, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under 1,500 of alice's own messages (from her phone, which read none
    of bob's), bob's 10 unread ones are at the start: past the replay's 500,
    the catch-up stops at CATCH_UP_MOST messages read, and the rest stays
    for scrolling."""
    monkeypatch.setattr(state, "CATCH_UP_MOST", 300)
    monkeypatch.setattr(history, "CATCH_UP_MOST", 300)
    server = await make_server(**FAST)
    await (await user("alice", to=server)).close()
    bob = await user("bob", to=server)
    theirs = await burst(bob, "@alice", 10, "theirs")
    phone = await user("alice", to=server)
    mine = await burst(phone, "@bob", 1500, "mine")
    await phone.close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: shown_state(chat) == "connected", what="the replay's end")
        assert chat.state.conversations["@bob"].unread == 10
        await pilot.press("alt+u")
        read = limits.REPLAY_MAX + 2 * limits.HISTORY_MAX  # the replay, then 200 < 300 and 400 >= 300
        await wait_for(pilot, lambda: len(held(chat, "@bob")) >= read, what="the catch-up")
        await wait_for(pilot, lambda: "@bob" not in chat.state.backlogs, what="the catch-up merged")
        assert held(chat, "@bob") == mine[-read:]  # not read to the start
        assert chat.state.conversations["@bob"].more  # the rest, bob's 10 with it, on scroll
        assert not set(theirs) & set(held(chat, "@bob"))


async def test_a_catch_up_that_fails_leaves_the_line_and_is_tried_again_when_the_link_is_back(
    make_server, user, make_app
) -> None:
    first = await make_server(**FAST)
    port = first.port
    await (await user("alice", to=first)).close()
    bob = await user("bob", to=first)
    mids = await burst(bob, "@alice", BACKLOG, "dm")
    await bob.close()
    app = make_app(first, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: shown_state(chat) == "connected", what="the replay's end")
        await first.stop()
        await wait_for(pilot, lambda: shown_state(chat) == "reconnecting", what="the drop")
        await pilot.press("alt+u")  # the catch-up fails: the link is down
        conv = chat.state.conversations["@bob"]
        await wait_for(pilot, lambda: not chat.state.backlogs["@bob"].loading, what="the failure")
        replayed = mids[-limits.REPLAY_MAX :]
        assert held(chat, "@bob") == replayed and conv.marker == replayed[0]  # where it is with no catch-up
        assert any(is_new_line(text) for text in log_lines(app))
        await pilot.press(*"typed meanwhile")
        assert app.screen.query_one("#composer").text == "typed meanwhile"
        await make_server(port=port, **FAST)
        await wait_for(pilot, lambda: held(chat, "@bob") == mids, what="the backlog once the link is back")
        assert not chat.state.backlogs
