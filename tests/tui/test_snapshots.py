"""Snapshot tests (pytest-textual-snapshot): a fixed clock, UTC and fixed data,
so the SVGs under __snapshots__ only change when the look does.
Update them with `pytest tests/tui --snapshot-update` and look at the diff."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from chinwag.protocol.reconnect import ConnectionStateEvent

from .demo import open_demo_chat, snapshot_app


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
