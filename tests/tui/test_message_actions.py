"""Selecting a message and acting on it (reply, edit, delete, react, copy,
go to the quoted message), against a real server, with another user's
real client seeing every change; and other people's changes arriving live."""

from __future__ import annotations

import asyncio

from chinwag.protocol.messages import DeletedEvent, EditedEvent, Message, ReactionEvent
from chinwag.tui.screens.confirm import ConfirmScreen
from chinwag.tui.screens.react import ReactScreen
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.draft import DraftLine

from ..support.events import next_of
from .conftest import log_in, log_lines, texts, wait_for

CHANGES = ["messages"]


async def next_from(client, sender: str) -> Message:
    """The next message `client` gets from `sender` (its own come back too)."""
    while True:
        message = await next_of(client, Message)
        if message.sender == sender:
            return message


def footer_keys(app) -> set[str]:
    """The keys the footer shows now."""
    return {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}


def lobby(app) -> list[Message]:
    return list(app.screen.state.conversations["#lobby"].messages())


async def test_select_reply_edit_delete(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob", features=CHANGES)
    await bob.send("#lobby", "hello alice")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: texts(app, "#lobby") == ["hello alice"], what="bob's line")
        view = chat.query_one(ConversationView)
        await pilot.press("up")
        assert app.focused is view and view.selected_message is not None
        assert view.selected_message.text == "hello alice"
        keys = footer_keys(app)
        assert {"r", "plus", "y", "escape"} <= keys
        assert not {"e", "d"} & keys  # not alice's to change

        await pilot.press("r")
        assert isinstance(app.focused, Composer)
        assert "replying to bob: hello alice" in str(chat.query_one(DraftLine).render())
        await pilot.press(*"hi bob", "enter")
        reply = await next_from(bob, "alice")
        assert (reply.text, reply.reply_to) == ("hi bob", lobby(app)[0].mid)
        await wait_for(pilot, lambda: len(texts(app, "#lobby")) == 2, what="the reply")
        await pilot.pause(0.1)
        assert any("╭ bob: hello alice" in line for line in log_lines(app))
        assert not chat.query_one(DraftLine).has_class("-active")

        await pilot.press("up")
        assert view.selected == reply.mid
        assert {"e", "d"} <= footer_keys(app)
        await pilot.press("e")
        assert isinstance(app.focused, Composer) and app.focused.value == "hi bob"
        await pilot.press(*" again", "enter")
        edit = await next_of(bob, EditedEvent)
        assert (edit.mid, edit.text) == (reply.mid, "hi bob again")
        await wait_for(pilot, lambda: any("hi bob again (edited)" in line for line in log_lines(app)))

        await pilot.press("up", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.1)
        assert not app.screen.state.conversations["#lobby"].get(reply.mid).deleted
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        gone = await next_of(bob, DeletedEvent)
        assert (gone.mid, gone.by) == (reply.mid, "alice")
        await wait_for(pilot, lambda: any("alice message deleted" in line for line in log_lines(app)))
        history, _ = await bob.history("#lobby")
        assert [(m.text, m.deleted) for m in history] == [("hello alice", False), ("", True)]

        await pilot.press("escape")
        assert isinstance(app.focused, Composer) and view.selected is None


async def test_react_pick_and_type_and_copy(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob", features=CHANGES)
    sent = await bob.send("#lobby", "release 0.3 is tagged")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        await log_in(pilot)
        await wait_for(pilot, lambda: texts(app, "#lobby"), what="bob's line")
        await pilot.press("alt+k", "plus")
        await wait_for(pilot, lambda: isinstance(app.screen, ReactScreen), what="the picker")
        await pilot.press("4")  # 🎉
        event = await next_of(bob, ReactionEvent)
        assert (event.mid, event.emoji, event.sender, event.on) == (sent.mid, "🎉", "alice", True)
        await wait_for(pilot, lambda: any("🎉 1" in line for line in log_lines(app)), what="the reaction")

        await pilot.press("plus")
        await wait_for(pilot, lambda: isinstance(app.screen, ReactScreen), what="the picker")
        await pilot.press("right", "right", "right", "enter")  # 🎉 again: taken back
        event = await next_of(bob, ReactionEvent)
        assert (event.emoji, event.on) == ("🎉", False)
        await wait_for(pilot, lambda: not any("🎉" in line for line in log_lines(app)), what="no reaction")

        await pilot.press("plus")
        await wait_for(pilot, lambda: isinstance(app.screen, ReactScreen), what="the picker")
        await pilot.press("tab")
        await pilot.press(*"no way", "enter")  # not one emoji: said so, not sent
        hint = app.screen.query_one("#react-hint")
        assert "space" in str(hint.render())
        app.screen.query_one("#react-typed").value = "🚀"
        await pilot.press("enter")
        event = await next_of(bob, ReactionEvent)
        assert (event.emoji, event.on) == ("🚀", True)

        await pilot.press("y")
        assert app.clipboard == "release 0.3 is tagged"


async def test_other_peoples_changes_arrive_live(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob", features=CHANGES)
    carol = await user("carol", features=CHANGES)
    first = await bob.send("#lobby", "typo in this mesage")
    second = await carol.send("#lobby", "wrong channel, sorry")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: len(texts(app, "#lobby")) == 2, what="the lines")
        await pilot.press("up")  # carol's, selected while it is deleted
        await bob.edit("#lobby", first.mid, "typo fixed in this message")
        await bob.react("#lobby", second.mid, "👀")
        await carol.react("#lobby", first.mid, "👍")
        await bob.react("#lobby", first.mid, "👍")
        await carol.delete("#lobby", second.mid)
        await wait_for(
            pilot,
            lambda: (
                any("carol message deleted" in line for line in log_lines(app))
                and any("👍 2" in line for line in log_lines(app))
            ),
            what="the changes",
        )
        lines = log_lines(app)
        assert any("bob typo fixed in this message (edited)" in line for line in lines)
        assert not any("👀" in line or "wrong channel" in line for line in lines)
        view = chat.query_one(ConversationView)
        assert view.selected == second.mid and "act" not in {  # nothing to do to a tombstone but look
            b.binding.action.partition("(")[0] for b in app.screen.active_bindings.values() if b.binding.show
        }


async def test_the_quote_goes_to_its_message_loading_history_around_it(make_server, user, make_app) -> None:
    server = await make_server(send_rate=100_000.0, send_burst=100_000)
    bob = await user("bob", to=server, features=CHANGES)
    parent = await bob.send("#lobby", "the question, long ago")
    await asyncio.gather(*(bob.request_nowait("send", to="#lobby", text=f"chatter {n}") for n in range(300)))
    await (await user("alice", to=server)).close()  # joins now: all that is history
    await bob.send("#lobby", "the answer", reply_to=parent.mid)
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        conv = chat.state.conversations["#lobby"]
        await wait_for(pilot, lambda: len(texts(app, "#lobby")) > 50, what="the latest page")
        assert conv.get(parent.mid) is None
        await pilot.pause(0.1)
        assert any("╭ an earlier message" in line for line in log_lines(app))
        await pilot.press("up", "enter")
        view = chat.query_one(ConversationView)
        await wait_for(pilot, lambda: view.selected == parent.mid, timeout=15, what="the quoted message")
        assert conv.get(parent.mid) is not None and conv.more is False
        assert texts(app, "#lobby")[0] == "the question, long ago"
        assert any("╭ bob: the question, long ago" in line for line in log_lines(app))
        # The history after it fills in as it comes on screen, in order, from its start.
        await wait_for(pilot, lambda: "chatter 0" in texts(app, "#lobby"), timeout=15, what="the page after it")
        assert texts(app, "#lobby")[:3] == ["the question, long ago", "chatter 0", "chatter 1"]
        for _ in range(60):  # read down; a gap left behind loads when scrolled back to
            if not conv.gaps:
                break
            gap_row = next(i for i, row in enumerate(view.rows) if row.kind == "gap")
            await pilot.press("pageup" if view._starts[gap_row] < view.scroll_y else "pagedown")
            await wait_for(pilot, lambda: not any(g.loading for g in conv.gaps), timeout=15, what="a page")
        assert not conv.gaps
        assert texts(app, "#lobby") == ["the question, long ago", *(f"chatter {n}" for n in range(300)), "the answer"]


async def test_a_server_without_the_extensions_shows_nothing_new(server, user, make_app) -> None:
    server.context.features.clear()  # a node that offers nothing: version 1 as far as a client can tell
    await (await user("alice")).close()
    bob = await user("bob")
    await bob.send("#lobby", "plain old message")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32), notifications=True) as pilot:
        chat = await log_in(pilot)
        assert chat.state.features == frozenset()
        await wait_for(pilot, lambda: texts(app, "#lobby") == ["plain old message"], what="the line")
        await pilot.press("up")
        keys = footer_keys(app)
        assert "y" in keys and not {"r", "e", "d", "plus", "enter"} & keys
        await pilot.press("r", "plus", "d")  # nothing to do here
        assert app.screen is chat
        await pilot.press("y")
        assert app.clipboard == "plain old message"
        await pilot.press("ctrl+f")
        await pilot.pause(0.1)
        assert app.screen is chat
        assert any("does not offer search" in str(n.message) for n in app._notifications)
