"""Rooms: join (which creates), leave, rooms, member events, and where a
member's cursor starts."""

from __future__ import annotations

import asyncio

from chinwag.protocol.messages import MemberEvent, Message

from ..support.events import (
    error_of,
    full_history,
    next_of,
    settled,
    settled_messages,
)
from ..support.settings import PASSWORD


def member_events(events) -> list[tuple[str, str, bool]]:
    return [(e.room, e.user.username, e.joined) for e in events if isinstance(e, MemberEvent)]


async def test_join_creates_the_room_and_rooms_lists_it(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    assert await alice.rooms() == [{"name": "lobby", "members": 2, "joined": True}]
    room = await alice.join("Dev")
    assert room == {"name": "dev", "members": 1}
    listing = {r["name"]: r for r in await alice.rooms()}
    assert listing == {
        "lobby": {"name": "lobby", "members": 2, "joined": True},
        "dev": {"name": "dev", "members": 1, "joined": True},
    }
    listing = {r["name"]: (r["members"], r["joined"]) for r in await bob.rooms()}
    assert listing == {"lobby": (2, True), "dev": (1, False)}
    assert (await bob.join("dev")) == {"name": "dev", "members": 2}
    listing = {r["name"]: (r["members"], r["joined"]) for r in await bob.rooms()}
    assert listing == {"lobby": (2, True), "dev": (2, True)}


async def test_rooms_lists_every_room(user) -> None:
    alice = await user("alice")
    for name in ("a-room", "b_room", "c1"):
        await alice.join(name)
    await alice.leave("b_room")
    bob = await user("bob")
    names = {r["name"] for r in await bob.rooms()}
    assert {"lobby", "a-room", "c1"} <= names
    assert all(not r["joined"] for r in await bob.rooms() if r["name"] != "lobby")


async def test_joining_twice_is_harmless(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.join("dev")
    await bob.join("dev")
    await settled(alice)
    assert await bob.join("dev") == {"name": "dev", "members": 2}
    assert member_events(await settled(alice)) == [], "no member event for a no-op join"


async def test_member_events_go_to_online_room_members(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    carol = await user("carol")  # not in #dev
    await alice.join("dev")
    await bob.join("dev")
    for c in (alice, bob, carol):
        await settled(c)
    dave = await user("dave")
    await dave.join("dev")
    for c in (alice, bob):
        ev = await next_of(c, MemberEvent)
        assert (ev.room, ev.user.username, ev.user.display_name, ev.joined) == ("dev", "dave", "dave", True)
    assert member_events(await settled(carol)) == []

    await dave.leave("dev")
    for c in (alice, bob):
        ev = await next_of(c, MemberEvent)
        assert (ev.room, ev.user.username, ev.joined) == ("dev", "dave", False)
    assert member_events(await settled(carol)) == []


async def test_leave_stops_delivery_and_reading(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.join("dev")
    await bob.join("dev")
    await alice.send("#dev", "one")
    assert (await next_of(bob, Message)).text == "one"
    await bob.leave("dev")
    await settled(bob)
    await alice.send("#dev", "two")
    assert not await settled_messages(bob)
    await error_of(bob.history("#dev"), "forbidden")
    await error_of(bob.send("#dev", "hi"), "not_member")
    assert {r["name"]: (r["members"], r["joined"]) for r in await bob.rooms()}["dev"] == (1, False)


async def test_leave_errors(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await bob.join("dev")
    error = await error_of(alice.leave("lobby"), "forbidden")
    assert error.message
    await error_of(alice.leave("LOBBY"), "forbidden")
    await error_of(alice.leave("dev"), "not_member")
    await error_of(alice.leave("nowhere"), "not_member")
    # Still in the lobby: she can post and read there.
    sent = await alice.send("#lobby", "still here")
    assert [m.mid for m in await full_history(alice, "#lobby")] == [sent.mid]
    assert {r["name"]: r["joined"] for r in await alice.rooms()} == {"lobby": True, "dev": False}


async def test_join_on_one_device_applies_to_the_others(user) -> None:
    a1 = await user("alice")
    a2 = await user("alice")
    bob = await user("bob")
    await bob.join("dev")
    await a1.join("dev")
    assert {r["name"]: r["joined"] for r in await a2.rooms()}["dev"] is True
    await settled(a2)
    sent = await bob.send("#dev", "welcome")
    got = await next_of(a2, Message)
    assert (got.mid, got.conv) == (sent.mid, "#dev")
    await a2.leave("dev")
    assert {r["name"]: r["joined"] for r in await a1.rooms()}["dev"] is False
    await settled(a1)
    await bob.send("#dev", "gone?")
    assert not await settled_messages(a1)


async def test_cursor_starts_at_newest_on_join(user) -> None:
    carol = await user("carol")
    await carol.join("dev")
    old = [await carol.send("#dev", f"old {i}") for i in range(3)]
    bob = await user("bob")
    await settled(bob)
    await bob.join("dev")
    assert not await settled_messages(bob), "joining does not replay old room messages"
    assert [m.mid for m in await full_history(bob, "#dev")] == [s.mid for s in old], (
        "but a member may read the room's history"
    )
    await bob.close()
    new = await carol.send("#dev", "new one")
    again = await user("bob")
    assert again.session.unread == {"#dev": 1}
    assert [m.mid for m in await settled_messages(again)] == [new.mid]


async def test_lobby_cursor_starts_at_registration(user, connect) -> None:
    alice = await user("alice")
    for i in range(3):
        await alice.send("#lobby", f"before eve {i}")
    eve = await user("eve")
    assert eve.session.unread == {}
    assert not await settled_messages(eve)
    assert len(await full_history(eve, "#lobby")) == 3
    await eve.close()
    after = await alice.send("#lobby", "after eve")
    eve2 = await user("eve")
    assert eve2.session.unread == {"#lobby": 1}
    assert [m.mid for m in await settled_messages(eve2)] == [after.mid]


async def test_rejoin_after_leaving_starts_at_newest_again(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.join("dev")
    await bob.join("dev")
    await bob.leave("dev")
    for i in range(3):
        await alice.send("#dev", f"while bob was away {i}")
    await bob.close()
    bob2 = await user("bob")
    assert "#dev" not in bob2.session.unread
    await bob2.join("dev")
    await bob2.close()
    bob3 = await user("bob")
    assert bob3.session.unread == {}
    assert not await settled_messages(bob3)


async def test_member_of_room_gets_offline_room_messages(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.join("dev")
    await bob.join("dev")
    await bob.close()
    sent = [await alice.send("#dev", f"r{i}") for i in range(2)]
    bob2 = await user("bob")
    assert bob2.session.unread == {"#dev": 2}
    assert [m.mid for m in await settled_messages(bob2)] == [s.mid for s in sent]


async def test_room_membership_survives_reconnect(user, connect) -> None:
    alice = await user("alice")
    await alice.join("dev")
    await alice.close()
    again = await connect()
    await again.login("alice", PASSWORD)
    assert {r["name"]: r["joined"] for r in await again.rooms()} == {"lobby": True, "dev": True}
    await again.send("#dev", "back")


async def test_rooms_lists_every_room_even_when_there_are_many(make_server, user) -> None:
    """PROTOCOL.md: `rooms` lists every room. 1,200 rooms with 32-character
    names do not fit in one default 64 KiB frame: the server must still list
    them all (or say that it did not), never silently drop some."""
    srv = await make_server(rooms_per_user=2000)  # one user creates them all
    alice = await user("alice", to=srv)
    names = [f"{i:04d}-" + "r" * 27 for i in range(1200)]
    for start in range(0, len(names), 100):
        replies = await asyncio.gather(*(alice.request_nowait("join", room=n) for n in names[start : start + 100]))
        assert all(r["room"]["members"] == 1 for r in replies)
    reply = await alice.request("rooms")
    listed = {r["name"] for r in reply["rooms"]}
    missing = (set(names) | {"lobby"}) - listed
    assert not missing or reply.get("more") is True, (
        f"{len(missing)} of {len(names) + 1} rooms silently left out of `rooms` "
        f"(lobby {'missing' if 'lobby' in missing else 'listed'}; e.g. {sorted(missing)[:2]})"
    )
