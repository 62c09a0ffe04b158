"""The requests and events of PROTOCOL-EXTENSIONS.md's `rooms`, `people`
and registration policy as typed objects, fed as frames: each rule a
request breaks is `bad_request` (or the contract's code) before any server
sees it. (What the server does with them: tests/server/.)"""

from __future__ import annotations

from typing import Any

import pytest

from chinwag.protocol import limits
from chinwag.protocol.errors import ErrorCode, RequestError
from chinwag.protocol.messages import (
    Ban,
    Block,
    InvitedEvent,
    Join,
    Kick,
    MemberEvent,
    Password,
    Profile,
    Register,
    Revoke,
    Room,
    RoomEvent,
    RoomInfo,
    SessionInfo,
    SetRole,
    SetStatus,
    SetTopic,
    User,
    parse_event,
    parse_request,
)


def _code(frame: dict[str, Any]) -> ErrorCode | str:
    with pytest.raises(RequestError) as exc:
        parse_request({"id": 1, **frame})
    return exc.value.code


def test_join_takes_private_and_topic_and_stays_version_1_without_them() -> None:
    req = parse_request({"type": "join", "id": 1, "room": "#Ops", "private": True, "topic": "on call"})
    assert req == Join(1, "ops", True, "on call")
    plain = parse_request({"type": "join", "id": 2, "room": "ops"})
    assert plain.to_frame() == {"type": "join", "id": 2, "room": "ops"}


def test_leave_takes_only_a_room() -> None:
    assert parse_request({"type": "leave", "id": 1, "room": "ops", "private": 1}).to_frame() == {
        "type": "leave",
        "id": 1,
        "room": "ops",
    }


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "join", "room": "ops", "private": "yes"}, ErrorCode.BAD_REQUEST),
        ({"type": "join", "room": "ops", "topic": "x" * (limits.TOPIC_MAX + 1)}, ErrorCode.TOO_LARGE),
        ({"type": "join", "room": "ops", "topic": "evil\u202etopic"}, ErrorCode.BAD_REQUEST),
        ({"type": "topic", "room": "ops"}, ErrorCode.BAD_REQUEST),
        ({"type": "topic", "room": "ops", "topic": "a\x1b[2Jb"}, ErrorCode.BAD_REQUEST),
        ({"type": "invite", "room": "ops", "user": "Not A Name"}, ErrorCode.BAD_REQUEST),
        ({"type": "kick", "room": "ops"}, ErrorCode.BAD_REQUEST),
        ({"type": "kick", "room": "ops", "user": "bob", "reason": "r" * (limits.REASON_MAX + 1)}, ErrorCode.TOO_LARGE),
        ({"type": "ban", "room": "ops", "user": "bob"}, ErrorCode.BAD_REQUEST),
        ({"type": "role", "room": "ops", "user": "bob", "role": "admin"}, ErrorCode.BAD_REQUEST),
        ({"type": "room_info", "room": "no spaces"}, ErrorCode.BAD_REQUEST),
        ({"type": "status", "text": "x"}, ErrorCode.BAD_REQUEST),
        ({"type": "status", "away": True, "text": "s" * (limits.STATUS_MAX + 1)}, ErrorCode.TOO_LARGE),
        ({"type": "status", "away": False, "text": "line\nbreak"}, ErrorCode.BAD_REQUEST),
        ({"type": "block", "user": "bob"}, ErrorCode.BAD_REQUEST),
        ({"type": "profile", "display_name": "\u2067x"}, ErrorCode.BAD_REQUEST),
        ({"type": "profile"}, ErrorCode.BAD_REQUEST),
        ({"type": "password", "old": "whatever1", "new": "short"}, ErrorCode.WEAK_PASSWORD),
        ({"type": "password", "old": "whatever1", "new": "long enough", "revoke_others": 1}, ErrorCode.BAD_REQUEST),
        ({"type": "revoke", "session": ""}, ErrorCode.BAD_REQUEST),
        ({"type": "revoke", "session": "s" * (limits.SESSION_ID_MAX + 1)}, ErrorCode.BAD_REQUEST),
        ({"type": "register", "username": "al", "password": "long enough", "invite": "c" * 129}, ErrorCode.BAD_REQUEST),
    ],
)
def test_a_bad_request_is_refused_with_its_code(frame: dict[str, Any], code: ErrorCode) -> None:
    assert _code(frame) == code


def test_the_requests_parse_to_their_objects() -> None:
    assert parse_request({"type": "topic", "id": 1, "room": "#ops", "topic": ""}) == SetTopic(1, "ops", "")
    assert parse_request({"type": "kick", "id": 1, "room": "ops", "user": "Bob", "reason": ""}) == Kick(
        1, "ops", "bob", None
    )
    assert parse_request({"type": "ban", "id": 1, "room": "ops", "user": "bob", "on": False}) == Ban(
        1, "ops", "bob", False, None
    )
    assert parse_request({"type": "role", "id": 1, "room": "ops", "user": "bob", "role": "moderator"}) == SetRole(
        1, "ops", "bob", "moderator"
    )
    assert parse_request({"type": "status", "id": 1, "away": True}) == SetStatus(1, True, None)
    assert parse_request({"type": "block", "id": 1, "user": "bob", "on": True}) == Block(1, "bob", True)
    assert parse_request({"type": "profile", "id": 1, "display_name": "Bob B"}) == Profile(1, "Bob B")
    assert parse_request({"type": "password", "id": 1, "old": "x", "new": "long enough"}) == Password(
        1, "x", "long enough", True
    )
    assert parse_request({"type": "revoke", "id": 1, "session": "abc"}) == Revoke(1, "abc")
    reg = parse_request({"type": "register", "id": 1, "username": "al", "password": "long enough", "invite": "C1"})
    assert reg == Register(1, "al", "long enough", None, "C1")


@pytest.mark.parametrize("kind", ["room_info", "topic", "invite", "kick", "ban", "role", "status", "blocks"])
def test_the_new_requests_need_an_id(kind: str) -> None:
    with pytest.raises(RequestError) as exc:
        parse_request({"type": kind, "room": "ops", "user": "bob", "topic": "", "role": "member", "on": True})
    assert exc.value.code == ErrorCode.BAD_REQUEST


def test_the_new_events_parse_and_hostile_fields_are_dropped_not_fatal() -> None:
    member = parse_event(
        {"type": "member", "room": "ops", "user": {"username": "bob"}, "joined": False, "by": "al", "reason": "spam"}
    )
    assert member == MemberEvent("ops", User("bob", "bob"), False, None, "al", "spam")
    room = parse_event({"type": "room", "room": {"name": "ops", "members": 3, "topic": "t", "private": True}})
    assert room == RoomEvent(Room("ops", 3, "t", True, None))
    assert parse_event({"type": "invited", "room": "ops", "by": "al"}) == InvitedEvent("ops", "al")
    odd = Room.from_wire({"name": "x", "members": "many", "role": "god", "topic": 5})
    assert odd == Room("x", 0, None, False, None)
    user = User.from_wire({"username": "bob", "away": "yes", "status": "lunch"})
    assert user.away is None and user.status == "lunch"


def test_room_info_and_sessions_replies() -> None:
    info = RoomInfo.from_reply(
        {
            "room": {"name": "ops", "members": 2, "role": "owner"},
            "members": [{"user": "al", "role": "owner", "online": True}, {"user": "bob", "role": "?"}],
            "more": True,
        }
    )
    assert info.room.role == "owner" and info.more
    assert [(m.user, m.role, m.online) for m in info.members] == [("al", "owner", True), ("bob", "member", False)]
    s = SessionInfo.from_wire({"id": "s1", "client": "tui", "created": 1, "last_used": 2, "current": True})
    assert s == SessionInfo("s1", "tui", 1, 2, True)
