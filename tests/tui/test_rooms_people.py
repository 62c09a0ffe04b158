"""Pilot tests of rooms and people in the TUI (issue 12), against a real
server and a real Redis: the member panel, the header, the commands and
their refusals, invitations, being removed, revoked or disabled, the
account screen and registration by invitation code."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox, Input, OptionList

from chinwag.protocol import limits
from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import ByeEvent, InvitedEvent, MemberEvent, RoomEvent
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.account import AccountScreen
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.confirm import ConfirmScreen
from chinwag.tui.screens.invitation import InvitationScreen
from chinwag.tui.screens.login import LoginScreen
from chinwag.tui.screens.profile import ProfileScreen
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.header import ConversationHeader
from chinwag.tui.widgets.members import MemberList
from chinwag.tui.widgets.sidebar import Sidebar

from ..support.events import next_of, settled
from ..support.settings import PASSWORD
from .conftest import fill, log_in, log_lines, wait_for

FEATURES = (limits.FEATURE_ROOMS, limits.FEATURE_PEOPLE)
SIZE = (110, 32)


async def people(user: Any, *names: str) -> list[ChatClient]:
    """Headless users with `rooms` and `people`, logged in."""
    return [await user(name, features=FEATURES) for name in names]


async def type_line(pilot: Any, line: str) -> None:
    composer = pilot.app.screen.query_one(Composer)
    composer.focus()
    composer.value = line
    await pilot.press("enter")


def header_text(app: ChinwagApp) -> str:
    header = app.screen.query_one(ConversationHeader)
    return " ".join(str(label.render()) for label in header.query("Label"))


def panel_lines(app: ChinwagApp) -> list[str]:
    panel = app.screen.query_one(MemberList)
    return [str(option.prompt) for option in panel.options]


async def notice(pilot: Any, words: str) -> list[str]:
    app = pilot.app
    return await wait_for(pilot, lambda: [line for line in log_lines(app) if words in line], what=repr(words))


async def test_create_then_topic_and_roles_show_in_the_header_and_panel(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/create ops private")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="the new room")
        await notice(pilot, "you created #ops (private")
        assert "🔒" in header_text(app) and "you: owner" in header_text(app)

        await type_line(pilot, "/topic db-2 disk at 91% [b]not markup[/b]")
        await notice(pilot, "you set the topic of #ops")
        await wait_for(pilot, lambda: "db-2 disk at 91% [b]not markup[/b]" in header_text(app), what="the topic")

        await type_line(pilot, "/invite bob")
        await notice(pilot, "you invited bob to #ops")
        invited = await next_of(bob, InvitedEvent)
        assert (invited.room, invited.by) == ("ops", "alice")
        await bob.join("ops")
        await notice(pilot, "bob joined #ops")

        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: any("Members (1)" in line for line in panel_lines(app)), what="the panel")
        lines = panel_lines(app)
        assert lines[0].startswith("#ops")
        assert "Owner (1)" in lines and any("alice" in line and "(you)" in line for line in lines)
        assert app.focused is app.screen.query_one(MemberList)

        await type_line(pilot, "/role bob moderator")
        await notice(pilot, "bob is now a moderator of #ops")
        await wait_for(pilot, lambda: "Moderators (1)" in panel_lines(app), what="bob under Moderators")
        assert not any(line.startswith("Members") for line in panel_lines(app))
        assert chat.state.may_moderate("ops")


async def test_panel_follows_presence_and_status_and_opens_a_conversation(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob, carol = await people(user, "bob", "carol")
    await bob.join("ops")
    await carol.join("ops")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        assert "you: member" in header_text(app)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: "Members (2)" in panel_lines(app), what="the member list")
        assert "Owner (1)" in panel_lines(app)

        await bob.set_status(True, "lunch, back at 2")
        await wait_for(pilot, lambda: any("lunch, back at 2" in line for line in panel_lines(app)), what="status")
        assert chat.state.people["bob"].away
        await carol.leave("ops")
        await wait_for(pilot, lambda: not any("carol" in line for line in panel_lines(app)), what="carol gone")
        await notice(pilot, "carol left #ops")

        panel = app.screen.query_one(MemberList)
        panel.focus()
        panel.highlighted = next(i for i, o in enumerate(panel.options) if o.id == "alice")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ProfileScreen), what="the profile")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is chat, what="back")
        panel.focus()
        panel.highlighted = next(i for i, o in enumerate(panel.options) if o.id == "bob")
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.state.current == "@bob", what="the DM with bob")
        assert isinstance(app.focused, Composer)
        assert "away · lunch, back at 2" in header_text(app)  # their status, in the direct conversation too
        await wait_for(pilot, lambda: "direct conversation" in " ".join(panel_lines(app)), what="no member list")


async def test_refusals_show_the_servers_words(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    await bob.join("ops")  # bob owns it
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        await type_line(pilot, "/kick bob")
        [line] = await notice(pilot, "/kick refused:")
        assert line.split("/kick refused:", 1)[1].strip()  # the server's sentence follows
        await type_line(pilot, "/topic mine now")
        await notice(pilot, "/topic refused:")
        await type_line(pilot, "/role bob sultan")
        await notice(pilot, "usage: /role USER owner|moderator|member")
        assert app.screen.query_one(Composer).value == "/role bob sultan"  # given back to be fixed
        app.screen.query_one(Composer).value = ""
        chat.open("@bob")
        await type_line(pilot, "/invite carol")
        await notice(pilot, "/invite works in a room")


async def test_an_invitation_waits_in_the_sidebar_to_be_accepted_or_declined(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    await bob.join("secret", private=True)
    await bob.join("other", private=True)
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await bob.invite("secret", "alice")
        await bob.invite("other", "alice")
        await wait_for(pilot, lambda: len(chat.state.invitations) == 2, what="two invitations")
        entries = [e for e in chat.state.sidebar() if e.section == "invitations"]
        assert [(e.label, e.detail) for e in entries] == [("other", "bob"), ("secret", "bob")]

        await pilot.click(Sidebar, offset=(4, 3))  # the padding, "Invitations", #other, then #secret
        await wait_for(pilot, lambda: isinstance(app.screen, InvitationScreen), what="the dialog")
        assert app.screen.room == "secret"
        await pilot.press("a")
        await wait_for(pilot, lambda: chat.state.current == "#secret", what="joined #secret")
        assert "secret" not in chat.state.invitations and "secret" in chat.state.rooms
        heard = [e for e in await settled(bob) if isinstance(e, MemberEvent)]
        assert any(e.room == "secret" and e.user.username == "alice" and e.joined for e in heard)

        chat.answer_invitation("other")
        await wait_for(pilot, lambda: isinstance(app.screen, InvitationScreen), what="the dialog")
        await pilot.press("d")
        await notice(pilot, "declined the invitation to #other, here only")
        assert not chat.state.invitations and "other" not in chat.state.rooms


async def test_kicked_says_who_and_why_and_the_room_leaves_the_sidebar(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    await bob.join("ops")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        await bob.kick("ops", "alice", "spam [b]in #ops[/b] [link=x]here[/link]")
        await wait_for(pilot, lambda: "ops" not in chat.state.rooms, what="out of #ops")
        assert chat.state.current == "#lobby"
        assert all(e.address != "#ops" for e in chat.state.sidebar())
        [line] = await notice(pilot, "bob removed you from #ops")
        assert line.endswith("spam [b]in #ops[/b] [link=x]here[/link]")  # the reason as typed, never markup

        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="back in #ops")
        await bob.ban("ops", "alice")
        await wait_for(pilot, lambda: "ops" not in chat.state.rooms, what="banned")
        await notice(pilot, "bob banned you from #ops (no reason given)")  # a ban says so: no way back in
        await type_line(pilot, "/join ops")
        await notice(pilot, "you are banned from #ops")
        assert "ops" not in chat.state.rooms


async def test_status_block_and_display_name_commands(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/away in a meeting")
        await notice(pilot, "you are away: in a meeting")
        assert chat.state.away and chat.state.status == "in a meeting"
        await type_line(pilot, "/back")
        await notice(pilot, "you are back")
        assert not chat.state.away
        await type_line(pilot, "/block bob")
        await notice(pilot, "you blocked bob: nothing they send reaches you")
        assert chat.state.blocked == {"bob"}
        assert await bob.blocks() == []  # the blocked user is not told
        await type_line(pilot, "/unblock bob")
        await notice(pilot, "you unblocked bob")
        await type_line(pilot, "/nick Alice L.")
        await notice(pilot, "you are now shown as Alice L.")
        assert chat.state.me.display_name == "Alice L."
        await type_line(pilot, "/logout")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")


async def test_a_revoked_session_goes_back_to_login_and_says_why(server, user, make_app) -> None:
    other = await user("alice")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot)
        sessions = await other.sessions()
        [tui] = [s for s in sessions if not s.current]
        await other.revoke(tui.id)
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        message = await wait_for(  # the login screen may not be composed yet when it is current
            pilot, lambda: app.screen.query("#message") and str(app.screen.query_one("#message").render()), what="why"
        )
        assert "revoked" in message and "log in again" in message


async def test_the_account_screen_changes_password_and_name_and_revokes(server, user, make_app) -> None:
    other = await user("alice")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        chat.action_account()
        screen = await wait_for(pilot, lambda: isinstance(app.screen, AccountScreen) and app.screen, what="account")
        await wait_for(pilot, lambda: len(screen.sessions) == 2, what="two sessions")
        assert screen.sessions[0].current

        fill(app, old="not it at all", new="a new long password", **{"new-again": "a new long password"})
        await pilot.click("#change-password")
        await wait_for(pilot, lambda: "not that one" in str(screen.query_one("#password-message").render()))
        fill(app, old=PASSWORD)
        assert screen.query_one("#revoke-others", Checkbox).value
        screen.query_one("#new-again", Input).focus()
        await pilot.press("enter")  # enter in the last field submits too
        await wait_for(pilot, lambda: "password changed" in str(screen.query_one("#password-message").render()))
        await wait_for(pilot, lambda: len(screen.sessions) == 1, what="the other session revoked")
        assert isinstance(app.screen, AccountScreen)  # this one goes on
        del other

        screen.query_one("#account-tabs").active = "tab-name"
        fill(app, **{"display-name": "Alice [b]L[/b]"})
        screen.query_one("#display-name", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "now shown as" in str(screen.query_one("#name-message").render()))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is chat, what="back to the chat")
        assert chat.state.me.display_name == "Alice [b]L[/b]"


async def test_the_account_command_is_in_the_palette(server, user, make_app) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        assert any(command.title == "Account" for command in app.get_system_commands(chat))
        assert not any(command.title == "Account" for command in app.get_system_commands(app.screen_stack[0]))


async def test_registration_by_invitation_code_shows_the_field(make_server, make_app) -> None:
    server = await make_server(registration="invite")
    app = make_app(server)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen.query("#again"), what="the register screen")
        field = app.screen.query_one("#invite-field")
        await wait_for(pilot, lambda: field.display, what="the invitation code field")
        fill(app, username="zoe", password=PASSWORD, again=PASSWORD)
        await pilot.click("#register")
        message = app.screen.query_one("#message")
        await wait_for(pilot, lambda: "invitation" in str(message.render()))
        fill(app, invite="no such code")
        await pilot.click("#register")
        await wait_for(pilot, lambda: "invitation" in str(message.render()) and not app.screen.query("#busy"))
        assert not isinstance(app.screen, ChatScreen)


async def test_closed_registration_says_so_instead_of_the_form(make_server, make_app) -> None:
    server = await make_server(registration="closed")
    app = make_app(server)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen.query("#again"), what="the register screen")
        message = app.screen.query_one("#message")
        await wait_for(pilot, lambda: "registration is closed" in str(message.render()))
        assert not app.screen.query_one("#username").display or not app.screen.query_one("#username").parent.display
        assert app.screen.query_one("#server").parent.display  # another server can still be typed


async def test_room_events_update_the_header(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    await bob.join("ops", topic="first topic")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: "first topic" in header_text(app), what="the topic")
        await bob.set_topic("ops", "second topic")
        await wait_for(pilot, lambda: "second topic" in header_text(app), what="the new topic")
        await notice(pilot, "topic: second topic")
        assert isinstance(await next_of(bob, RoomEvent), RoomEvent)
        assert chat.state.detail("ops").role == "member"


async def test_a_disabled_account_is_told_and_goes_back_to_login(server, user, make_app) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot)
        assert await server.store.set_disabled("alice", True)  # as chinwag-admin does, then the bus tells the node
        server.hub.disabled("alice")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        message = await wait_for(  # the login screen may not be composed yet when it is current
            pilot, lambda: app.screen.query("#message") and str(app.screen.query_one("#message").render()), what="why"
        )
        assert "disabled" in message
        await pilot.pause(0.5)
        assert isinstance(app.screen, LoginScreen) and app.link is None  # no reconnecting behind it


async def test_a_session_is_revoked_from_the_account_screen(server, user, make_app) -> None:
    other = await user("alice")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        chat.action_account()
        screen = await wait_for(pilot, lambda: isinstance(app.screen, AccountScreen) and app.screen, what="account")
        await wait_for(pilot, lambda: len(screen.sessions) == 2, what="two sessions")
        screen.query_one("#account-tabs").active = "tab-sessions"
        listing = screen.query_one("#sessions", OptionList)
        listing.focus()
        listing.highlighted = 0  # this one, first: not to be revoked from here
        await pilot.press("enter")
        await wait_for(pilot, lambda: "that is this session" in str(screen.query_one("#sessions-message").render()))
        listing.highlighted = 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(screen.sessions) == 1, what="one session left")
        assert "revoked" in str(screen.query_one("#sessions-message").render())
        bye = await next_of(other, ByeEvent)
        assert bye.reason == "revoked"


async def test_ban_and_unban_from_the_composer(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/create ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        await bob.join("ops")
        await notice(pilot, "bob joined #ops")
        await type_line(pilot, "/ban bob flooding")
        await notice(pilot, "you banned bob from #ops: flooding")
        await wait_for(pilot, lambda: chat.state.rooms.get("ops") == 1, what="bob out")
        removed = [e for e in await settled(bob) if isinstance(e, MemberEvent) and not e.joined]
        assert [(e.user.username, e.by, e.reason) for e in removed] == [("bob", "alice", "flooding")]
        await type_line(pilot, "/unban bob")
        await notice(pilot, "bob may join #ops again")
        await bob.join("ops")
        await notice(pilot, "bob joined #ops")


async def test_a_moderator_may_delete_anyones_message_in_the_room(server, user, make_app) -> None:
    await (await user("alice")).close()
    (bob,) = await people(user, "bob")
    await bob.join("ops")  # bob owns #ops
    app = make_app(server, username="alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/join ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        await bob.send("#ops", "a line alice may not delete, then may")
        await wait_for(pilot, lambda: any("may not delete" in line for line in log_lines(app)), what="bob's line")
        view = app.screen.query_one(ConversationView)
        await pilot.press("alt+k")
        assert view.selected_message is not None and view.selected_message.sender == "bob"
        assert not view.check_action("act", ("delete",))  # a member: not hers to delete
        await pilot.press("escape")
        await bob.set_role("ops", "alice", "moderator")
        await notice(pilot, "bob made you a moderator of #ops")
        await pilot.press("alt+k")
        assert view.check_action("act", ("delete",))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        conv = chat.state.conversations["#ops"]
        await wait_for(pilot, lambda: any(getattr(m, "deleted", False) for m in conv.lines), what="deleted")


async def test_typing_while_the_member_panel_has_focus_goes_to_the_composer(server, user, make_app) -> None:
    """Found trying it: after ctrl+g, Escape and a typed `/kick …` vanished
    into the panel (and `p` in it opened a profile)."""
    app = make_app(server, username="alice")
    await (await user("alice")).close()
    async with app.run_test(size=SIZE) as pilot:
        chat = await log_in(pilot)
        await type_line(pilot, "/create ops")
        await wait_for(pilot, lambda: chat.state.current == "#ops", what="#ops")
        await pilot.press("ctrl+g")
        panel = app.screen.query_one(MemberList)
        await wait_for(pilot, lambda: app.focused is panel, what="the panel takes the keys")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.focused, Composer), what="escape: back to typing")
        assert panel.has_class("-shown"), "the panel stays open"
        panel.focus()
        await pilot.press("slash", "t", "o", "p", "i", "c")
        composer = app.screen.query_one(Composer)
        await wait_for(pilot, lambda: composer.value == "/topic", what="the keys typed into the composer")
        assert isinstance(app.focused, Composer) and not isinstance(app.screen, ProfileScreen)
