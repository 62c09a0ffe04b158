"""Snapshot tests of what rooms and people add to the TUI, against a real
server (on a thread of its own: snap_compare runs the app on its own loop)
and a real Redis, with a fixed clock and UTC. No message is sent, so no
server timestamp shows: what is on screen comes from the fixed data below.
Update with `pytest tests/tui --snapshot-update` and look at the diff."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.members import MemberList
from chinwag.tui.widgets.status import ConnectionStatus

from ..support.settings import PASSWORD
from .conftest import FAST_RECONNECT, ThreadedServer, wait_for
from .demo import NOW

SIZE = (110, 30)

pytestmark = pytest.mark.usefixtures("still_cursors")


def live_app(tmp_path: Path, server: ThreadedServer, username: str = "alice") -> ChinwagApp:
    return ChinwagApp(
        server=f"127.0.0.1:{server.port}",
        username=username,
        config_path=tmp_path / "config.toml",
        clock=lambda: NOW,
        tz=UTC,
        link_options=FAST_RECONNECT,
    )


async def logged_in(pilot: Pilot, server: ThreadedServer) -> ChatScreen:
    """Make alice, log in as her and wait until connected and the directory is in."""
    await server.register("alice", "Alice Liddell")
    app = pilot.app
    app.screen.query_one("#password", Input).value = PASSWORD
    await pilot.press("enter")
    chat: ChatScreen = await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen, 10)
    status = chat.query_one(ConnectionStatus)
    await wait_for(pilot, lambda: status.state is not None and status.state.state == "connected", 10)
    await wait_for(
        pilot, lambda: not chat.state.catching_up and chat.state.conversations["#lobby"].more is not None, 10
    )
    return chat


async def type_line(pilot: Pilot, line: str) -> None:
    composer = pilot.app.screen.query_one(Composer)
    composer.focus()
    composer.value = line
    await pilot.press("enter")


async def settle(pilot: Pilot, focus: bool = True) -> None:
    """Let the last events land; the composer has the focus (and its cursor), as after typing."""
    if focus and isinstance(pilot.app.screen, ChatScreen):
        pilot.app.screen.query_one(Composer).focus()
    await pilot.pause(0.3)


async def ops_with_people(pilot: Pilot, server: ThreadedServer) -> tuple[ChatScreen, Any, Any]:
    """alice owns the private #ops (with a topic); bob moderates it, carol
    is away in it, erin is offline in it."""
    bob = await server.user("bob", "Bob Marley")
    carol = await server.user("carol", "Carol Danvers")
    erin = await server.user("erin", "Erin Brockovich")
    chat = await logged_in(pilot, server)
    await type_line(pilot, "/create ops private")
    await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
    await type_line(pilot, "/topic db-2 disk at 91% — runbook in the wiki; [b]not markup[/b]")
    await wait_for(pilot, lambda: chat.state.detail("ops").topic, what="the topic")
    assert chat.link is not None
    for client in (bob, carol, erin):  # invited straight from alice's link, to keep the log short
        await chat.link.invite("ops", client.session.user.username)
        await server.call(client.join("ops"))
    await wait_for(pilot, lambda: chat.state.rooms.get("ops") == 4, what="four members")
    await type_line(pilot, "/role bob moderator")
    await wait_for(pilot, lambda: any("moderator of #ops" in line for line in log(pilot)), what="the role")
    await server.call(carol.set_status(True, "lunch, back at 2"))
    await server.call(erin.close())
    await wait_for(pilot, lambda: not chat.state.people["erin"].online, what="erin offline")
    await wait_for(pilot, lambda: chat.state.people["carol"].away, what="carol away")
    return chat, bob, carol


def log(pilot: Pilot) -> list[str]:
    from chinwag.tui.widgets.conversation import ConversationView

    return pilot.app.screen.query_one(ConversationView).plain_lines()


def test_the_member_panel_grouped_by_role(snap_compare, tmp_path, threaded_server) -> None:
    server = threaded_server()

    async def run_before(pilot: Pilot) -> None:
        chat, _, _ = await ops_with_people(pilot, server)
        await pilot.press("ctrl+g")
        panel = chat.query_one(MemberList)
        await wait_for(pilot, lambda: any("Moderators" in str(o.prompt) for o in panel.options), what="the list")
        await settle(pilot, focus=False)

    assert snap_compare(live_app(tmp_path, server), terminal_size=SIZE, run_before=run_before)


def test_the_header_with_topic_lock_and_role(snap_compare, tmp_path, threaded_server) -> None:
    server = threaded_server()

    async def run_before(pilot: Pilot) -> None:
        await ops_with_people(pilot, server)
        await settle(pilot)

    assert snap_compare(live_app(tmp_path, server), terminal_size=SIZE, run_before=run_before)


def test_an_invitation_in_the_sidebar(snap_compare, tmp_path, threaded_server) -> None:
    server = threaded_server()

    async def run_before(pilot: Pilot) -> None:
        bob = await server.user("bob", "Bob Marley")
        await server.call(bob.join("incident-42", private=True))
        chat = await logged_in(pilot, server)
        await server.call(bob.invite("incident-42", "alice"))
        await wait_for(pilot, lambda: chat.state.invitations, what="the invitation")
        chat.answer_invitation("incident-42")
        await settle(pilot)

    assert snap_compare(live_app(tmp_path, server), terminal_size=SIZE, run_before=run_before)


def test_kicked_says_who_and_why(snap_compare, tmp_path, threaded_server) -> None:
    server = threaded_server()

    async def run_before(pilot: Pilot) -> None:
        bob = await server.user("bob", "Bob Marley")
        await server.call(bob.join("ops"))
        chat = await logged_in(pilot, server)
        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        await server.call(bob.kick("ops", "alice", "[b]off-topic[/b] again; read the pinned rules"))
        await wait_for(pilot, lambda: "ops" not in chat.state.rooms, what="out of #ops")
        await settle(pilot)

    assert snap_compare(live_app(tmp_path, server), terminal_size=SIZE, run_before=run_before)


def test_the_account_screen(snap_compare, tmp_path, threaded_server) -> None:
    server = threaded_server()

    async def run_before(pilot: Pilot) -> None:
        chat = await logged_in(pilot, server)
        chat.action_account()
        await wait_for(pilot, lambda: pilot.app.screen.query("#old"), what="the account screen")
        pilot.app.screen.query_one("#old", Input).value = "secret"
        await settle(pilot)

    app = live_app(tmp_path, server)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_register_with_an_invitation_code(snap_compare, tmp_path, threaded_server) -> None:
    server = threaded_server(registration="invite")

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("ctrl+r")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.query("#invite-field") and screen.query_one("#invite-field").display)
        screen.query_one("#server", Input).value = "chat.example.org:7878"  # the port changes from run to run
        await pilot.pause()
        if screen._policy_timer is not None:  # type: ignore[attr-defined]
            screen._policy_timer.stop()  # type: ignore[attr-defined]  # no lookup of that name
        screen.query_one("#username", Input).value = "zoe"
        screen.query_one("#invite", Input).focus()
        await settle(pilot)

    assert snap_compare(live_app(tmp_path, server, username=""), terminal_size=(100, 30), run_before=run_before)
