"""PROTOCOL-EXTENSIONS.md's `rooms` on one node: owners, moderators,
members, outsiders, admins and banned users, each request of the table,
private rooms, invitations (live, after an offline spell, expired), the
events and what a version 1 connection still sees."""

from __future__ import annotations

from typing import Any

import pytest
import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import DeletedEvent, InvitedEvent, MemberEvent, Message, RoomEvent
from chinwag.server.app import ChatServer

from ..support.events import error_of, next_of, settled
from ..support.settings import PASSWORD

ROOMS = ["rooms"]
RICH = ["rooms", "messages"]


@pytest.fixture
async def people(user, server: ChatServer) -> Any:
    """alice owns #dev, mod moderates it, bob is a member; eve is in no room
    but the lobby; root is a server admin (in no room either)."""
    alice = await user("alice", features=RICH)
    mod = await user("mod", features=RICH)
    bob = await user("bob", features=RICH)
    eve = await user("eve", features=RICH)
    root = await user("root", features=RICH)
    await server.store.set_admin("root", True)
    await alice.join("dev")
    await mod.join("dev")
    await bob.join("dev")
    await alice.set_role("dev", "mod", "moderator")
    for c in (alice, mod, bob, eve, root):
        await settled(c)
    return alice, mod, bob, eve, root


async def member_event(client: ChatClient, user: str, joined: bool) -> MemberEvent:
    """The next `member` event about `user` joining (or leaving)."""
    while True:
        event = await next_of(client, MemberEvent)
        if event.user.username == user and event.joined is joined:
            return event


def snapshot(url: str) -> dict[bytes, bytes | None]:
    """Every key's DUMP, but the throttles' counters and the presence keys
    (which move by themselves): what a refused request must leave as it was."""
    client = sync_redis.Redis.from_url(url)
    try:
        return {
            k: client.dump(k)
            for k in client.scan_iter(count=1000)
            if not k.startswith((b"th:", b"{presence}", b"tok:", b"ss:", b"kn:"))
        }
    finally:
        client.close()


async def test_the_creator_owns_the_room_and_the_room_object_says_so(user) -> None:
    alice = await user("alice", features=ROOMS)
    bob = await user("bob", features=ROOMS)
    made = await alice.join("dev", topic="all things dev")
    assert made == {"name": "dev", "members": 1, "topic": "all things dev", "private": False, "role": "owner"}
    joined = await bob.join("dev", private=True, topic="ignored: the room exists")
    assert joined == {"name": "dev", "members": 2, "topic": "all things dev", "private": False, "role": "member"}
    listing = {r["name"]: r for r in await bob.rooms()}
    assert listing["dev"] == {
        "name": "dev",
        "members": 2,
        "joined": True,
        "topic": "all things dev",
        "private": False,
        "role": "member",
    }
    assert listing["lobby"]["role"] == "member"
    info = await alice.room_info("dev")
    assert (info.room.name, info.room.role, info.room.topic, info.more) == ("dev", "owner", "all things dev", False)
    assert [(m.user, m.role, m.online) for m in info.members] == [("alice", "owner", True), ("bob", "member", True)]


async def test_a_version_1_connection_sees_what_it_saw_before(user) -> None:
    old = await user("old")  # no features: pure version 1
    alice = await user("alice", features=ROOMS)
    assert await old.join("dev") == {"name": "dev", "members": 1}
    assert await old.room_info("dev")  # a request is still answered
    for entry in await old.rooms():
        assert set(entry) == {"name", "members", "joined"}
    await settled(old)
    await alice.join("dev")
    (joined,) = [e for e in await settled(old, alice) if isinstance(e, MemberEvent)]
    assert joined.role is None and joined.by is None  # the version 1 event: no role, by, reason
    await old.set_topic("dev", "a topic")  # the requests work on any connection
    await old.set_role("dev", "alice", "moderator")  # (a role change: no v1 event)
    await alice.invite("lobby", "old")  # a member already: nothing
    await old.kick("dev", "alice", reason="bye")
    events = await settled(old, alice)
    assert [(e.user.username, e.joined, e.role, e.by, e.reason) for e in events if isinstance(e, MemberEvent)] == [
        ("alice", False, None, None, None)
    ]
    assert [e for e in events if isinstance(e, RoomEvent | InvitedEvent)] == []


async def test_member_frames_on_version_1_and_rooms_connections(raw, user) -> None:
    alice = await user("alice", features=ROOMS)
    await alice.join("dev")
    old = await raw()
    await old.login("alice")
    rich = await raw(hello=False)
    await rich.ok("hello", version=1, features=["rooms"])
    await rich.login("alice")
    await old.barrier()
    await rich.barrier()
    bob = await user("bob")
    await bob.join("dev")
    await settled(bob)
    (plain,) = [f for f in await old.barrier() if f["type"] == "member"]
    assert set(plain) == {"type", "room", "user", "joined"}
    (full,) = [f for f in await rich.barrier() if f["type"] == "member"]
    assert full == {**plain, "role": "member", "by": None, "reason": None}
    await alice.kick("dev", "bob", reason="testing")
    await settled(alice)
    (plain,) = [f for f in await old.barrier() if f["type"] == "member"]
    assert set(plain) == {"type", "room", "user", "joined"} and plain["joined"] is False
    (full,) = [f for f in await rich.barrier() if f["type"] == "member"]
    assert (full["by"], full["reason"], full["role"]) == ("alice", "testing", None)


async def test_a_private_room_is_invisible_and_invite_only(people, user) -> None:
    alice, _mod, _bob, eve, root = people
    made = await alice.join("secret", private=True, topic="shh")
    assert (made["private"], made["role"]) == (True, "owner")
    assert "secret" not in {r["name"] for r in await eve.rooms()}
    assert "secret" in {r["name"] for r in await alice.rooms()}
    assert "secret" in {r["name"] for r in await root.rooms()}  # admins see every room
    err = await error_of(eve.join("secret"), "forbidden")
    assert "invite only" in err.message
    absent = await error_of(eve.room_info("nowhere"), "no_such_room")
    hidden = await error_of(eve.room_info("secret"), "no_such_room")
    assert hidden.message.replace("secret", "nowhere") == absent.message  # no more said than for no room
    for request in (
        eve.set_topic("secret", "mine"),
        eve.invite("secret", "bob"),
        eve.kick("secret", "alice"),
        eve.ban("secret", "alice"),
        eve.set_role("secret", "eve", "owner"),
        eve.history("#secret"),
        eve.send("#secret", "let me in"),
    ):
        await error_of(request, "no_such_room")

    await alice.invite("secret", "eve")
    invited = await next_of(eve, InvitedEvent)
    assert (invited.room, invited.by) == ("secret", "alice")
    joined = await eve.join("secret")
    assert (joined["private"], joined["role"], joined["members"]) == (True, "member", 2)
    await eve.leave("secret")
    await error_of(eve.join("secret"), "forbidden")  # the invitation was used up
    assert (await root.join("secret"))["role"] == "member"  # an admin needs no invitation


async def test_invitations_reach_an_offline_user_at_login_and_expire(server: ChatServer, user, connect) -> None:
    now = [1_800_000_000_000]
    server.store.now_ms = lambda: now[0]
    alice = await user("alice", features=ROOMS)
    await alice.join("secret", private=True)
    for name in ("bob", "carol"):
        c = await user(name, features=ROOMS)
        await c.close()
    await alice.invite("secret", "bob")
    bob = await connect(features=ROOMS)
    await bob.login("bob", PASSWORD)
    invited = await next_of(bob, InvitedEvent)
    assert (invited.room, invited.by) == ("secret", "alice")
    old = await connect()  # version 1: no invited events, at login or live
    await old.login("bob", PASSWORD)
    assert [e for e in await settled(old) if isinstance(e, InvitedEvent)] == []

    await alice.invite("secret", "carol")
    now[0] += server.settings.invite_ttl * 1000 - 1
    carol = await connect(features=ROOMS)
    await carol.login("carol", PASSWORD)
    assert (await next_of(carol, InvitedEvent)).room == "secret"  # not expired yet
    now[0] += 2
    late = await connect(features=ROOMS)
    await late.login("carol", PASSWORD)
    assert [e for e in await settled(late) if isinstance(e, InvitedEvent)] == []
    err = await error_of(carol.join("secret"), "forbidden")
    assert "invite" in err.message
    await alice.invite("secret", "carol")  # a new one opens it again
    assert (await carol.join("secret"))["members"] == 2


async def test_topic_is_for_owners_and_moderators_and_tells_members(people, user) -> None:
    alice, mod, bob, eve, root = people
    old = await user("bob")  # bob's version 1 device
    await settled(old)
    await mod.set_topic("dev", "release on friday")
    for client, role in ((alice, "owner"), (mod, "moderator"), (bob, "member")):
        event = await next_of(client, RoomEvent)
        assert (event.room.name, event.room.topic, event.room.role, event.room.private) == (
            "dev",
            "release on friday",
            role,
            False,
        )
    assert [e for e in await settled(old, mod) if isinstance(e, RoomEvent)] == []
    assert [e for e in await settled(eve, mod) if isinstance(e, RoomEvent)] == []
    err = await error_of(bob.set_topic("dev", "mine now"), "forbidden")
    assert "owner or moderator" in err.message
    await error_of(eve.set_topic("dev", "mine now"), "not_member")
    await root.set_topic("dev", "admins may")
    await error_of(alice.set_topic("dev", "x" * 301), "too_large")
    await error_of(alice.set_topic("dev", "two\nlines"), "bad_request")
    await error_of(alice.join("fresh", topic="bell\x07"), "bad_request")
    assert (await alice.room_info("dev")).room.topic == "admins may"
    await alice.set_topic("dev", "")  # clears it
    assert (await bob.room_info("dev")).room.topic is None


async def test_kick_who_may_kick_whom(people, user) -> None:
    alice, mod, bob, eve, root = people
    carol = await user("carol", features=RICH)
    await carol.join("dev")
    await error_of(bob.kick("dev", "carol"), "forbidden")  # a member
    await error_of(eve.kick("dev", "carol"), "not_member")  # an outsider
    err = await error_of(mod.kick("dev", "alice"), "forbidden")  # a moderator cannot kick the owner
    assert "alice" in err.message
    await error_of(mod.kick("dev", "mod"), "forbidden")  # nor themself (that is `leave`)
    await error_of(mod.kick("dev", "eve"), "not_member")  # not in the room
    await error_of(mod.kick("dev", "nobody"), "no_such_user")
    await error_of(alice.kick("lobby", "bob"), "forbidden")
    await error_of(root.kick("lobby", "bob"), "forbidden")  # no one is removed from the lobby

    await mod.kick("dev", "carol", reason="spam")
    gone = await member_event(carol, "carol", False)
    assert (gone.room, gone.user.username, gone.joined, gone.by, gone.reason) == ("dev", "carol", False, "mod", "spam")
    assert not gone.banned  # a kick: carol may join again
    seen = await member_event(bob, "carol", False)
    assert seen.by == "mod" and not seen.banned
    await error_of(carol.send("#dev", "still here?"), "not_member")
    sent = await alice.send("#dev", "after the kick")
    assert sent.mid in {m.mid for m in [await next_of(bob, Message)]}
    assert [e for e in await settled(carol, alice) if isinstance(e, Message)] == []
    assert (await carol.join("dev"))["role"] == "member"  # a kick is not a ban

    await alice.kick("dev", "mod")  # the owner may kick a moderator
    await mod.join("dev")
    assert (await mod.room_info("dev")).room.role == "member"  # and the role went with the membership


async def test_an_admin_may_remove_the_owner_and_the_room_passes_to_an_heir(people) -> None:
    _alice, _mod, bob, _eve, root = people
    await root.kick("dev", "alice", reason="abuse")
    crowned = await member_event(bob, "mod", True)
    assert crowned.role == "owner"
    roles = {m.user: m.role for m in (await bob.room_info("dev")).members}
    assert roles == {"mod": "owner", "bob": "member"}
    await error_of(bob.kick("dev", "root"), "forbidden")


async def test_the_last_owner_leaving_hands_the_room_on(user) -> None:
    alice = await user("alice", features=ROOMS)
    bob = await user("bob", features=ROOMS)
    carol = await user("carol", features=ROOMS)
    await alice.join("dev")
    await carol.join("dev")
    await bob.join("dev")
    await alice.leave("dev")
    roles = {m.user: m.role for m in (await bob.room_info("dev")).members}
    assert roles == {"bob": "owner", "carol": "member"}  # no moderator: the first member by name
    await bob.leave("dev")
    await carol.leave("dev")  # the last member leaves an empty room
    assert (await alice.join("dev"))["role"] == "owner"  # and whoever comes next owns it


async def test_ban_removes_keeps_out_and_is_lifted(people, server: ChatServer) -> None:
    alice, mod, bob, eve, root = people
    await mod.ban("dev", "bob", reason="trolling")
    gone = await member_event(bob, "bob", False)
    assert (gone.by, gone.reason, gone.banned) == ("mod", "trolling", True)  # chinwag's `banned` (docs/protocol.md)
    err = await error_of(bob.join("dev"), "forbidden")
    assert "banned" in err.message
    await mod.ban("dev", "eve")  # a non-member, banned ahead
    await error_of(eve.join("dev"), "forbidden")
    await error_of(alice.invite("dev", "eve"), "forbidden")
    info = await mod.request("room_info", room="dev")
    assert [(b["user"], b["by"], b["reason"]) for b in info["banned"]] == [
        ("bob", "mod", "trolling"),
        ("eve", "mod", None),
    ]
    member_view = await alice.request("room_info", room="dev")
    assert "banned" in member_view  # alice owns it
    await root.join("dev")
    await settled(root)
    admin_view = await root.request("room_info", room="dev")
    assert len(admin_view["banned"]) == 2
    await mod.ban("dev", "bob", on=False)
    await mod.ban("dev", "bob", on=False)  # lifting no ban is ok
    assert (await bob.join("dev"))["role"] == "member"
    plain = await bob.request("room_info", room="dev")
    assert "banned" not in plain  # a member does not see the ban list
    await error_of(bob.ban("dev", "eve", on=False), "forbidden")
    await error_of(alice.ban("lobby", "eve"), "forbidden")
    await error_of(mod.ban("dev", "alice"), "forbidden")


async def test_role_is_for_owners_and_a_room_keeps_an_owner(people) -> None:
    alice, mod, bob, eve, root = people
    await error_of(mod.set_role("dev", "bob", "moderator"), "forbidden")
    await error_of(bob.set_role("dev", "bob", "owner"), "forbidden")
    await error_of(eve.set_role("dev", "bob", "owner"), "not_member")
    await error_of(alice.set_role("dev", "eve", "moderator"), "not_member")
    err = await error_of(alice.set_role("dev", "alice", "member"), "forbidden")
    assert "owner" in err.message
    await alice.set_role("dev", "bob", "owner")
    changed = await member_event(mod, "bob", True)
    assert (changed.role, changed.by) == ("owner", "alice")
    await alice.set_role("dev", "alice", "member")  # another owner remains
    await error_of(alice.set_role("dev", "mod", "member"), "forbidden")
    await bob.set_role("dev", "mod", "member")
    roles = {m.user: m.role for m in (await bob.room_info("dev")).members}
    assert roles == {"alice": "member", "mod": "member", "bob": "owner"}
    err = await error_of(root.set_role("lobby", "bob", "owner"), "forbidden")
    assert "lobby" in err.message
    await root.set_role("lobby", "bob", "moderator")  # admins appoint the lobby's moderators
    await error_of(alice.set_role("lobby", "bob", "member"), "forbidden")


async def test_moderators_and_admins_delete_others_messages(people) -> None:
    alice, mod, bob, eve, root = people
    first = await bob.send("#dev", "rude")
    second = await bob.send("#lobby", "rude too")
    err = await error_of(eve.delete("#lobby", second.mid), "forbidden")
    assert err.message
    await mod.delete("#dev", first.mid)
    deleted = await next_of(alice, DeletedEvent)
    assert (deleted.mid, deleted.by) == (first.mid, "mod")
    await error_of(mod.delete("#lobby", second.mid), "forbidden")  # a moderator of #dev, not of the lobby
    await root.delete("#lobby", second.mid)


async def test_invite_rules(people) -> None:
    alice, _mod, bob, eve, _root = people
    await bob.invite("dev", "eve")  # any member, to a public room: it just tells the user
    assert (await next_of(eve, InvitedEvent)).by == "bob"
    await error_of(eve.invite("dev", "root"), "not_member")
    await error_of(bob.invite("dev", "nobody"), "no_such_user")
    await error_of(bob.invite("dev", "bob"), "bad_request")
    await bob.invite("dev", "alice")  # already a member: nothing to do
    assert [e for e in await settled(alice, bob) if isinstance(e, InvitedEvent)] == []


async def test_a_refused_request_changes_nothing(people, clean_redis: str) -> None:
    alice, mod, bob, eve, _root = people
    await alice.join("secret", private=True)
    await mod.ban("dev", "eve")
    before = snapshot(clean_redis)
    refusals = [
        (eve.join("secret"), "forbidden"),
        (eve.join("dev"), "forbidden"),
        (bob.set_topic("dev", "no"), "forbidden"),
        (bob.kick("dev", "mod"), "forbidden"),
        (mod.kick("dev", "alice"), "forbidden"),
        (bob.ban("dev", "mod"), "forbidden"),
        (mod.set_role("dev", "bob", "owner"), "forbidden"),
        (alice.set_role("dev", "alice", "member"), "forbidden"),
        (alice.invite("dev", "eve"), "forbidden"),
        (eve.invite("secret", "bob"), "no_such_room"),
        (eve.room_info("secret"), "no_such_room"),
        (alice.kick("lobby", "bob"), "forbidden"),
        (alice.leave("lobby"), "forbidden"),
        (eve.leave("dev"), "not_member"),
    ]
    for request, code in refusals:
        await error_of(request, code)
    assert snapshot(clean_redis) == before


async def test_a_removal_cut_short_is_repaired_by_its_retry(people, clean_redis: str) -> None:
    """The room's script removed bob, the step in his own slot never ran:
    a retried kick (or his leave) finds him out of the room and finishes it."""
    alice, _mod, _bob, eve, _root = people
    client = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    try:
        client.srem("m:{#dev}", "bob")  # as if the kick's second step had been lost
        assert "#dev" in client.smembers("convs:{bob}")
        await error_of(alice.kick("dev", "bob"), "not_member")
        assert "#dev" not in client.smembers("convs:{bob}")
        assert client.hget("cur:{bob}", "#dev") is None
        client.sadd("convs:{eve}", "#dev")  # the same for a leave
        await error_of(eve.leave("dev"), "not_member")
        assert "#dev" not in client.smembers("convs:{eve}")
        assert "#lobby" in client.smembers("convs:{eve}")
    finally:
        client.close()
