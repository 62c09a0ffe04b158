"""A resume's two store calls, on one Redis and on a cluster: RESUME_BEGIN
(the address's rate, then the token) spans two slots, so a cluster runs
TAKE and TOKEN_USE in its place; RESUME_STATE is one call in the user's
slot on both. Each gives what the calls it replaces gave."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis as sync_redis
from redis.crc import key_slot

from chinwag.server import keys
from chinwag.server.statuses import SessionStatus
from chinwag.server.store import Store, hash_token, session_id

TTL = 3600


def _node(request: pytest.FixtureRequest, url: str) -> Any:
    if url.startswith("redis+cluster://"):
        local, _ = request.getfixturevalue("cluster")
        return sync_redis.RedisCluster(host="127.0.0.1", port=local.ports[0], decode_responses=True)
    return sync_redis.Redis.from_url(url, decode_responses=True)


def _record(store: Store) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    batched = store.engine.batched

    def recording(script: str, keys_: list[str], args: list[Any], **kw: Any) -> Any:
        calls.append((script, list(keys_)))
        return batched(script, keys_, args, **kw)

    store.engine.batched = recording  # type: ignore[method-assign]
    return calls


@pytest.fixture
async def store(clean_redis: str) -> Any:
    store = Store(clean_redis, timeout=3.0)
    await asyncio.wait_for(store.start(), 10)
    yield store
    await store.close()


async def _account(store: Store, name: str, token: str) -> None:
    assert await store.create_user(name, name.title(), "hash")
    assert await store.add_session(name, token, "test", TTL, "") == []


async def test_resume_begin_counts_the_address_then_reads_the_token(
    store: Store, clean_redis: str, request: pytest.FixtureRequest
) -> None:
    calls = _record(store)
    await _account(store, "alice", "tok-a")
    node = _node(request, clean_redis)
    try:
        node.expire(keys.token(hash_token("tok-a")), 100)
        assert await store.resume_begin("10.0.0.1", 3, 60, "tok-a", TTL) == (0.0, "alice")
        assert node.ttl(keys.token(hash_token("tok-a"))) > 100  # the sliding window moved
        assert await store.resume_begin("10.0.0.1", 3, 60, "no such token", TTL) == (0.0, None)
        node.expire(keys.token(hash_token("tok-a")), 100)
        assert await store.resume_begin("10.0.0.1", 3, 60, "tok-a", TTL) == (0.0, "alice")
        wait, name = await store.resume_begin("10.0.0.1", 3, 60, "tok-a", TTL)  # the fourth: over the limit
        assert name is None and 0 < wait <= 60
        node.expire(keys.token(hash_token("tok-a")), 100)
        wait, name = await store.resume_begin("10.0.0.1", 3, 60, "tok-a", TTL)
        assert name is None and wait > 0
        assert node.ttl(keys.token(hash_token("tok-a"))) <= 100  # a refused resume reads no token
        assert node.get(keys.resumes_address("10.0.0.1")) == "3"  # and is not counted
        # another address has a rate of its own
        assert await store.resume_begin("10.0.0.2", 3, 60, "tok-a", TTL) == (0.0, "alice")
    finally:
        node.close()
    resumes = [(script, keys_) for script, keys_ in calls if script in {"RESUME_BEGIN", "TAKE", "TOKEN_USE"}]
    scripts = [script for script, _ in resumes]
    if clean_redis.startswith("redis+cluster://"):
        assert scripts == ["TAKE", "TOKEN_USE"] * 3 + ["TAKE", "TAKE", "TAKE", "TOKEN_USE"], scripts
        for script, keys_ in resumes:
            assert len({key_slot(k.encode()) for k in keys_}) == 1, (script, keys_)
    else:
        assert scripts == ["RESUME_BEGIN"] * 6, scripts


async def test_resume_state_gives_what_login_state_does_in_one_slot(
    store: Store, clean_redis: str, request: pytest.FixtureRequest
) -> None:
    calls = _record(store)
    await _account(store, "bob", "tok-b")
    await store.add_dm("bob", "carol", "@bob:carol")
    await store.ack("bob", {"@bob:carol": "5-0"})
    await store.set_block("bob", "dave", True)
    await store.set_status("bob", True, "lunch")
    node = _node(request, clean_redis)
    try:
        node.hset(keys.markers("bob"), "@bob:carol", "4-0")
        entry = json.loads(node.hget(keys.sessions("bob"), session_id("tok-b")))
        node.hset(keys.sessions("bob"), session_id("tok-b"), json.dumps({**entry, "lu": "1"}))  # used long ago
        found = await store.resume_state("bob", "tok-b", "tag1", 5, 60, TTL, 3)
        assert found.wait == 0 and found.status is SessionStatus.OK
        assert found.state == await store.login_state("bob")
        assert found.state is not None and found.state.blocks == {"dave"}
        assert found.state.cursors["@bob:carol"] == "5-0" and found.state.markers == {"@bob:carol": "4-0"}
        assert found.profile is not None and (found.profile.display_name, found.profile.away) == ("Bob", True)
        after = json.loads(node.hget(keys.sessions("bob"), session_id("tok-b")))
        assert int(after["lu"]) >= int(entry["cr"]) and after["t"] == hash_token("tok-b")  # its last use is now
        assert node.zscore(keys.known_addresses("bob"), "tag1") is not None  # the address is known
        for _ in range(4):
            assert (await store.resume_state("bob", "tok-b", "tag1", 5, 60, TTL, 3)).wait == 0
        throttled = await store.resume_state("bob", "tok-b", "tag2", 5, 60, TTL, 3)
        assert 0 < throttled.wait <= 60 and throttled.state is None
        assert node.zscore(keys.known_addresses("bob"), "tag2") is None  # a refused resume marks nothing
        # a token the index does not list, after the sessions were revoked: no longer honoured
        node.hset(keys.user("bob"), "sg", "2")
        revoked = await store.resume_state("bob", "tok-old", "tag1", 50, 60, TTL, 3)
        assert revoked.status is SessionStatus.REVOKED and revoked.state is None
        assert await store.set_disabled("bob", True)
        disabled = await store.resume_state("bob", "tok-b", "tag1", 50, 60, TTL, 3)
        assert disabled.status is SessionStatus.DISABLED and disabled.state is None
    finally:
        node.close()
    states = [keys_ for script, keys_ in calls if script == "RESUME_STATE"]
    assert len(states) == 8
    for keys_ in states:  # one slot on one Redis too: the same call runs on a cluster
        assert len({key_slot(k.encode()) for k in keys_}) == 1, keys_


async def test_resume_state_takes_an_unknown_token_into_the_index(store: Store) -> None:
    """A token from before there was a session index (none was ever
    revoked): the resume lists it, as SESSION_TOUCH did."""
    assert await store.create_user("erin", "Erin", "hash")
    await store.store_token("tok-e", "erin", TTL)
    found = await store.resume_state("erin", "tok-e", "tag", 5, 60, TTL, 3)
    assert found.status is SessionStatus.OK
    assert [r.token_hash for r in await store.sessions("erin")] == [hash_token("tok-e")]
