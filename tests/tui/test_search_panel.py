"""The search panel against a real server and its real index: results as
you type, filters, Enter going to the message (loading history around it),
no results, a server without an index, and escape back to where you were."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, OptionList

from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.search import SearchScreen
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView

from .conftest import log_in, wait_for

SEARCH = ["search"]


async def indexed(client, query: str, count: int) -> None:
    """Wait until the index finds `count` messages for `query` (findable within 1 s)."""
    for _ in range(500):  # 10 s at most: a loaded machine, not the index's 1 s promise
        if len((await client.search(query)).results) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the index never found {count} messages for {query!r}")


def panel(app) -> SearchScreen:
    screen = app.screen
    assert isinstance(screen, SearchScreen)
    return screen


async def typed(pilot, text: str) -> None:
    """Replace what is typed in the panel, as a user would (the debounce runs)."""
    box = pilot.app.screen.query_one(Input)
    box.value = text
    box.cursor_position = len(text)
    await pilot.pause()


def highlighted_words(app, index: int) -> list[str]:
    """The words the result at `index` shows highlighted."""
    prompt = app.screen.query_one(OptionList).get_option_at_index(index).prompt
    return [prompt.plain[span.start : span.end] for span in prompt.spans if getattr(span.style, "reverse", False)]


async def test_results_come_in_as_you_type_and_enter_goes_there(make_server, user, make_app, tmp_path) -> None:
    server = await make_server(search_dir=str(tmp_path / "search"), send_rate=100_000.0, send_burst=100_000)
    alice = await user("alice", to=server, features=SEARCH)
    await alice.join("ops")
    bob = await user("bob", to=server)
    await bob.join("ops")
    old = await bob.send("#ops", "the db-2 disk is at 91%")
    await asyncio.gather(*(bob.request_nowait("send", to="#ops", text=f"chatter {n}") for n in range(150)))
    await bob.send("#lobby", "Disks replaced, backups green")
    await (await user("carol", to=server)).send("@alice", "a disk quota question")
    await indexed(alice, "disk", 3)
    await alice.close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), what="the panel")
        await pilot.press(*"dis")  # a word's start finds the word
        await wait_for(pilot, lambda: len(panel(app).results) == 3, what="three results")
        assert [m.conv for m in panel(app).results] == ["@carol", "#lobby", "#ops"]  # newest first
        assert panel(app).status.startswith("3 results")
        assert highlighted_words(app, 1) == ["Disks"]
        lines = app.screen.query_one(OptionList).get_option_at_index(2).prompt.plain.split("\n")
        assert lines[0].split()[:2] == ["#ops", "bob"] and ":" in lines[0]  # conversation, author, time
        assert "the db-2 disk is at 91%" in lines[1]

        await typed(pilot, "disk from:bob")
        await wait_for(pilot, lambda: [m.conv for m in panel(app).results] == ["#lobby", "#ops"], what="bob's")
        await typed(pilot, "disk from:bob in:@carol")
        await wait_for(pilot, lambda: panel(app).status.startswith("no messages match"), what="none")
        assert panel(app).status == "no messages match “disk” (from:bob in:@carol)"
        await typed(pilot, "disk in:#ops")
        await wait_for(pilot, lambda: [m.mid for m in panel(app).results] == [old.mid], what="the old one")

        await pilot.press("enter")  # to #ops, where it is older than the page loaded
        await wait_for(pilot, lambda: app.screen is chat, what="the chat")
        view = chat.query_one(ConversationView)
        await wait_for(pilot, lambda: view.selected == old.mid, what="the message, selected")
        assert chat.state.current == "#ops" and app.focused is view
        assert chat.state.conversations["#ops"].get(old.mid) is not None


async def test_escape_goes_back_to_where_you_were(make_server, user, make_app, tmp_path) -> None:
    server = await make_server(search_dir=str(tmp_path / "search"))
    await (await user("alice", to=server)).close()
    bob = await user("bob", to=server)
    await bob.send("@alice", "hello")
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await pilot.press("alt+u")
        assert chat.state.current == "@bob"
        await pilot.press(*"/search nothing like it", "enter")  # the command opens the panel, searching
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), what="the panel")
        assert app.screen.query_one(Input).value == "nothing like it"
        await wait_for(pilot, lambda: panel(app).status.startswith("no messages"), what="no results")
        await typed(pilot, "x before:someday")
        await wait_for(pilot, lambda: "before:2026-11-30" in panel(app).status, what="what to type")
        await typed(pilot, "from:bob")
        await wait_for(pilot, lambda: "type a word" in panel(app).status, what="a word wanted")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is chat, what="the chat")
        assert chat.state.current == "@bob" and isinstance(app.focused, Composer)


async def test_a_server_without_an_index_says_search_is_unavailable(server, user, make_app) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        assert "search" not in chat.state.features and chat.state.features  # it speaks the extensions
        await pilot.press("ctrl+f", *"deploy")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and "not available" in panel(app).status)
        assert panel(app).status.startswith("search is not available on this server right now: ")
        assert panel(app).results == []
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)
