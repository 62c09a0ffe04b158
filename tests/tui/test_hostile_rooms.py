"""What rooms and people add to the screen carries other people's strings
too: a room's topic, status texts, display names, kick reasons, who sent an
invitation. Whatever they hold (markup, terminal and bidi controls), the
header, the member panel, the sidebar, the log, the profile and invitation
dialogs show them literally, with controls replaced, and the app writes no
control character to the terminal. Fed as a hostile server would send them."""

from __future__ import annotations

from chinwag.protocol.messages import (
    InvitedEvent,
    MemberEvent,
    PresenceEvent,
    Room,
    RoomEvent,
    RoomInfo,
    RoomMember,
    User,
)
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.chat_messages import RoomInfoLoaded, ServerEvents
from chinwag.tui.screens.invitation import InvitationScreen
from chinwag.tui.screens.profile import ProfileScreen
from chinwag.tui.state import ChatState
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.header import ConversationHeader
from chinwag.tui.widgets.members import MemberList
from chinwag.tui.widgets.sidebar import Sidebar

from .conftest import terminal_output, wait_for
from .demo import ME, snapshot_app
from .test_hostile_render import PIECES, expected, no_controls, region_lines

EVIL = "[b]x[/b] \x1b]0;t\x07 [@click=app.quit]q[/] \x9b31m \u202eevil\u202c [AFK]"


async def test_topics_statuses_names_and_reasons_show_literally(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        state = ChatState(ME)
        state.features = frozenset({"rooms", "people"})
        screen = ChatScreen(state, None, clock=app.clock, tz=app.tz)
        await app.switch_screen(screen)
        await pilot.pause()
        state.joined("ops", 3)
        topic, status, display, reason = "topic " + EVIL, "status " + EVIL, "Eve " + EVIL[:40], "why " + EVIL
        screen.post_message(
            ServerEvents(
                [
                    PresenceEvent(User("eve", display, True, True, status), True),
                    RoomEvent(Room("ops", 3, topic, True, "moderator")),
                    InvitedEvent("secret", "mallory" + "\x1b[2J"),
                ]
            )
        )
        await pilot.pause()
        state.conversations["#ops"].more = False
        screen.open("#ops")
        await pilot.pause()

        header = screen.query_one(ConversationHeader)
        assert expected(topic) in region_lines(app, header.query_one("#topic"))[0] or expected(topic).startswith(
            region_lines(app, header.query_one("#topic"))[0].rstrip()
        )
        assert "🔒" in region_lines(app, header.query_one("#title"))[0]
        sidebar = "\n".join(region_lines(app, screen.query_one(Sidebar)))
        assert "#secret · " + expected("mallory\x1b[2J")[:6] in sidebar
        no_controls(terminal_output(app))

        members = (
            RoomMember("alice", "Alice", "moderator", True),
            RoomMember("eve", display, "member", True, True, status),
            RoomMember("bob", "Bob " + EVIL[:20], "owner", False),
        )
        screen.members_shown = True
        screen.query_one(MemberList).set_class(True, "-shown")
        screen.post_message(RoomInfoLoaded("ops", RoomInfo(Room("ops", 3, topic, True, "moderator"), members), None))
        panel = screen.query_one(MemberList)
        await wait_for(pilot, lambda: any("Owner" in str(o.prompt) for o in panel.options), what="the panel")
        await pilot.pause()
        prompts = [o.prompt.plain for o in panel.options]  # type: ignore[union-attr]
        assert any(expected(status) in p for p in prompts)
        assert any(p.startswith("● " + expected(display)) or p.startswith("◐ " + expected(display)) for p in prompts)
        no_controls(terminal_output(app))

        screen.post_message(
            ServerEvents([MemberEvent("ops", User("eve", display), False, None, "bob" + EVIL[:8], reason)])
        )
        await pilot.pause()
        screen.query_one(ConversationView).sync()
        await pilot.pause()
        log = "\n".join(region_lines(app, screen.query_one(ConversationView)))
        assert "removed eve from #ops" in log and expected(reason)[:30] in log
        screen.post_message(
            ServerEvents([MemberEvent("ops", User("bob", "Bob"), False, None, "alice2", "two\n12:00 – lines")])
        )
        await pilot.pause()
        screen.query_one(ConversationView).sync()
        await pilot.pause()
        log = "\n".join(region_lines(app, screen.query_one(ConversationView)))
        assert "two␊12:00 – lines" in log  # a reason stays on its line: it cannot pass for a line of the log
        no_controls(terminal_output(app))

        app.push_screen(
            ProfileScreen("eve", display, online=True, away=True, status=status, role="member", room="#ops")
        )
        await pilot.pause()
        no_controls(terminal_output(app))
        app.pop_screen()
        app.push_screen(InvitationScreen("secret", "".join(PIECES[:30])))
        await pilot.pause()
        no_controls(terminal_output(app))
        assert app.is_running
