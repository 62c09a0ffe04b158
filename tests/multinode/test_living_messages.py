"""Edits, deletes, reactions, replies and read markers with several nodes,
on one Redis and on a Redis Cluster (the conftest runs each test on both):
their events cross nodes, offline changes replay on any node, and every
script the store runs keeps to one hash slot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis as sync_redis
from redis.crc import key_slot

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import DeletedEvent, EditedEvent, Message, ReactionEvent, ReadEvent
from chinwag.server import keys
from chinwag.server.statuses import ChangeKind, ChangeStatus, SendStatus
from chinwag.server.store import Store, StoredChange, StoredMessage

from ..support.events import drain, next_of
from ..support.keyspace import holders
from ..support.settings import PASSWORD

BOTH = ["messages", "read"]


async def test_change_and_read_events_cross_nodes(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a, features=BOTH)
    bob = await user("bob", to=b, features=BOTH)
    bob_v1 = ChatClient("127.0.0.1", b.port)
    await bob_v1.connect()
    await bob_v1.login("bob", PASSWORD)
    bob_laptop = ChatClient("127.0.0.1", a.port, features=BOTH)
    await bob_laptop.connect()
    await bob_laptop.login("bob", PASSWORD)

    parent = await alice.send("@bob", "first")
    reply = await alice.send("@bob", "second", reply_to=parent.mid)
    got = [await next_of(bob, Message), await next_of(bob, Message)]
    assert [(m.mid, m.reply_to) for m in got] == [(parent.mid, None), (reply.mid, parent.mid)]
    edited = await alice.edit("@bob", parent.mid, "first, edited")
    event = await next_of(bob, EditedEvent)
    assert (event.conv, event.mid, event.text, event.edited) == ("@alice", parent.mid, "first, edited", edited)
    await bob.react("@alice", parent.mid, "👍")
    reaction = await next_of(alice, ReactionEvent)
    assert (reaction.mid, reaction.sender, reaction.on) == (parent.mid, "bob", True)
    await alice.delete("@bob", reply.mid)
    deleted = await next_of(bob, DeletedEvent)
    assert (deleted.mid, deleted.by) == (reply.mid, "alice")

    await bob.mark_read("@alice", parent.mid)  # node b
    moved = await next_of(bob_laptop, ReadEvent)  # node a
    assert (moved.conv, moved.upto) == ("@alice", parent.mid)

    v1 = await drain(bob_v1, 0.3)
    assert [e.mid for e in v1 if isinstance(e, Message)] == [parent.mid, reply.mid]
    assert [e for e in v1 if isinstance(e, EditedEvent | DeletedEvent | ReactionEvent | ReadEvent)] == []
    assert [e for e in v1 if isinstance(e, Message) and e.reply_to is not None] == []
    await bob_v1.close()
    await bob_laptop.close()


async def test_offline_changes_replay_on_another_node(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a, features=BOTH)
    bob = await user("bob", to=a)
    sent = await alice.send("#lobby", "before")
    await next_of(bob, Message)
    await bob.close()
    await asyncio.sleep(0.05)  # its ack lands
    await alice.edit("#lobby", sent.mid, "after")
    again = ChatClient("127.0.0.1", b.port, features=BOTH, auto_ack=False)
    await again.connect()
    await again.login("bob", PASSWORD)
    event = await next_of(again, EditedEvent)
    assert (event.mid, event.text) == (sent.mid, "after")
    await again.close()


async def test_listeners_hear_every_node(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    heard: list[Any] = []
    b.hub.add_listener(heard.append)
    alice = await user("alice", to=a, features=BOTH)
    sent = await alice.send("#lobby", "from node a")
    await alice.edit("#lobby", sent.mid, "edited on node a")
    for _ in range(100):
        if len(heard) >= 2:
            break
        await asyncio.sleep(0.02)
    message, change = heard[:2]
    assert isinstance(message, StoredMessage) and (message.mid, message.text) == (sent.mid, "from node a")
    assert isinstance(change, StoredChange)
    assert (change.kind, change.mid, change.text) == (ChangeKind.EDITED, sent.mid, "edited on node a")


def _record_slots(store: Store) -> list[tuple[str, list[str]]]:
    """Wrap the engine's script calls to record each one's keys."""
    engine = store.engine
    calls: list[tuple[str, list[str]]] = []
    call, call_each, batched = engine.call, engine.call_each, engine.batched

    async def recording_call(script: str, keys_: list[str], args: Any) -> Any:
        calls.append((script, list(keys_)))
        return await call(script, keys_, args)

    async def recording_each(script: str, many: Any) -> Any:
        calls.extend((script, list(k)) for k, _ in many)
        return await call_each(script, many)

    def recording_batched(script: str, keys_: list[str], args: list[Any], **kw: Any) -> Any:
        calls.append((script, list(keys_)))
        return batched(script, keys_, args, **kw)

    engine.call = store._call = recording_call  # type: ignore[method-assign]
    engine.call_each = recording_each  # type: ignore[method-assign]
    engine.batched = recording_batched  # type: ignore[method-assign]
    return calls


def _nodes(request: pytest.FixtureRequest, url: str) -> list[int] | None:
    if url.startswith("redis+cluster://"):
        local, _ = request.getfixturevalue("cluster")
        return list(local.ports)
    return None


async def test_every_script_of_the_store_keeps_to_one_slot(clean_redis: str, request: pytest.FixtureRequest) -> None:
    store = Store(clean_redis, history_maxlen=5, timeout=3.0)
    await asyncio.wait_for(store.start(), 10)
    calls = _record_slots(store)
    ports = _nodes(request, clean_redis)
    try:
        assert await store.create_user("alice", "Alice", "hash")
        assert await store.create_user("bob", "Bob", "hash")
        await store.add_dm("alice", "bob", "@alice:bob")
        first = await store.send("@alice:bob", "alice", "one", "c1")
        reply = await store.send("@alice:bob", "bob", "two", "c2", reply_to=first.mid)
        assert reply.status is SendStatus.NEW
        many = await asyncio.gather(*(store.send("@alice:bob", "alice", f"n{i}", None) for i in range(10)))
        assert {r.status for r in many} == {SendStatus.NEW}
        mid = many[-1].mid
        assert (await store.edit("@alice:bob", mid, "alice", "edited")).status is ChangeStatus.DONE
        assert (await store.react("@alice:bob", mid, "bob", "👍", True)).status is ChangeStatus.DONE
        assert (await store.delete("@alice:bob", many[-2].mid, "alice", False)).status is ChangeStatus.DONE
        # a stream from before this version: its delete rebuilds it, in its slot
        legacy_text = "from round one, to be erased"
        await store.create_room("old", 10)
        node: Any
        if ports is None:
            node = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
        else:
            node = sync_redis.RedisCluster(host="127.0.0.1", port=ports[0], decode_responses=True)
        old = node.xadd(keys.stream("#old"), {"f": "alice", "t": legacy_text})
        node.xadd(keys.stream("#old"), {"f": "bob", "t": "stays"})
        node.close()
        assert (await store.delete("#old", old, "alice", False)).status is ChangeStatus.DONE
        assert holders(clean_redis, legacy_text, ports) == []

        await store.ack("bob", {"@alice:bob": first.mid})
        state = await store.login_state("bob")
        assert await store.move_marker("bob", "@alice:bob", reply.mid)
        replay = await store.replay("bob", [*state.convs, "@alice:bob"], state.cursors, markers={}, changes=True)
        assert replay["@alice:bob"].messages[-1].text == "edited"
        page, _ = await store.history("@alice:bob", None, 50, deleted=True)
        assert page[-1].reactions == (("👍", ("bob",)),)
        assert set(await store.messages("@alice:bob", [mid, "1-1"])) == {mid}
        assert {"@alice:bob", "#old", "#lobby"} <= set(await store.conversation_ids())
        page = await store.entries_after("@alice:bob", None, 100)
        assert not page.more and page.items
        await store.conversations("bob", deleted=True)
        await store.join("dev", "bob")
        await store.leave("dev", "bob")
    finally:
        await store.close()
    scripts_run = {script for script, _ in calls}
    assert {"SEND", "EDIT", "DELETE", "REACT", "REBUILD", "READ", "SCAN", "REPLAY", "STATES", "REGISTER"} <= scripts_run
    # (on one Redis a send's cmid record is in the sender's slot, and the
    # batch runs as one SEND_MANY across slots: only a cluster needs one slot)
    if ports is not None:
        for script, keys_ in calls:
            assert len({key_slot(k.encode()) for k in keys_ if k}) == 1, (script, keys_)
