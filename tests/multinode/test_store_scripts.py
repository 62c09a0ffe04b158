"""Redis forgets its scripts (a restart without persistence of the script
cache, SCRIPT FLUSH, a failover): the store loads them again and the calls
that found them missing run once more, on one Redis (the batched *_MANY
path over the lean connection) and on a cluster (one EVALSHA per call)."""

from __future__ import annotations

import asyncio

import pytest
import redis as sync_redis

from chinwag.server.statuses import RoomCreation, SendStatus
from chinwag.server.store import Store


def forget_scripts(request: pytest.FixtureRequest, url: str) -> None:
    if url.startswith("redis+cluster://"):
        local, _ = request.getfixturevalue("cluster")
        nodes = [sync_redis.Redis(host="127.0.0.1", port=port) for port in local.ports]
    else:
        nodes = [sync_redis.Redis.from_url(url)]
    for node in nodes:
        node.script_flush()
        node.close()


async def test_batched_and_single_calls_survive_redis_losing_its_scripts(
    clean_redis: str, request: pytest.FixtureRequest
) -> None:
    store = Store(clean_redis, timeout=2.0)
    await asyncio.wait_for(store.start(), 10)
    try:
        first = await store.send("@a:b", "a", "before", "c1")
        assert first.status is SendStatus.NEW
        forget_scripts(request, clean_redis)
        # one batch: sends with and without a cmid, a retried cmid, an ack
        results = await asyncio.wait_for(
            asyncio.gather(
                store.send("@a:b", "a", "after", "c2"),
                store.send("@a:b", "b", "no cmid", None),
                store.send("@a:b", "a", "before, again", "c1"),
                store.ack("a", {"@a:b": first.mid}),
            ),
            10,
        )
        assert [r.status for r in results[:3]] == [SendStatus.NEW, SendStatus.NEW, SendStatus.DUPLICATE]
        assert results[2].mid == first.mid
        _, cursors = await store.session_state("a")
        assert cursors == {"@a:b": first.mid}
        forget_scripts(request, clean_redis)
        assert await asyncio.wait_for(store.create_room("dev", 10), 10) is RoomCreation.CREATED
        messages, _ = await store.history("@a:b", None, 10)
        # (on a cluster a send with a cmid reads its record first, so it may
        # be stored after a later send without one)
        assert sorted(m.text for m in messages) == ["after", "before", "no cmid"]
    finally:
        await store.close()


async def test_a_room_page_and_its_membership_check_are_one_call_on_one_redis_or_a_cluster(clean_redis: str) -> None:
    # SCAN with the room's members key (its slot is the stream's): a
    # member's page, a non-member's None, and nothing before the first id.
    store = Store(clean_redis, timeout=2.0)
    await asyncio.wait_for(store.start(), 10)
    try:
        assert await store.create_room("dev", 10) is RoomCreation.CREATED
        await store.join("dev", "a")
        sent = await store.send("#dev", "a", "hello", None)
        assert sent.status is SendStatus.NEW
        page = await store.history("#dev", None, 10, member="a")
        assert page is not None and [m.text for m in page[0]] == ["hello"] and page[1] is False
        assert await store.history("#dev", None, 10, member="b") is None
        assert await store.history("#dev", "0-0", 10, member="b") is None
        assert await store.history("#dev", "0-0", 10, member="a") == ([], False)
    finally:
        await store.close()
