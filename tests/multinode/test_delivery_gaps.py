"""A conversation's live members get every entry, in order, even when the
announcement of one never reaches their node: the bus dropped it (pub/sub
promises nothing), or the node that stored it died before announcing it.
The next entry names its predecessor, the node notices the gap and reads
it from Redis (chinwag/server/ordering.py)."""

from __future__ import annotations

import redis.asyncio as aioredis

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.server import keys

from ..support.events import collect, drain, settled
from ..support.redis import store_unannounced


async def _on_each_master(url: str, *command: str) -> list[object]:
    """`command` on the one Redis, or on each master of a cluster."""
    if url.startswith("redis+cluster://"):
        from redis.asyncio.cluster import RedisCluster

        cluster = RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
        try:
            await cluster.initialize()
            masters = [(node.host, node.port) for node in cluster.get_primaries()]
        finally:
            await cluster.aclose()
        out = []
        for host, port in masters:
            node_client = aioredis.Redis(host=host, port=port)
            try:
                out.append(await node_client.execute_command(*command))
            finally:
                await node_client.aclose()
        return out
    client = aioredis.Redis.from_url(url)
    try:
        return [await client.execute_command(*command)]
    finally:
        await client.aclose()


async def _listening(url: str) -> int:
    """How many connections are subscribed to the bus."""
    total = 0
    for reply in await _on_each_master(url, "PUBSUB", "NUMSUB", keys.BUS_CHANNEL):
        assert isinstance(reply, list)
        total += int(reply[1])
    return total


async def _until_heard(sender: ChatClient, receiver: ChatClient) -> list[Message]:
    """DMs from `sender` until `receiver` (on the other node) gets one: that
    node is listening to the bus again. Returns the room messages it got
    meanwhile (none are expected: the dropped one is repaired only when the
    next one comes)."""
    room: list[Message] = []
    for k in range(100):
        await sender.send(f"@{receiver.session.user.username}", f"probe {k}")
        try:
            while True:
                event = await receiver.next_event(timeout=0.1)
                if isinstance(event, Message) and event.conv.is_room:
                    room.append(event)
                elif isinstance(event, Message):
                    return room
        except TimeoutError:
            continue
    raise AssertionError("the other node never heard the bus again")


async def test_a_room_message_the_bus_dropped_reaches_the_other_node_before_the_next(
    make_server, user, clean_redis
) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a)
    bob = await user("bob", to=b)
    await settled(bob, alice)
    listening = await _listening(clean_redis)
    assert listening >= 2  # both nodes (and whatever else of theirs listens)

    # No node may subscribe until the message is out, whatever the timing:
    # SUBSCRIBE is refused (NOPERM) while the subscriptions are cut.
    await _on_each_master(clean_redis, "ACL", "SETUSER", "default", "-subscribe", "-psubscribe")
    try:
        cut = await _on_each_master(clean_redis, "CLIENT", "KILL", "TYPE", "pubsub")
        assert sum(int(n) for n in cut) == listening  # type: ignore[call-overload]
        lost = await alice.send("#lobby", "published while node b was not listening")
    finally:
        await _on_each_master(clean_redis, "ACL", "SETUSER", "default", "+subscribe", "+psubscribe")
    early = await _until_heard(alice, bob)  # node b listens again
    after = await alice.send("#lobby", "the next one")

    got = early + await collect(bob, 2 - len(early), conv="#lobby")
    assert [(m.mid, m.text) for m in got] == [
        (lost.mid, "published while node b was not listening"),
        (after.mid, "the next one"),
    ]
    assert b.hub.order.gaps >= 1 and b.hub.order.repaired >= 1


async def test_a_message_stored_but_never_announced_reaches_the_members_before_the_next(
    make_server, user, clean_redis
) -> None:
    """A node stored a message and died before it could announce it: the
    members still connected elsewhere get it, in its place, with the next."""
    node = await make_server()
    alice = await user("alice", to=node)
    bob = await user("bob", to=node)
    await settled(bob, alice)
    silent = await store_unannounced(clean_redis, "#lobby", "alice", "stored, never announced")
    after = await alice.send("#lobby", "the next one")

    got = await collect(bob, 2, conv="#lobby")
    assert [(m.mid, m.text, m.sender) for m in got] == [
        (silent.mid, "stored, never announced", "alice"),
        (after.mid, "the next one", "alice"),
    ]
    assert all(isinstance(m, Message) for m in got)


async def test_a_new_member_gets_no_old_messages_as_a_gap(make_server, user, clean_redis) -> None:
    """Everyone on a node left a room, messages went on elsewhere (one of them
    never announced), then someone on that node joined: the node's order for
    the room starts again with the new member, so no "gap" of older messages
    is filled into their screen (joining does not flood you with history)."""
    a, b = await make_server(), await make_server()
    bob = await user("bob", to=a)
    carol = await user("carol", to=b)
    await bob.join("dev")
    await carol.join("dev")
    await carol.send("#dev", "bob is still here")
    await collect(bob, 1, conv="#dev")
    await bob.leave("dev")
    older = [await carol.send("#dev", f"while nobody on a is in #dev {k}") for k in range(3)]
    await store_unannounced(clean_redis, "#dev", "carol", "stored, never announced")
    dave = await user("dave", to=a)
    await dave.join("dev")
    after = await carol.send("#dev", "welcome, dave")
    got = await collect(dave, 1, conv="#dev")
    assert [m.mid for m in got] == [after.mid]
    await settled(dave)
    assert [m for m in await drain(dave, 0.2) if isinstance(m, Message)] == []
    assert all(o.mid != after.mid for o in older)
