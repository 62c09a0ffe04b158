"""`resume` reads its checks and the login state in one script call of the
user's slot (RESUME_STATE), where a password `login` reads them with
`login_state`: on the same account, both must give the same `ok` (but the
token) and the same replay, frame for frame, for every feature set. And a
resume's work is its few batched round trips, not one redis-py call each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.server import keys
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.engine import Op

from ..support.events import error_of, settled
from ..support.raw import RawClient
from ..support.settings import PASSWORD, fast_settings
from ..support.waits import eventually

ALL = ["messages", "read", "rooms", "people", "notify"]
FEATURE_SETS = [[], ["messages"], ["read"], ALL]


async def _client(server: ChatServer, name: str, features: list[str] = ALL) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, features=features, auto_ack=False)
    await client.connect()
    await client.register(name, PASSWORD)
    await client.login(name, PASSWORD)
    return client


async def _busy_account(server: ChatServer) -> str:
    """alice, offline, with something of everything after her cursors: DMs
    past her cursor and her read marker (one edited, one deleted, a reaction
    to one she already has), a room with a blocked sender's messages, a
    pending invitation, a status. Returns her token."""
    alice = await _client(server, "alice")
    bob = await _client(server, "bob")
    carol = await _client(server, "carol")
    dave = await _client(server, "dave")
    await carol.join("dev")
    await alice.join("dev")
    await dave.join("dev")
    first = await bob.send("@alice", "one")
    second = await bob.send("@alice", "two")
    await settled(alice, bob)
    alice.ack("@bob", second.mid)
    await alice.mark_read("@bob", first.mid)
    await alice.block("dave")
    await alice.set_status(True, "out")
    await alice.ping()  # the ack is in before she goes
    token = alice.session.token
    await alice.close()
    third = await bob.send("@alice", "three")
    fourth = await bob.send("@alice", "four")
    await bob.send("@alice", "five")
    await bob.edit("@alice", fourth.mid, "four, edited")
    await bob.delete("@alice", third.mid)
    await bob.react("@alice", first.mid, "👍")
    await carol.send("#dev", "hello room")
    await dave.send("#dev", "from the blocked one")
    await carol.send("#dev", "again")
    await carol.join("secret", private=True)
    await carol.invite("secret", "alice")
    for client in (bob, carol, dave):
        await client.close()
    for name in ("alice", "bob", "carol", "dave"):  # no presence event of theirs is still to come
        await eventually_offline(server, name)
    return token


async def _session(server: ChatServer, features: list[str], **start: Any) -> tuple[dict[str, Any], list[Any]]:
    """A raw connection's `ok` to a login or resume and the frames after it."""
    conn = await RawClient.open(server.port)
    try:
        await conn.ok("hello", version=1, client="raw-test/0", features=features)
        kind = "resume" if "token" in start else "login"
        reply = await conn.ok(kind, **start)
        frames = await conn.barrier()
    finally:
        conn.close()
    reply.pop("re")
    reply.pop("token")
    return reply, frames


@pytest.mark.parametrize("features", FEATURE_SETS, ids=lambda f: "+".join(f) or "v1")
async def test_a_resume_says_what_a_login_says(server: ChatServer, features: list[str]) -> None:
    token = await _busy_account(server)
    resumed = await _session(server, features, token=token)
    logged_in = await _session(server, features, username="alice", password=PASSWORD)
    assert resumed == logged_in
    reply, frames = resumed
    assert reply["unread"]  # (the account has something to say: the comparison is not of two empty replays)
    kinds = [f.get("type") for f in frames]
    assert kinds.count("message") >= 4, frames
    if "rooms" in features:
        assert "invited" in kinds
    if "messages" in features:
        assert "reaction" in kinds or any(f.get("reactions") for f in frames)


async def test_a_resume_migrates_read_markers_as_a_login_does(server: ChatServer, clean_redis: str) -> None:
    """A user from before read markers: the resume's script gives each
    conversation the cursor's place, once, as login_state does."""
    token = await _busy_account(server)
    node = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    try:
        cursors = node.hgetall(keys.cursors("alice"))
        node.delete(keys.markers("alice"))
        node.hdel(keys.user("alice"), "rm")
        server.store._migrated.clear()
        resumed = await _session(server, ["read"], token=token)
        assert node.hexists(keys.user("alice"), "rm")
        migrated = node.hgetall(keys.markers("alice"))
        assert migrated == {cid: mid for cid, mid in cursors.items() if mid != "0-0"}
        node.delete(keys.markers("alice"))
        node.hdel(keys.user("alice"), "rm")
        server.store._migrated.clear()
        logged_in = await _session(server, ["read"], username="alice", password=PASSWORD)
        assert node.hgetall(keys.markers("alice")) == migrated
    finally:
        node.close()
    assert resumed == logged_in
    assert resumed[0]["read"] == {"@bob": cursors["@alice:bob"]}


async def test_a_resume_is_three_batched_round_trips(make_server, user, monkeypatch) -> None:
    """On an idle server: the address and token, the user's slot, then the
    replay's page and the presence count together; no redis-py call. (No
    heartbeat comes meanwhile: it is a redis-py call of its own.)"""
    server = await make_server(heartbeat_interval=600.0, node_ttl=1200.0)
    alice = await user("alice", to=server)
    token = alice.session.token
    await alice.close()
    assert await eventually(lambda: not server.connections)
    await eventually_offline(server, "alice")
    batches: list[list[str]] = []
    calls: list[float] = []
    engine = server.store.engine
    run, on_call = engine._run, engine.on_call

    async def recording_run(batch: list[Op]) -> None:
        batches.append([op.script or op.args[0] for op in batch])
        await run(batch)

    def call(seconds: float, failed: bool) -> None:
        calls.append(seconds)
        on_call(seconds, failed)

    monkeypatch.setattr(engine, "_run", recording_run)
    monkeypatch.setattr(engine, "on_call", call)
    await _session(server, [], token=token)
    assert batches[:3] == [["RESUME_BEGIN"], ["RESUME_STATE"], ["SCAN", "PRESENCE"]], batches
    assert all(script == "PUBLISH" for batch in batches[3:] for script in batch), batches  # she came online
    assert calls == []


async def eventually_offline(server: ChatServer, name: str) -> None:
    for _ in range(250):
        if not await server.store.online_counts([name]):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} is still counted online")


async def test_a_disable_while_a_resume_reads_the_account_refuses_it(server: ChatServer, user, monkeypatch) -> None:
    """The disable lands after the resume's script read the account, and its
    event before the connection is in the hub: `ended_since` refuses it."""
    alice = await user("alice")
    token = alice.session.token
    await alice.close()
    original = server.store.resume_state

    async def disabled_meanwhile(name: str, *args: Any) -> Any:
        found = await original(name, *args)
        await server.store.set_disabled(name, True)
        server.hub.disabled(name)
        return found

    monkeypatch.setattr(server.store, "resume_state", disabled_meanwhile)
    client = ChatClient("127.0.0.1", server.port)
    await client.connect()
    try:
        err = await error_of(client.resume(token), "forbidden")
    finally:
        await client.close()
    assert err.message == "this account is disabled"


async def test_a_resume_while_redis_is_away_answers_internal_and_works_after(tmp_path) -> None:
    """Each of the resume's batched steps fails with `internal` (never a
    traceback, never a session) while Redis is stopped, and the same token
    resumes once it is back; the connection stays usable meanwhile."""
    redis = EmbeddedRedis(tmp_path / "redis")
    url = await redis.start()
    server = ChatServer(fast_settings(), url)
    await server.start()
    try:
        alice = await _client(server, "alice", [])
        token = alice.session.token
        await alice.close()
        await redis.stop()
        conn = await RawClient.open(server.port)
        try:
            await conn.hello()
            reply = await conn.request("resume", token=token)
            assert (reply["type"], reply["code"]) == ("error", "internal"), reply
            assert "Traceback" not in reply["message"]
            await conn.barrier()  # still served
            assert await redis.start() == url
            resumed = await conn.ok("resume", token=token)
            assert resumed["user"]["username"] == "alice"
        finally:
            conn.close()
    finally:
        await server.stop()
        await redis.stop()
