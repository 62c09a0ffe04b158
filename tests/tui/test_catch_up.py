"""A backlog larger than the login/resume replay: the replay carries the
newest REPLAY_MAX of a conversation while `unread` counts them all, so the
conversation opened fetches the rest (`catch_up`), the "new messages" line
goes at the real first unread message, and the view lands at it. Real
servers, real Redis, the app over TCP."""

from __future__ import annotations

import asyncio

from chinwag.protocol import limits
from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
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


async def caught_up(pilot, chat: ChatScreen, address: str, mids: list[str], tag: str) -> None:
    """The line at the first of `mids` (their texts `tag 0`, `tag 1`...),
    every one of them held from it on, in order and once, and the view at
    the line."""
    conv = chat.state.conversations[address]
    await wait_for(pilot, lambda: conv.marker == mids[0], what="the line at the first unread message")
    have = held(chat, address)
    assert len(have) == len(set(have)), "a message held twice"
    at = have.index(mids[0])
    assert have[at:] == mids
    lines = log_lines(pilot.app)
    line = next(i for i, text in enumerate(lines) if is_new_line(text))
    assert lines[line + 1].endswith(f"{tag} 0"), lines[line + 1]
    assert any(is_new_line(text) for text in on_screen(pilot.app)), on_screen(pilot.app)


async def test_a_dm_backlog_past_the_replay_is_caught_up_when_opened(make_server, user, make_app) -> None:
    server = await make_server(**FAST)
    await (await user("alice", to=server)).close()
    bob = await user("bob", to=server)
    mids = await burst(bob, "@alice", BACKLOG, "dm")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: len(held(chat, "@bob")) == limits.REPLAY_MAX, what="the replay")
        await wait_for(pilot, lambda: shown_state(chat) == "connected", what="the replay's end")
        assert held(chat, "@bob") == mids[-limits.REPLAY_MAX :], "only the conversation opened is caught up"
        assert chat.state.conversations["@bob"].unread == BACKLOG  # the badge: the reply's count
        await pilot.press("alt+u")
        await caught_up(pilot, chat, "@bob", mids, "dm")
        await pilot.press(*"still here", "enter")  # the composer works on
        await wait_for(pilot, lambda: "still here" in [m.text for m in chat.state.conversations["@bob"].messages()])


async def test_a_room_backlog_in_view_at_login_is_caught_up(make_server, user, make_app) -> None:
    server = await make_server(**FAST)
    await (await user("alice", to=server)).close()
    bob = await user("bob", to=server)
    mids = await burst(bob, "#lobby", BACKLOG, "room")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        assert chat.state.current == "#lobby"
        await caught_up(pilot, chat, "#lobby", mids, "room")


async def test_a_backlog_missed_while_the_link_was_down_is_caught_up_after_the_resume(
    make_server, user, make_app
) -> None:
    first = await make_server(**FAST)
    port = first.port
    other = await make_server(**FAST)  # another node on the same Redis, for bob while alice's is down
    await (await user("alice", to=first)).close()
    bob = await user("bob", to=other)
    before = await burst(bob, "@alice", 3, "before")
    app = make_app(first, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await pilot.press("alt+u")
        await wait_for(pilot, lambda: held(chat, "@bob") == before, what="the first messages")
        await wait_for(pilot, lambda: chat.state.conversations["@bob"].read_upto == before[-1], what="seen")
        await first.stop()
        await wait_for(pilot, lambda: chat.link is not None and chat.link.state == "reconnecting", what="the drop")
        mids = await burst(bob, "@alice", BACKLOG, "dm")
        await barrier(bob)
        await make_server(port=port, **FAST)
        await caught_up(pilot, chat, "@bob", mids, "dm")
        assert held(chat, "@bob") == before + mids
