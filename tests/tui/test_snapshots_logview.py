"""Snapshots of what the log shows (see test_snapshots.py for how to
update them): multi-line messages and a wrapped link, the confirm before a
link opens, and the "new messages" bar after a resize while scrolled up."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from chinwag.protocol.messages import Message
from chinwag.tui.screens.chat_messages import ServerEvents

from .demo import at, open_demo_chat, snapshot_app

pytestmark = pytest.mark.usefixtures("still_cursors")

LONG_URL = "https://wiki.example.org/ops/runbooks/backup/" + "restore-from-snapshot/" * 4 + "#step-3"
SHOWN = [
    Message(
        f"{at(3, 14, 24)}-0",
        "#lobby",
        "dave",
        "steps:\n1. stop the job\n2. swap the disk\n   (db-2 only)",
        at(3, 14, 24),
    ),
    Message(f"{at(3, 14, 25)}-0", "#lobby", "erin", f"runbook: {LONG_URL} (page 3)", at(3, 14, 25)),
    Message(f"{at(3, 14, 26)}-0", "#lobby", "alice", "thanks, on it\nwill report back", at(3, 14, 26)),
]


async def show_lines(pilot: Pilot, *before: Message) -> None:
    screen = await open_demo_chat(pilot)
    screen.post_message(ServerEvents([*before, *SHOWN]))
    await pilot.pause()
    screen._sync_view()
    await pilot.pause()


def test_multi_line_messages_and_a_wrapped_link(snap_compare, tmp_path) -> None:
    assert snap_compare(snapshot_app(tmp_path), terminal_size=(80, 24), run_before=show_lines)


def test_opening_a_link_asks_first_with_the_whole_url(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await show_lines(pilot)
        await pilot.press("alt+k", "up", "o")
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(100, 30), run_before=run_before)


def test_new_messages_bar_after_a_resize_while_scrolled_up(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Pilot) -> None:
        chatter = [
            Message(f"{at(3, 14, 23)}-{n}", "#lobby", "bob", f"checking db-{n}", at(3, 14, 23)) for n in range(12)
        ]
        await show_lines(pilot, *chatter)
        screen = pilot.app.screen
        await pilot.press("pageup")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        late = [
            Message(f"{at(3, 14, 28)}-{n}", "#lobby", sender, text, at(3, 14, 28))
            for n, (sender, text) in enumerate((("bob", "disk swapped"), ("carol", "backups green")))
        ]
        screen.post_message(ServerEvents(late))
        await pilot.pause()
        screen._sync_view()
        await pilot.pause()

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(110, 30), run_before=run_before)
