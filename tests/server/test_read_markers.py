"""`read` (PROTOCOL-EXTENSIONS.md): read markers of their own, per user and
conversation, that never move back, follow the user to their other `read`
connections, and count `unread` exactly at login."""

from __future__ import annotations

import asyncio

import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import ErrorEvent, Message, ReadEvent
from chinwag.server import keys

from ..support.events import error_of, settled
from ..support.settings import PASSWORD

READ = ["read"]
BOTH = ["messages", "read"]


async def device(server, features: list[str] = READ, *, auto_ack: bool = True) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, features=features, auto_ack=auto_ack)
    await client.connect()
    return client


async def send_many(client: ChatClient, to: str, texts: list[str]) -> list[str]:
    mids: list[str] = []
    for start in range(0, len(texts), 100):
        futures = [client.request_nowait("send", to=to, text=t) for t in texts[start : start + 100]]
        mids += [(await asyncio.wait_for(f, 10))["mid"] for f in futures]
    return mids


def reads(events: list[object]) -> list[tuple[str, str]]:
    return [(e.conv, e.upto) for e in events if isinstance(e, ReadEvent)]


async def test_a_read_reaches_the_users_other_read_connections_only(server, user) -> None:
    alice = await user("alice")
    phone = await user("bob", features=READ)
    laptop = await device(server, BOTH)
    await laptop.login("bob", PASSWORD)
    tablet = await device(server, [])  # version 1
    await tablet.login("bob", PASSWORD)
    carol = await user("carol", features=READ)
    one = await alice.send("@bob", "one")
    two = await alice.send("@bob", "two")
    await settled(laptop, alice)
    await phone.mark_read("@alice", one.mid)
    phone.read("@alice", two.mid)  # the notification form
    assert reads(await settled(laptop, phone)) == [("@alice", one.mid), ("@alice", two.mid)]
    assert reads(await settled(phone)) == []
    assert reads(await settled(tablet)) == []
    assert reads(await settled(carol)) == []
    await laptop.close()
    await tablet.close()


async def test_a_marker_never_moves_back(server, user) -> None:
    alice = await user("alice")
    phone = await user("bob", features=READ)
    laptop = await device(server)
    await laptop.login("bob", PASSWORD)
    one = await alice.send("@bob", "one")
    two = await alice.send("@bob", "two")
    await phone.mark_read("@alice", two.mid)
    await phone.mark_read("@alice", one.mid)  # ok, and nothing moves
    await phone.mark_read("@alice", two.mid)  # the same place: nothing either
    assert reads(await settled(laptop, phone)) == [("@alice", two.mid)]
    await laptop.close()
    again = await device(server)
    session = await again.login("bob", PASSWORD)
    assert session.read["@alice"] == two.mid
    assert "@alice" not in session.unread
    await again.close()


async def test_upto_must_name_a_message_of_the_conversation(user) -> None:
    alice = await user("alice", features=BOTH)
    bob = await user("bob", features=BOTH)
    room = await alice.send("#lobby", "room")
    in_dm = await alice.send("@bob", "dm")
    while in_dm.mid == room.mid:  # mids are unique within a conversation: two sent in one ms can be equal
        in_dm = await alice.send("@bob", "dm")
    await error_of(alice.mark_read("#lobby", in_dm.mid), "no_such_message")
    await error_of(alice.mark_read("#lobby", "99999999999999-0"), "no_such_message")  # past the newest
    await alice.react("#lobby", room.mid, "👍")
    change = [e for e in await settled(alice) if not isinstance(e, Message)][-1]
    await error_of(alice.mark_read("#lobby", change.id), "no_such_message")
    await error_of(bob.mark_read("@nobody", in_dm.mid), "no_such_user")
    await error_of(bob.mark_read("#lobby", "5"), "bad_request")
    # as a notification an unknown message is ignored, silently
    bob.read("#lobby", "99999999999999-0")
    assert [e for e in await settled(bob) if isinstance(e, ErrorEvent)] == []
    await bob.mark_read("#lobby", room.mid)


async def test_unread_counts_from_the_marker_with_read_and_from_the_cursor_without(server, user) -> None:
    alice = await user("alice")
    bob = await user("bob", features=READ)  # auto-acks: delivered moves on
    mids = [(await alice.send("@bob", f"m{i}")).mid for i in range(3)]
    await settled(bob, alice)
    await bob.mark_read("@alice", mids[0])
    await bob.close()
    with_read = await device(server)
    session = await with_read.login("bob", PASSWORD)
    assert (session.unread, session.read["@alice"]) == ({"@alice": 2}, mids[0])
    assert [e for e in await settled(with_read) if isinstance(e, Message)] == []  # the replay is the cursor's
    await with_read.close()
    plain = await device(server, [])
    session = await plain.login("bob", PASSWORD)
    assert (session.unread, session.read) == ({}, {})
    await plain.close()


async def test_reading_does_not_move_the_cursor_and_acking_does_not_move_the_marker(server, user) -> None:
    alice = await user("alice")
    bob = await user("bob", features=READ, auto_ack=False)
    mids = [(await alice.send("@bob", f"m{i}")).mid for i in range(3)]
    await settled(bob, alice)
    await bob.mark_read("@alice", mids[2])
    await bob.close()
    plain = await device(server, [], auto_ack=False)
    session = await plain.login("bob", PASSWORD)
    assert session.unread == {"@alice": 3}  # the cursor is where it was
    replayed = [e.mid for e in await settled(plain) if isinstance(e, Message)]
    assert replayed == mids
    plain.ack("@alice", mids[2])
    await plain.ping()
    await plain.close()
    await alice.send("@bob", "m3")
    reader = await device(server)
    session = await reader.login("bob", PASSWORD)
    assert (session.unread, session.read["@alice"]) == ({"@alice": 1}, mids[2])
    await reader.close()


async def test_unread_after_the_marker_is_exact_past_500(make_server, user) -> None:
    server = await make_server(send_rate=100_000, send_burst=100_000)
    alice = await user("alice", to=server, features=["messages"])
    bob = await user("bob", to=server, features=READ)
    theirs = await send_many(alice, "#lobby", [f"a{i}" for i in range(1_300)])
    await send_many(bob, "#lobby", [f"own {i}" for i in range(40)])  # never counted
    await alice.delete("#lobby", theirs[700])  # not counted once deleted
    await alice.delete("#lobby", theirs[10])  # before the marker: changes nothing
    await bob.mark_read("#lobby", theirs[99])
    await settled(bob, alice)
    await bob.close()
    back = await device(server)
    session = await back.login("bob", PASSWORD)
    assert session.unread == {"#lobby": 1_300 - 100 - 1}
    assert session.read == {"#lobby": theirs[99]}
    await back.close()


async def test_markers_start_where_cursors_do(server, user) -> None:
    alice = await user("alice")
    before = await alice.send("#lobby", "before bob")
    await alice.join("ops")
    await alice.send("#ops", "before bob joined")
    bob = await user("bob", features=READ)
    assert bob.session.read == {"#lobby": before.mid}
    await bob.join("ops")
    await bob.join("empty")
    await alice.send("@bob", "a first dm")
    await bob.close()
    again = await device(server)
    session = await again.login("bob", PASSWORD)
    assert set(session.read) == {"#lobby", "#ops"}  # an empty room and a dm: before their first message
    assert session.unread == {"@alice": 1}
    await again.close()


async def test_users_from_before_markers_get_them_from_their_cursors_once(clean_redis: str, make_server, user) -> None:
    server = await make_server()
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)  # auto-acks
    mids = [(await alice.send("@bob", f"m{i}")).mid for i in range(3)]
    await settled(bob, alice)
    await bob.close()
    await alice.send("@bob", "after")
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    admin.hdel(keys.user("bob"), "rm")  # as a user registered before this version
    admin.delete(keys.markers("bob"))
    restarted = await make_server()  # a node that has not seen bob yet
    first = await device(restarted)
    session = await first.login("bob", PASSWORD)
    assert session.read["@alice"] == mids[2]
    assert session.unread == {"@alice": 1}
    assert admin.hget(keys.user("bob"), "rm") == "1"
    await first.close()
    admin.hdel(keys.markers("bob"), "@alice:bob")  # now only a real read would put one back
    other = await make_server()
    second = await device(other)
    session = await second.login("bob", PASSWORD)
    assert "@alice" not in session.read and session.unread == {"@alice": 4}
    admin.close()
    await second.close()


async def test_a_device_logging_in_while_another_reads_learns_the_marker(server, user) -> None:
    """From the reply's `read` map or from a `read` event after it, whichever
    side of the login the move falls on."""
    alice = await user("alice")
    phone = await user("bob", features=READ)
    sent = await alice.send("@bob", "hi")
    laptop = await device(server)
    login = asyncio.ensure_future(laptop.login("bob", PASSWORD))
    await phone.mark_read("@alice", sent.mid)
    session = await login
    events = await settled(laptop, phone)
    assert session.read.get("@alice") == sent.mid or reads(events) == [("@alice", sent.mid)]
    await laptop.close()
