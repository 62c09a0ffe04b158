"""Rooms cannot be used to harm others: creating them is rate-limited per
user and capped per server, and `rooms` reads a bounded number of rooms
however many there are."""

from __future__ import annotations

import redis.asyncio as aioredis

from chinwag.server import keys
from chinwag.server.conv import room_id
from chinwag.server.rooms import ROOM_ENTRY_MIN_BYTES

from ..support.events import error_of


async def test_room_creation_is_rate_limited_per_user(make_server, user) -> None:
    server = await make_server(rooms_per_user=3, rooms_window=600)
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    for name in ("one", "two", "three"):
        assert (await alice.join(name))["members"] == 1
    err = await error_of(alice.join("four"), "rate_limited")
    assert err.retry_after is not None and 0 < err.retry_after <= 600
    assert "rooms" in err.message
    # joining rooms that exist is not creating; others create as before
    assert (await bob.join("one"))["members"] == 2
    assert (await bob.join("bobs"))["members"] == 1
    await alice.leave("one")
    assert (await alice.join("one"))["members"] == 2  # back into an existing room
    assert {r["name"] for r in await bob.rooms()} == {"lobby", "one", "two", "three", "bobs"}


async def test_rooms_are_capped_per_server(make_server, user) -> None:
    server = await make_server(max_rooms=4, rooms_per_user=2)  # the lobby counts
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    await alice.join("one")
    await alice.join("two")
    await bob.join("three")
    err = await error_of(bob.join("four"), "forbidden")
    assert "4" in err.message and "limit" in err.message
    assert (await bob.join("one"))["members"] == 2  # existing rooms stay open to join
    assert "four" not in {r["name"] for r in await bob.rooms()}
    # the refused creation was not charged to bob's rate: with a higher cap
    # (a node configured so), he still has one creation left, not zero
    roomier = await make_server(max_rooms=10, rooms_per_user=2)
    bob2 = await user("bob", to=roomier)
    assert (await bob2.join("five"))["members"] == 1
    await error_of(bob2.join("six"), "rate_limited")


async def command_calls(client: aioredis.Redis, name: str) -> int:
    stats = await client.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


async def test_rooms_reads_a_bounded_number_of_rooms(make_server, user, clean_redis) -> None:
    """20,000 rooms written straight to Redis: one `rooms` request reads at
    most what one frame can hold, the lobby, the caller's rooms and the
    busiest first, and says there are more."""
    server = await make_server()
    alice = await user("alice", to=server)
    await alice.join("mine")
    redis = aioredis.Redis.from_url(clean_redis, decode_responses=True)
    try:
        pipe = redis.pipeline(transaction=False)
        for i in range(20_000):
            pipe.sadd(keys.ROOMS, f"r{i}")
        for i in range(5):  # five busy rooms
            members = [f"u{i}-{j}" for j in range(10 + i)]
            pipe.sadd(keys.members(room_id(f"busy{i}")), *members)
            pipe.sadd(keys.ROOMS, f"busy{i}")
            pipe.zadd(keys.ROOMS_BY_SIZE, {f"busy{i}": len(members)})
        pipe.zadd(keys.ROOMS_BY_SIZE, {f"r{i}": 0 for i in range(20_000)})
        await pipe.execute()
        before = await command_calls(redis, "scard")
        reply = await alice.request("rooms")
        reads = await command_calls(redis, "scard") - before
    finally:
        await redis.aclose()
    most = server.settings.max_frame // ROOM_ENTRY_MIN_BYTES
    assert reads <= most + 3, f"{reads} rooms read for one `rooms`"
    names = [r["name"] for r in reply["rooms"]]
    assert names[:2] == ["lobby", "mine"]
    assert names[2:7] == [f"busy{i}" for i in (4, 3, 2, 1, 0)]
    assert [r["members"] for r in reply["rooms"][2:7]] == [14, 13, 12, 11, 10]
    assert reply["more"] is True and len(names) < 20_000
