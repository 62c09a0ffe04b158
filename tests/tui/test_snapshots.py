"""Snapshot tests (pytest-textual-snapshot): a fixed clock, UTC and fixed data,
so the SVGs under __snapshots__ only change when the look does.
Update them with `pytest tests/tui --snapshot-update` and look at the diff."""

from __future__ import annotations

from datetime import datetime

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from chinwag.protocol.client import SearchPage
from chinwag.protocol.errors import ServerError
from chinwag.protocol.reconnect import ConnectionStateEvent
from chinwag.tui.screens.search import SearchScreen
from chinwag.tui.search import parse_query
from chinwag.tui.timeline import Gap, order_key

from .demo import ELSEWHERE, LIVING, LOBBY, NOW, open_demo_chat, open_living_chat, snapshot_app

pytestmark = pytest.mark.usefixtures("still_cursors")


def test_login(snap_compare, tmp_path) -> None:
    assert snap_compare(snapshot_app(tmp_path), terminal_size=(100, 30))


def test_login_error(snap_compare, tmp_path) -> None:
    app = snapshot_app(tmp_path)
    app.server = "127.0.0.1:9"  # nothing listens there: refused at once

    async def run_before(pilot: Pilot) -> None:
        app.screen.query_one("#password", Input).value = "secret password"
        await pilot.press("enter")
        message = app.screen.query_one("#message")
        for _ in range(100):
            if "cannot reach" in str(message.render()):
                break
            await pilot.pause(0.05)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_register(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("ctrl+r")
        await pilot.pause()
        pilot.app.screen.query_one("#username", Input).value = "Zoe"
        pilot.app.screen.query_one("#password", Input).value = "short"
        pilot.app.screen.query_one("#password", Input).focus()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


def test_chat_with_day_separator_and_new_line(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_sidebar_badges_and_offline_people(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await open_demo_chat(pilot)
        screen.open("@dave")  # an offline person talked to; #ops and @bob keep their badges

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_quick_switcher_open(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot)
        await pilot.press("ctrl+k")
        await pilot.pause(0.2)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_reconnecting_footer(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await open_demo_chat(pilot, ConnectionStateEvent("reconnecting", 3.0, "connection closed by server"))
        lobby = screen.state.conversations["#lobby"]
        lobby.add_pending("c1", "typed while the link was down", int(screen.clock() * 1000))
        screen.query_one("#log").sync()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_chat_at_80x24(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


# --- living messages (`messages`, `read`, `search`) -------------------------------------------


def test_replies_edits_deletions_and_reactions(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_living_chat(pilot)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_a_selected_message_and_its_keys(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_living_chat(pilot)
        await pilot.press("alt+k", "up", "up")  # dave's, with reactions: not alice's to change

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_your_own_message_selected_at_80x24(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_living_chat(pilot)
        await pilot.press("up")  # from the empty composer: the newest, alice's reply

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_writing_a_reply(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_living_chat(pilot)
        await pilot.press("up", "up", "up", "r", *"great, thanks")

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_delete_asks_first(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_living_chat(pilot)
        await pilot.press("up", "d")
        await pilot.pause(0.1)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_the_reaction_picker(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_living_chat(pilot)
        await pilot.press("up", "up", "up", "plus")  # dave's: alice's 👍 is marked
        await pilot.pause(0.1)
        await pilot.press("right", "right")

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_a_gap_in_the_loaded_history(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await open_living_chat(pilot)
        lobby = screen.state.conversations["#lobby"]
        lobby.gaps = [Gap(order_key(LOBBY[0]), order_key(LOBBY[1]))]
        lobby.version += 1
        screen.query_one("#log").sync()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


async def open_search(pilot: Pilot, line: str, page: SearchPage | None, error: ServerError | None = None) -> None:
    """The search panel over the demo chat, showing a page of results (or an error)."""
    screen = await open_living_chat(pilot)
    pilot.app.push_screen(SearchScreen(None, clock=screen.clock, tz=screen.tz))
    await pilot.pause()
    panel = pilot.app.screen
    assert isinstance(panel, SearchScreen)
    panel.query_one(Input).value = line
    await pilot.pause(0.4)  # past the debounce: with no link it says so, then what follows replaces that
    query = parse_query(line, tz=screen.tz, today=datetime.fromtimestamp(NOW, screen.tz).date())
    if error is not None:
        panel.show_failure(error)
    else:
        assert page is not None
        panel.show_page(query, page)
    await pilot.pause()


def test_search_results(snap_compare, tmp_path) -> None:
    found = [LIVING[1], LIVING[0], LOBBY[-1], ELSEWHERE[3]]  # newest first, as the server gives them

    async def run_before(pilot: Pilot) -> None:
        await open_search(pilot, "disk", SearchPage(found, "next-page"))
        await pilot.press("down")

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_search_with_no_results(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_search(pilot, "kubernetes in:#ops", SearchPage([], None))

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_search_unavailable(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_search(pilot, "disk", None, ServerError("this server has no search index", "unavailable"))

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(80, 24), run_before=run_before)
