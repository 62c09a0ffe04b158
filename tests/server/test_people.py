"""People: `who`, `users`, presence events, and several connections per user."""

from __future__ import annotations

from chinwag.protocol.messages import ByeEvent, Message, PresenceEvent

from ..support.events import (
    collect,
    drain,
    next_of,
    settled,
    settled_messages,
)
from ..support.settings import PASSWORD


async def test_who_lists_every_online_user_including_the_caller(user, connect) -> None:
    alice = await user("alice")
    await user("bob")
    offline = await connect()
    await offline.register("carol", PASSWORD, "Carol C")
    users = await alice.who()
    assert sorted(u.username for u in users) == ["alice", "bob"]
    assert all(u.online is True for u in users)
    assert {u.username: u.display_name for u in users} == {"alice": "alice", "bob": "bob"}


async def test_who_shows_display_names_and_updates_when_people_leave(user, connect) -> None:
    c = await connect()
    await c.register("dora", PASSWORD, "Dora the Explorer")
    await c.login("dora", PASSWORD)
    bob = await user("bob")
    assert {u.username: u.display_name for u in await bob.who()} == {"dora": "Dora the Explorer", "bob": "bob"}
    await c.close()
    assert (await next_of(bob, PresenceEvent)).online is False
    assert [u.username for u in await bob.who()] == ["bob"]


async def test_users_prefix_and_online_flags(user, connect) -> None:
    reg = await connect()
    for name in ("albert", "alfred", "bob"):
        await reg.register(name, PASSWORD)
    alice = await user("alice")
    found = await alice.users(prefix="al")
    assert sorted(u.username for u in found) == ["albert", "alfred", "alice"]
    assert {u.username: u.online for u in found} == {"albert": False, "alfred": False, "alice": True}
    assert sorted(u.username for u in await alice.users(prefix="AL")) == ["albert", "alfred", "alice"]
    assert [u.username for u in await alice.users(prefix="alf")] == ["alfred"]
    assert await alice.users(prefix="zed") == []
    everyone = await alice.users()
    assert sorted(u.username for u in everyone) == ["albert", "alfred", "alice", "bob"]
    assert all(isinstance(u.online, bool) for u in everyone)


async def test_users_prefix_with_special_characters_matches_nothing(user) -> None:
    alice = await user("alice")
    for prefix in ("[", "(", "-", "+", "*", "\\", "a[", "\xff"):
        found = await alice.users(prefix=prefix)
        assert [u.username for u in found if not u.username.startswith(prefix)] == [], prefix


async def test_users_limit_default_and_clamp(server, user) -> None:
    # Seed many accounts through the server's own store (registering 210 users
    # through argon2 would dominate the suite's run time).
    for i in range(210):
        assert await server.store.create_user(f"u{i:03d}", f"U {i}", "not-a-real-hash")
    alice = await user("alice")
    assert len(await alice.users()) == 50
    assert [u.username for u in await alice.users(limit=3)] == ["alice", "u000", "u001"]
    assert len(await alice.users(limit=200)) == 200
    clamped = await alice.users(limit=100_000)
    assert len(clamped) == 200
    assert len({u.username for u in clamped}) == 200
    assert len(await alice.users(prefix="u1", limit=500)) == 100


async def test_presence_online_and_offline_to_everyone_else(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    ev = await next_of(alice, PresenceEvent)
    assert (ev.user.username, ev.online) == ("bob", True)
    assert not [e for e in await drain(bob, 0.1) if isinstance(e, PresenceEvent)], (
        "a user is not told about their own presence"
    )
    carol = await user("carol")
    for client in (alice, bob):
        ev = await next_of(client, PresenceEvent)
        assert (ev.user.username, ev.online) == ("carol", True)
    await carol.close()
    for client in (alice, bob):
        ev = await next_of(client, PresenceEvent)
        assert (ev.user.username, ev.user.display_name, ev.online) == ("carol", "carol", False)


async def test_multi_device_every_connection_gets_every_message(user) -> None:
    bob = await user("bob")
    carol = await user("carol")
    a1 = await user("alice")
    a2 = await user("alice")
    await settled(bob)
    await settled(carol)

    sent = await carol.send("@alice", "to both devices")
    for device in (a1, a2):
        got = await next_of(device, Message)
        assert (got.mid, got.conv, got.sender, got.text) == (sent.mid, "@carol", "carol", "to both devices")

    mine = await a1.send("@carol", "from the phone", cmid="p1")
    assert mine.conv == "@carol"
    for device in (a1, a2):  # the sending connection gets its own message too
        got = await next_of(device, Message)
        assert (got.mid, got.conv, got.sender, got.cmid) == (mine.mid, "@carol", "alice", "p1")
    own, got = await collect(carol, 2)  # her own message first, then alice's reply
    assert (own.mid, own.conv) == (sent.mid, "@alice")
    assert (got.mid, got.conv) == (mine.mid, "@alice")
    assert not await settled_messages(bob), "a DM reaches only its two parties"

    room = await a2.send("#lobby", "hello room")
    for client in (a1, a2, bob, carol):
        got = await next_of(client, Message)
        assert (got.mid, got.conv, got.sender) == (room.mid, "#lobby", "alice")
    for client in (a1, a2, bob, carol):
        assert not await settled_messages(client), "each message exactly once per connection"


async def test_multi_device_presence_first_in_last_out(user) -> None:
    bob = await user("bob")
    a1 = await user("alice")
    ev = await next_of(bob, PresenceEvent)
    assert (ev.user.username, ev.online) == ("alice", True)
    a2 = await user("alice")
    a3 = await user("alice")
    assert not [e for e in await drain(bob, 0.1) if isinstance(e, PresenceEvent)], (
        "no presence event for a second or third connection"
    )
    assert sorted(u.username for u in await bob.who()) == ["alice", "bob"]

    await a1.logout()
    assert (await next_of(a1, ByeEvent)).reason == "logout"
    await a2.close()
    assert not [e for e in await drain(bob, 0.1) if isinstance(e, PresenceEvent)], (
        "alice still has a connection: she is still online"
    )
    assert sorted(u.username for u in await bob.who()) == ["alice", "bob"]
    sent = await bob.send("@alice", "still there?")
    got = await next_of(a3, Message)
    assert got.mid == sent.mid

    await a3.close()
    ev = await next_of(bob, PresenceEvent)
    assert (ev.user.username, ev.online) == ("alice", False)
    assert [u.username for u in await bob.who()] == ["bob"]


async def test_multi_device_own_dm_seen_with_conv_of_the_other_party(user) -> None:
    a1 = await user("alice")
    a2 = await user("alice")
    bob = await user("bob")
    sent = await a1.send("@bob", "hi")
    got = await next_of(a2, Message)
    assert (got.mid, got.conv, got.sender) == (sent.mid, "@bob", "alice")
    got = await next_of(bob, Message)
    assert (got.mid, got.conv, got.sender) == (sent.mid, "@alice", "alice")
    both = await collect(a1, 1)
    assert both[0].mid == sent.mid
