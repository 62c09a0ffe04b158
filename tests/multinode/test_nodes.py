"""Several server nodes on one Redis behave as one server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import MemberEvent, Message, PresenceEvent, TypingEvent
from chinwag.server.process import FAST_ARGON2, ServerProcess

from ..support.events import drain, next_of
from ..support.settings import PASSWORD


async def test_dm_room_typing_and_member_events_cross_nodes(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a)
    bob = await user("bob", to=b)
    assert (await next_of(alice, PresenceEvent)).user.username == "bob"

    sent = await alice.send("@bob", "across nodes")
    got = await next_of(bob, Message)
    assert (got.conv, got.mid, got.text) == ("@alice", sent.mid, "across nodes")

    await bob.join("ops")
    await alice.join("ops")
    own = await next_of(bob, MemberEvent)  # his own join reaches his connections too
    assert (own.room, own.user.username, own.joined) == ("ops", "bob", True)
    joined = await next_of(bob, MemberEvent)
    assert (joined.room, joined.user.username, joined.joined) == ("ops", "alice", True)
    room_msg = await alice.send("#ops", "room across nodes")
    got = await next_of(bob, Message)
    assert (got.conv, got.mid) == ("#ops", room_msg.mid)

    bob.typing("@alice")
    typing = await next_of(alice, TypingEvent)
    assert (typing.conv, typing.sender) == ("@bob", "bob")

    assert {u.username for u in await alice.who()} == {"alice", "bob"}
    assert {u.username for u in await bob.who()} == {"alice", "bob"}


async def test_multi_device_across_nodes_and_presence_once(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    watcher = await user("carol", to=a)
    phone = await user("alice", to=a)
    online = await next_of(watcher, PresenceEvent)
    assert (online.user.username, online.online) == ("alice", True)
    laptop = ChatClient("127.0.0.1", b.port)
    await laptop.connect()
    await laptop.login("alice", PASSWORD)
    await asyncio.sleep(0.2)
    assert not [e for e in await drain(watcher, 0.3) if isinstance(e, PresenceEvent)]

    sent = await watcher.send("@alice", "to both devices")
    for device in (phone, laptop):
        got = await next_of(device, Message)
        assert (got.mid, got.conv) == (sent.mid, "@carol")

    own = await laptop.send("#lobby", "from the laptop")
    got = await next_of(phone, Message)
    assert (got.mid, got.sender) == (own.mid, "alice")

    await phone.close()
    await asyncio.sleep(0.3)
    assert not [e for e in await drain(watcher, 0.3) if isinstance(e, PresenceEvent)]
    await laptop.close()
    offline = await next_of(watcher, PresenceEvent)
    assert (offline.user.username, offline.online) == ("alice", False)


async def test_offline_replay_and_cmid_across_nodes(make_server, user, connect) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a)
    bob = await user("bob", to=b)
    await bob.logout()
    first = await alice.send("@bob", "one", cmid="m-1")
    await alice.close()
    # alice reconnects to the other node and resends the same cmid
    again = await user("alice", to=b)
    second = await again.send("@bob", "one", cmid="m-1")
    assert second == first
    bob = ChatClient("127.0.0.1", a.port)
    await bob.connect()
    session = await bob.login("bob", PASSWORD)
    assert session.unread == {"@alice": 1}
    got = [e for e in await drain(bob) if isinstance(e, Message)]
    assert [(m.mid, m.text) for m in got] == [(first.mid, "one")]
    await bob.close()


async def test_killed_node_users_go_offline_and_get_messages_later(
    clean_redis: str, tmp_path: Path, make_server
) -> None:
    survivor = await make_server(node_ttl=2.0, heartbeat_interval=0.5)
    doomed = ServerProcess(
        tmp_path / "node-b",
        settings=FAST_ARGON2,
        extra_args=["--redis-url", clean_redis, "--node-ttl", "2", "--heartbeat-interval", "0.5"],
    )
    doomed.start()
    try:
        carol = ChatClient("127.0.0.1", survivor.port)
        await carol.connect()
        await carol.register("carol", PASSWORD)
        await carol.register("dave", PASSWORD)
        await carol.login("carol", PASSWORD)
        dave = ChatClient("127.0.0.1", doomed.port)
        await dave.connect()
        await dave.login("dave", PASSWORD)
        assert (await next_of(carol, PresenceEvent)).online is True

        doomed.kill()
        offline = await next_of(carol, PresenceEvent, timeout=15)
        assert (offline.user.username, offline.online) == ("dave", False)
        assert [u.username for u in await carol.who()] == ["carol"]

        sent = await carol.send("@dave", "while your node was down")
        dave = ChatClient("127.0.0.1", survivor.port)
        await dave.connect()
        session = await dave.login("dave", PASSWORD)
        assert session.unread == {"@carol": 1}
        got = await next_of(dave, Message)
        assert got.mid == sent.mid
        await dave.close()
        await carol.close()
    finally:
        doomed.kill()
