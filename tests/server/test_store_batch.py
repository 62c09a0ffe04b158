"""The batched write path: one Redis round trip for many sends and acks,
each answered on its own."""

from __future__ import annotations

import asyncio

import pytest
import redis as sync_redis

from chinwag.server import keys
from chinwag.server.statuses import SendStatus
from chinwag.server.store import StorageUnavailable, Store


async def test_one_batch_stores_in_order_and_isolates_a_failing_write(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        broken = sync_redis.Redis.from_url(clean_redis)
        broken.set("c:{@a:z}", "not a stream")  # a key of the wrong type: XADD fails there
        broken.close()
        results = await asyncio.gather(
            store.send("@a:b", "a", "one", "cm-1"),
            store.send("@a:z", "a", "lost cause", None),
            store.send("@a:b", "a", "two", None),
            store.send("@a:b", "a", "one again", "cm-1"),
            return_exceptions=True,
        )
        first, failed, second, again = results
        assert isinstance(failed, StorageUnavailable)
        assert first.status is SendStatus.NEW and second.status is SendStatus.NEW
        assert again.status is SendStatus.DUPLICATE and again.mid == first.mid and again.conv == "@a:b"
        messages, more = await store.history("@a:b", None, 10)
        assert [m.text for m in messages] == ["one", "two"] and not more
    finally:
        await store.close()


async def test_acks_of_many_users_in_one_batch_never_move_back(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        await asyncio.gather(
            store.ack("alice", {"#lobby": "5-0", "@a:b": "7-1"}),
            store.ack("bob", {"#lobby": "3-0"}),
            store.ack("alice", {"#lobby": "4-0"}),
        )
        _, cursors_a = await store.session_state("alice")
        _, cursors_b = await store.session_state("bob")
        assert cursors_a == {"#lobby": "5-0", "@a:b": "7-1"}
        assert cursors_b == {"#lobby": "3-0"}
    finally:
        await store.close()


@pytest.mark.parametrize("count", [1, 300])
async def test_batches_of_any_size(clean_redis: str, count: int) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        results = await asyncio.gather(*(store.send("@a:b", "a", f"m{i}", None) for i in range(count)))
        mids = [r.mid for r in results]
        assert len(set(mids)) == count
        messages, _ = await store.history("@a:b", None, 200)
        assert [m.text for m in messages] == [f"m{i}" for i in range(max(0, count - 200), count)]
    finally:
        await store.close()


async def test_a_cursor_move_waits_for_a_batch_to_ride_in(clean_redis: str) -> None:
    """An ack's cursor write makes no round trip of its own: it goes with the
    next send, when someone must wait for it (push), after LAZY_WAIT_S, or
    when the store closes."""
    store = Store(clean_redis)
    await store.start()
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    try:
        moved = store.ack("alice", {"@a:b": "5-0"})
        for _ in range(10):
            await asyncio.sleep(0)
        assert not moved.done() and admin.hget(keys.cursors("alice"), "@a:b") is None
        await store.send("@a:b", "a", "one", None)
        assert moved.done() and admin.hget(keys.cursors("alice"), "@a:b") == "5-0"  # in the send's batch
        pushed = store.ack("alice", {"@a:b": "6-0"})
        store.push()
        await pushed
        assert admin.hget(keys.cursors("alice"), "@a:b") == "6-0"
        await store.ack("alice", {"@a:b": "7-0"})  # alone: the timer sends it
        assert admin.hget(keys.cursors("alice"), "@a:b") == "7-0"
        store.ack("alice", {"@a:b": "8-0"})
    finally:
        await store.close()
    assert admin.hget(keys.cursors("alice"), "@a:b") == "8-0"  # written before the store closed
    admin.close()


async def test_a_batch_of_sends_is_answered_in_one_write_of_redis(clean_redis: str) -> None:
    # SEND_MANY answers flat: Redis 6.2 writes each nested array of a script's
    # reply with a write(2) of its own, one per message, and the server reads
    # them in as many pieces. Counted by the kernel (/proc/<pid>/io syscw),
    # with the AOF's own write once per loop turn of Redis around it.
    admin = sync_redis.Redis.from_url(clean_redis)
    redis_pid = int(admin.info("server")["process_id"])
    admin.close()
    store = Store(clean_redis)
    await store.start()

    def writes() -> int:
        with open(f"/proc/{redis_pid}/io") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("syscw:"))

    try:
        await store.send("@a:b", "a", "warm", None)
        before = writes()
        results = await asyncio.gather(*(store.send("@a:b", "a", f"m{i}", f"cm-{i}") for i in range(48)))
        spent = writes() - before
        assert [r.status for r in results] == [SendStatus.NEW] * 48
        assert all(r.prev for r in results), "each new message knows the entry before it"
        assert spent <= 6, f"Redis made {spent} writes for one batch of 48 sends"
    finally:
        await store.close()
