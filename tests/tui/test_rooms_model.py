"""The pure parts rooms and people add: the new commands' parsing, the
delete rule with roles, the member list's grouping, invitations in the
sidebar."""

from __future__ import annotations

import pytest

from chinwag.protocol.messages import MemberEvent, Message, Room, RoomInfo, RoomMember, User
from chinwag.tui.commands import CommandError, parse_line
from chinwag.tui.room_commands import Result, done_line
from chinwag.tui.state import ChatState

ME = User("alice", "Alice")


@pytest.mark.parametrize(
    ("line", "name", "target", "text"),
    [
        ("/create ops", "create", "ops", ""),
        ("/create #Ops private", "create", "ops", "private"),
        ("/invite @bob", "invite", "bob", ""),
        ("/kick bob", "kick", "bob", ""),
        ("/kick bob spamming the channel", "kick", "bob", "spamming the channel"),
        ("/ban Bob flood", "ban", "bob", "flood"),
        ("/unban bob", "unban", "bob", ""),
        ("/role bob Moderator", "role", "bob", "moderator"),
        ("/topic release day: freeze at 5", "topic", "", "release day: freeze at 5"),
        ("/topic", "topic", "", ""),
        ("/away", "away", "", ""),
        ("/away lunch, back at 2", "away", "", "lunch, back at 2"),
        ("/back", "back", "", ""),
        ("/block bob", "block", "bob", ""),
        ("/unblock bob", "unblock", "bob", ""),
        ("/nick Alice L.", "nick", "", "Alice L."),
        ("/logout", "logout", "", ""),
    ],
)
def test_the_new_commands(line: str, name: str, target: str, text: str) -> None:
    command = parse_line(line)
    assert command is not None
    assert (command.name, command.target, command.text) == (name, target, text)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("/create", "usage: /create ROOM [private]"),
        ("/create ops secret", "usage: /create ROOM [private]"),
        ("/create no/pe", "not a room name"),
        ("/invite", "usage: /invite USER"),
        ("/invite bob carol", "usage: /invite USER"),
        ("/kick 9lives", "not a username"),
        ("/role bob", "usage: /role USER owner|moderator|member"),
        ("/role bob king", "usage: /role USER owner|moderator|member"),
        ("/topic " + "x" * 301, "at most 300 characters"),
        ("/away " + "x" * 101, "at most 100 characters"),
        ("/nick", "usage: /nick DISPLAY NAME"),
        ("/nick a\x1bb", "control character"),
        ("/back now", "usage: /back"),
        ("/logout please", "usage: /logout"),
    ],
)
def test_bad_new_commands_say_what_to_type(line: str, words: str) -> None:
    with pytest.raises(CommandError, match=words.replace("|", r"\|").replace("[", r"\[").replace("]", r"\]")):
        parse_line(line)


def test_delete_is_for_the_author_and_the_rooms_owner_and_moderators() -> None:
    state = ChatState(ME)
    state.joined("ops", 3)
    theirs = Message("1-0", "#ops", "bob", "hi", 1)
    mine = Message("2-0", "#ops", "alice", "hi", 2)
    dm = Message("3-0", "@bob", "bob", "hi", 3)
    assert state.may_delete(mine) and not state.may_delete(theirs)
    for role, may in (("member", False), ("moderator", True), ("owner", True)):
        state.set_room(Room("ops", 3, None, False, role))
        assert state.may_delete(theirs) is may, role
    assert not state.may_delete(dm)  # no one moderates a direct conversation
    assert not state.may_delete(Message("4-0", "#ops", "bob", "", 4, deleted=True))
    state.set_room(Room("ops", 3, None, False, "member"))
    state.admin = True  # the server's admins act as owners everywhere
    assert state.may_delete(theirs) and not state.may_delete(dm)


def test_members_are_grouped_by_role_online_first_and_follow_events() -> None:
    state = ChatState(ME)
    state.joined("ops", 4)
    members = (
        RoomMember("alice", "Alice", "member", True),
        RoomMember("zed", "Zed", "member", True, True, "lunch"),
        RoomMember("bob", "Bob", "owner", True),
        RoomMember("carol", "Carol", "member", False),
        RoomMember("dave", "Dave", "moderator", True),
        RoomMember("erin", "Erin", "member", True),
    )
    state.set_room_info(RoomInfo(Room("ops", 6, "t", False, "member"), members, more=True))
    groups = state.members("ops")
    assert [(heading, [r.username for r in rows]) for heading, rows in groups] == [
        ("Owner", ["bob"]),
        ("Moderators", ["dave"]),
        ("Members", ["alice", "erin", "zed", "carol"]),  # online, not away, first
    ]
    assert state.details["ops"].more and state.role_in("ops") == "member"
    assert next(r for r in groups[2][1] if r.username == "zed").status == "lunch"

    state.member_changed(MemberEvent("ops", User("erin", "Erin"), True, "moderator", "bob"))
    state.member_changed(MemberEvent("ops", User("carol", "Carol"), False, None, "bob", "spam"))
    state.member_changed(MemberEvent("ops", User("frank", "Frank"), True, "member"))
    state.member_changed(MemberEvent("ops", User("alice", "Alice"), True, "moderator", "bob"))
    groups = state.members("ops")
    assert [(heading, [r.username for r in rows]) for heading, rows in groups] == [
        ("Owner", ["bob"]),
        ("Moderators", ["alice", "dave", "erin"]),
        ("Members", ["zed", "frank"]),
    ]
    assert state.may_moderate("ops")


def test_invitations_come_first_in_the_sidebar_and_go_when_joined() -> None:
    state = ChatState(ME)
    state.invited("secret", "bob")
    state.invited("lobby", "bob")  # already in it: nothing to accept
    entries = state.sidebar()
    assert (entries[0].section, entries[0].label, entries[0].detail) == ("invitations", "secret", "bob")
    assert len([e for e in entries if e.section == "invitations"]) == 1
    assert state.step(1) == "#lobby"  # stepping goes through conversations only
    state.joined("secret", 2)
    assert not state.invitations and [e.section for e in state.sidebar()] == ["rooms", "rooms"]


def test_the_log_says_what_the_server_agreed_to() -> None:
    def line(text: str, room: str = "ops", result: Result | None = None) -> str:
        command = parse_line(text)
        assert command is not None
        return done_line(command, room, result or Result())

    assert line("/create ops private", "", Result(room=Room("ops", 1, None, True, "owner"))) == (
        "you created #ops (private: members invite others)"
    )
    assert line("/create ops", "", Result(room=Room("ops", 7, None, False, "member"))) == (
        "#ops already exists: you joined it"
    )
    assert line("/kick bob flood") == "you removed bob from #ops: flood"
    assert line("/role bob owner") == "bob is now an owner of #ops"
    assert line("/topic -") == "you cleared the topic of #ops"
    assert line("/away") == "you are away · /back when you return"
    assert line("/nick Al", result=Result(user=User("alice", "Al"))) == "you are now shown as Al"


def test_your_own_status_comes_from_the_login() -> None:
    state = ChatState(User("alice", "Alice", True, True, "on leave"))
    assert (state.away, state.status) == (True, "on leave")
    state.joined("ops", 1)
    state.set_room_info(RoomInfo(Room("ops", 1, None, False, "owner"), (RoomMember("alice", "Alice", "owner", True),)))
    [(heading, [me])] = state.members("ops")
    assert (heading, me.me, me.away, me.status) == ("Owner", True, True, "on leave")
