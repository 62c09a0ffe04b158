"""Snapshots of the composer's states: several lines being written, a paste
too long for the server (kept, with the error), a nick completed with tab,
and the footer while reconnecting (with the key that retries now)."""

from __future__ import annotations

import pytest
from textual import events
from textual.pilot import Pilot

from chinwag.protocol import limits
from chinwag.protocol.reconnect import ConnectionStateEvent
from chinwag.tui.widgets.composer import Composer

from .demo import open_demo_chat, snapshot_app

pytestmark = pytest.mark.usefixtures("still_cursors")


def test_writing_several_lines(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot)
        pilot.app.screen.query_one(Composer).focus()
        await pilot.press(*"the backup job:", "alt+enter", *"- disk db-2 at 91%", "ctrl+j", *"- paged twice")
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 34), run_before=run_before)


def test_a_paste_longer_than_the_limit(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot)
        composer = pilot.app.screen.query_one(Composer)
        composer.focus()
        words = "a long log pasted by mistake "
        composer.post_message(events.Paste((words * (limits.DEFAULT_MAX_TEXT // len(words) + 2)).strip()))
        await pilot.pause(0.1)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_a_nick_completed_with_tab(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot)
        pilot.app.screen.query_one(Composer).focus()
        await pilot.press(*"thanks ca", "tab")
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)


def test_reconnecting_offers_to_retry_now(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_demo_chat(pilot, ConnectionStateEvent("reconnecting", 8.0, "connection closed by server"))
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(120, 30), run_before=run_before)
