"""Rooms with several nodes, on one Redis and on a Redis Cluster (the
conftest runs each test on both): a kicked or banned user stops receiving
the room on every node at once, invitations and room events cross nodes,
and every rooms script keeps to one hash slot."""

from __future__ import annotations

import asyncio

import pytest
from redis.crc import key_slot

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import InvitedEvent, MemberEvent, Message, RoomEvent
from chinwag.server.hub import bus_payload
from chinwag.server.statuses import RoomCreation, RoomStatus
from chinwag.server.store import Store

from ..support.events import error_of, next_of
from .test_living_messages import _record_slots

ROOMS = ["rooms"]


async def messages_until_marker(client: ChatClient, marker: str) -> list[Message]:
    """The messages before the direct message `marker`: node a publishes in
    order on one channel, so whatever it sent before the marker has reached
    the other node by the time the marker has."""
    seen: list[Message] = []
    while True:
        event = await next_of(client, Message)
        if event.text == marker:
            return seen
        seen.append(event)


async def gone_event(client: ChatClient, user: str) -> MemberEvent:
    while True:
        event = await next_of(client, MemberEvent)
        if event.user.username == user and not event.joined:
            return event


@pytest.mark.parametrize("how", ["kick", "ban"])
async def test_a_removed_user_stops_receiving_the_room_on_every_node(make_server, user, how: str) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a, features=ROOMS)
    bob = await user("bob", to=b, features=ROOMS)
    bob_v1 = await user("bob", to=a)  # a version 1 device on the kicker's node
    carol = await user("carol", to=b, features=ROOMS)  # stays, on bob's node
    await alice.join("dev")
    await bob.join("dev")
    await carol.join("dev")
    await alice.send("#dev", "before")
    assert (await next_of(bob, Message)).text == "before"
    assert (await next_of(bob_v1, Message)).text == "before"

    if how == "kick":
        await alice.kick("dev", "bob", reason="off topic")
    else:
        await alice.ban("dev", "bob", reason="off topic")
    event = await gone_event(bob, "bob")  # on the other node: through the bus
    assert (event.room, event.by, event.reason, event.banned) == ("dev", "alice", "off topic", how == "ban")
    old = await gone_event(bob_v1, "bob")
    assert (old.by, old.reason, old.banned) == (None, None, False)  # the version 1 event
    seen = await gone_event(carol, "bob")
    assert (seen.by, seen.banned) == ("alice", how == "ban")

    await alice.send("#dev", "after")
    await alice.send("@bob", "marker")
    await alice.send("@carol", "marker")
    assert await messages_until_marker(bob, "marker") == []
    assert await messages_until_marker(bob_v1, "marker") == []
    assert [m.text for m in await messages_until_marker(carol, "marker")] == ["after"]
    await error_of(bob.send("#dev", "hello?"), "not_member")
    await error_of(bob.history("#dev"), "forbidden")
    if how == "ban":
        await error_of(bob.join("dev"), "forbidden")


async def test_a_removal_from_a_node_before_banned_reads_as_not_banned(make_server, user, clean_redis) -> None:
    """An older node publishes the membership event with eight fields, no
    `banned`: the others read it as they did."""
    a = await make_server()
    carol = await user("carol", to=a, features=ROOMS)
    await carol.join("dev")
    old = Store(clean_redis)
    await old.start()
    try:
        bob = {"username": "bob", "display_name": "bob"}
        await old.publish(bus_payload(b"older-node", [["k", "dev", bob, False, None, "alice", "off topic", True]]))
    finally:
        await old.close()
    event = await gone_event(carol, "bob")
    assert (event.by, event.reason, event.banned) == ("alice", "off topic", False)


async def test_invitations_and_room_events_cross_nodes(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a, features=ROOMS)
    bob = await user("bob", to=b, features=ROOMS)
    bob_laptop = await user("bob", to=a, features=ROOMS)
    await alice.join("secret", private=True)
    await alice.invite("secret", "bob")
    for device in (bob, bob_laptop):
        invited = await next_of(device, InvitedEvent)
        assert (invited.room, invited.by) == ("secret", "alice")
    await bob.join("secret")  # on node b
    await alice.set_topic("secret", "plans")
    event = await next_of(bob, RoomEvent)
    assert (event.room.name, event.room.topic, event.room.private, event.room.role) == (
        "secret",
        "plans",
        True,
        "member",
    )
    await alice.set_role("secret", "bob", "moderator")
    promoted = await next_of(bob, MemberEvent)
    while promoted.role is None or promoted.user.username != "bob":
        promoted = await next_of(bob, MemberEvent)
    assert (promoted.joined, promoted.role, promoted.by) == (True, "moderator", "alice")


async def test_every_rooms_script_keeps_to_one_slot(clean_redis: str) -> None:
    store = Store(clean_redis, timeout=3.0)
    await asyncio.wait_for(store.start(), 10)
    calls = _record_slots(store)
    try:
        for name in ("alice", "bob", "carol"):
            assert await store.create_user(name, name, "hash")
        assert await store.create_room("dev", 10, private=True) is RoomCreation.CREATED
        assert (await store.room_join("dev", "alice", created=True, private=True, topic="t")).role == "owner"
        assert (await store.room_join("dev", "bob")).status is RoomStatus.INVITE_ONLY
        assert (await store.invite("dev", "alice", "bob", 60, admin=False))[0] is RoomStatus.DONE
        assert (await store.room_join("dev", "bob")).status is RoomStatus.DONE
        assert (await store.invite("dev", "alice", "carol", 60, admin=False))[0] is RoomStatus.DONE
        assert (await store.room_join("dev", "carol")).status is RoomStatus.DONE
        assert (await store.set_topic("dev", "alice", "new", admin=False))[0] is RoomStatus.DONE
        assert (await store.set_room_role("dev", "alice", "bob", "moderator", admin=False)).status is RoomStatus.DONE
        assert (await store.room_remove("dev", "carol", "bob", mode="kick")).status is RoomStatus.DONE
        assert (await store.room_remove("dev", "carol", "bob", mode="ban")).status is RoomStatus.DONE
        assert (await store.room_remove("dev", "carol", "bob", mode="unban")).status is RoomStatus.DONE
        removal = await store.room_remove("dev", "alice", "alice", mode="leave")
        assert (removal.status, removal.heir) == (RoomStatus.DONE, "bob")
        assert await store.delete_room("dev") == ["bob"]
        assert "dev" not in await store.all_rooms()
    finally:
        await store.close()
    scripts_run = {script for script, _ in calls}
    assert {"ROOM_JOIN", "ROOM_REMOVE", "ROOM_ROLE", "ROOM_TOPIC", "ROOM_INVITE", "ROOM_DELETE"} <= scripts_run
    for script, keys_ in calls:
        assert len({key_slot(k.encode()) for k in keys_ if k}) == 1, (script, keys_)
