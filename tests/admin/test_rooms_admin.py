"""chinwag-admin rooms: list, show, set-owner, delete, run as the operator
runs it (its own process) against the Redis of a running server whose
connected users hear of the changes at once."""

from __future__ import annotations

import json

from chinwag.protocol.messages import MemberEvent, Message

from ..support.events import error_of, next_of, settled
from ..support.processes import run_admin

ROOMS = ["rooms"]


async def member_event(client, user: str, joined: bool) -> MemberEvent:
    while True:
        event = await next_of(client, MemberEvent)
        if event.user.username == user and event.joined is joined:
            return event


async def test_list_and_show(user, clean_redis: str) -> None:
    alice = await user("alice", features=ROOMS)
    bob = await user("bob", features=ROOMS)
    await alice.join("dev", topic="builds")
    await alice.join("secret", private=True, topic="plans")
    await alice.invite("secret", "bob")
    await bob.join("dev")
    await alice.set_role("dev", "bob", "moderator")
    status, out, err = await run_admin("--redis-url", clean_redis, "rooms", "list", "--json")
    assert (status, err) == (0, "")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["secret"] == {"name": "secret", "members": 1, "private": True, "owners": ["alice"], "topic": "plans"}
    assert rows["dev"]["owners"] == ["alice"] and rows["dev"]["members"] == 2
    assert rows["lobby"]["owners"] == []
    status, out, _ = await run_admin("--redis-url", clean_redis, "rooms", "list")
    assert status == 0 and out.splitlines()[0].split() == ["ROOM", "MEMBERS", "PRIVATE", "OWNERS", "TOPIC"]
    status, out, _ = await run_admin("--redis-url", clean_redis, "rooms", "show", "#secret", "--json")
    shown = json.loads(out)
    assert (shown["private"], shown["owners"], shown["creator"]) == (True, ["alice"], "alice")
    assert [i["user"] for i in shown["invited"]] == ["bob"]
    status, out, _ = await run_admin("--redis-url", clean_redis, "rooms", "show", "dev")
    assert status == 0 and "MODERATORS: bob" in out
    status, _, err = await run_admin("--redis-url", clean_redis, "rooms", "show", "nowhere")
    assert status == 1 and err.count("\n") == 1 and "no room 'nowhere'" in err


async def test_set_owner_joins_and_crowns_and_members_hear_it(user, clean_redis: str) -> None:
    alice = await user("alice", features=ROOMS)
    bob = await user("bob", features=ROOMS)
    await alice.join("secret", private=True)
    await alice.ban("secret", "bob")
    await settled(alice)
    status, out, err = await run_admin("--redis-url", clean_redis, "rooms", "set-owner", "secret", "bob")
    assert (status, err) == (0, ""), err
    assert "bob owns #secret" in out
    joined = await member_event(alice, "bob", True)
    crowned = await member_event(alice, "bob", True)
    assert (joined.role, crowned.role) == ("member", "owner")
    info = await bob.request("room_info", room="secret")
    assert {m["user"]: m["role"] for m in info["members"]} == {"alice": "owner", "bob": "owner"}
    assert info["banned"] == []  # his ban was lifted
    await alice.send("#secret", "welcome")
    assert (await next_of(bob, Message)).text == "welcome"  # bob's node delivers the room to him now
    status, _, err = await run_admin("--redis-url", clean_redis, "rooms", "set-owner", "lobby", "bob")
    assert status == 1 and "lobby" in err
    status, _, err = await run_admin("--redis-url", clean_redis, "rooms", "set-owner", "secret", "nobody")
    assert status == 1 and "no user" in err


async def test_delete_removes_the_room_for_everyone_at_once(user, clean_redis: str) -> None:
    alice = await user("alice", features=ROOMS)
    bob = await user("bob")  # version 1
    await alice.join("dev")
    await bob.join("dev")
    await alice.send("#dev", "history to erase")
    await settled(bob)
    status, _, err = await run_admin("--redis-url", clean_redis, "rooms", "delete", "dev")
    assert status == 1 and "--yes" in err
    status, _, err = await run_admin("--redis-url", clean_redis, "rooms", "delete", "lobby", "--yes")
    assert status == 1 and "lobby" in err
    assert "dev" in {r["name"] for r in await alice.rooms()}  # nothing happened yet
    status, out, err = await run_admin("--redis-url", clean_redis, "rooms", "delete", "dev", "--yes")
    assert (status, err) == (0, ""), err
    assert "deleted #dev (2 member(s) removed)" in out
    gone = await member_event(alice, "alice", False)
    assert gone.reason and "deleted" in gone.reason
    assert [e for e in await settled(alice) if isinstance(e, MemberEvent)] == []  # only her own, not bob's
    assert (await member_event(bob, "bob", False)).reason is None  # the version 1 event
    assert "dev" not in {r["name"] for r in await alice.rooms()}
    await error_of(alice.history("#dev"), "no_such_room")
    await error_of(alice.send("#dev", "anyone?"), "no_such_room")
    made = await bob.join("dev")  # the name is free again: a new, empty room
    assert made["members"] == 1
