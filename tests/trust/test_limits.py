"""Every per-connection limit, exercised against a real server: pre-auth and
idle timeouts, pings, the per-address connection cap, max frame, max text,
the send and typing rate limits; and the token bucket itself on a fake clock."""

from __future__ import annotations

import asyncio
import math

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.frames import encode_frame
from chinwag.protocol.messages import ErrorEvent, Message, TypingEvent
from chinwag.server.ratelimit import TokenBucket

from ..support.events import collect, drain, error_of, settled
from ..support.fakeclock import FakeClock, install_clock, tick
from ..support.waits import eventually, live_connections

# --- pre-auth and idle timeouts ----------------------------------------------------


async def test_preauth_timeout_closes_a_connection_that_never_logs_in(make_server, raw, user) -> None:
    server = await make_server(preauth_timeout=1)
    clock = install_clock(server)
    alice = await user("alice", to=server)  # logged in: the pre-auth timeout is not for her
    silent = await raw(server.port)  # not even hello
    greeted = await raw(server.port)
    await greeted.hello()
    chatty = await raw(server.port)  # keeps talking, but never logs in
    await chatty.hello()
    start = clock()

    waiting = [c for c in server.connections if not c.username]  # silent, greeted, chatty
    assert len(waiting) == 3
    while any(c in server.connections for c in waiting) and clock() - start < 3.0:
        req = chatty.next_id()  # chatty pings every 0.1 s, past the timeout
        assert await chatty.try_send_bytes(encode_frame({"type": "ping", "id": req}))
        assert (await chatty.reply(req))["type"] == "ok"
        tick(server, clock, 0.1)
    for conn in (silent, greeted, chatty):
        frames = await conn.until_closed(timeout=4.0)
        events = [f for f in frames if "re" not in f]
        assert events and events[-1] == {"type": "bye", "reason": "idle"}, frames
    assert clock() - start < 3.5
    assert await eventually(lambda: live_connections(server) == 1, 2.0)
    tick(server, clock, max(0.0, start + 2.2 - clock()))
    await asyncio.wait_for(alice.ping(), 2)  # no bye is on its way
    assert alice.connected
    await asyncio.wait_for(alice.ping(), 2)


async def test_idle_connection_gets_ping_then_bye_idle_but_chat_client_stays(make_server, raw, user) -> None:
    server = await make_server(ping_interval=0.5, idle_timeout=1.5)
    clock = install_clock(server)
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    start = clock()
    conn = await raw(server.port)
    await conn.hello()
    await conn.request("register", username="idler", password="idle password")
    await conn.login("idler", "idle password")
    conn.frames.clear()
    clients = [c for c in server.connections if c.username in ("alice", "bob")]
    [idler] = [c for c in server.connections if c.username == "idler"]

    async def tick_answered(seconds: float) -> None:
        """Time passes; the ChatClients answer the server's pings (the idler does not)."""
        tick(server, clock, seconds)
        assert await eventually(lambda: not any(c.pinged for c in clients), 2.0)

    while idler in server.connections and clock() - start < 4.0:
        await tick_answered(0.25)
    frames = await conn.until_closed(timeout=4.0)  # never answers the ping
    kinds = [f.get("type") for f in frames]
    assert "ping" in kinds, frames
    assert frames[-1] == {"type": "bye", "reason": "idle"}, frames
    assert kinds.index("ping") < len(kinds) - 1

    # the ChatClients answer pings by themselves and outlive two idle timeouts
    while clock() - start < 3.2:
        await tick_answered(0.25)
    assert alice.connected and bob.connected
    await asyncio.wait_for(alice.ping(), 2)
    await alice.send("@bob", "still here")
    got = await collect(bob, 1, conv="@alice")
    assert got[0].text == "still here"


# --- per-address connection cap -----------------------------------------------------


async def test_per_address_connection_cap(make_server, raw) -> None:
    server = await make_server(max_connections_per_address=3)
    clients = []
    try:
        for _ in range(3):
            client = ChatClient("127.0.0.1", server.port, connect_timeout=5)
            await asyncio.wait_for(client.connect(), 5)
            clients.append(client)

        fourth = ChatClient("127.0.0.1", server.port, connect_timeout=5)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(fourth.connect(), 5)
        await fourth.close()

        refused = await raw(server.port)
        frames = await refused.until_closed(timeout=3)
        assert frames and frames[-1]["type"] == "error", frames
        assert live_connections(server) == 3

        for client in clients:  # the first three are unaffected
            await asyncio.wait_for(client.ping(), 2)

        await clients.pop().close()  # a freed slot can be used again
        assert await eventually(lambda: live_connections(server) == 2, 3)
        again = ChatClient("127.0.0.1", server.port, connect_timeout=5)
        await asyncio.wait_for(again.connect(), 5)
        clients.append(again)
        await asyncio.wait_for(again.ping(), 2)
    finally:
        for client in clients:
            await client.close()


# --- max frame and max text --------------------------------------------------------------


async def test_max_frame_is_announced_and_enforced(make_server, raw) -> None:
    server = await make_server(max_frame=4096)
    conn = await raw(server.port)
    hello = await conn.hello()
    assert hello["max_frame"] == 4096

    # exactly max_frame bytes is a legal frame
    frame = {"type": "ping", "id": conn.next_id(), "pad": ""}
    overhead = len(encode_frame(frame)) - 4
    frame["pad"] = "x" * (4096 - overhead - 2)  # str8 -> str16 header grows by 2 bytes
    data = encode_frame(frame)
    assert len(data) - 4 == 4096, len(data)
    await conn.send_bytes(data)
    assert (await conn.reply(frame["id"]))["type"] == "ok"

    # one byte more is a framing error: bad_frame, then the server closes
    frame = {"type": "ping", "id": conn.next_id(), "pad": "x" * (4096 - overhead - 1)}
    data = encode_frame(frame)
    assert len(data) - 4 == 4097
    await conn.try_send_bytes(data)
    frames = await conn.until_closed(timeout=3)
    assert frames and frames[-1]["type"] == "error" and frames[-1]["code"] == "bad_frame", frames
    assert "re" not in frames[-1]


async def test_oversize_header_is_refused_before_the_body(make_server, raw) -> None:
    server = await make_server(max_frame=4096)
    conn = await raw(server.port)
    await conn.hello()
    await conn.send_bytes((1 << 31).to_bytes(4, "big"))  # announces 2 GiB, sends nothing more
    frames = await conn.until_closed(timeout=3)
    assert frames and frames[-1].get("code") == "bad_frame", frames


async def test_max_text_is_announced_and_enforced(make_server, user) -> None:
    server = await make_server(max_text=100)
    alice = await user("alice", to=server)
    assert alice.server_info["max_text"] == 100
    await alice.send("#lobby", "a" * 100)
    await alice.send("#lobby", "\U0001f600" * 100)  # code points, not bytes
    err = await error_of(alice.send("#lobby", "a" * 101), "too_large")
    assert "100" in err.message
    assert alice.connected
    history, _ = await alice.history("#lobby")
    assert [len(m.text) for m in history] == [100, 100]


# --- rate limits --------------------------------------------------------------------------


async def test_send_rate_limit_slows_only_the_sender(make_server, user) -> None:
    server = await make_server(send_rate=2, send_burst=3)
    clock = install_clock(server)
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    for i in range(3):
        await alice.send("#lobby", f"burst {i}")
    err = await error_of(alice.send("#lobby", "one too many"), "rate_limited")
    assert err.retry_after is not None and 0 < err.retry_after <= 1 / 2 + 0.05
    assert alice.connected
    await asyncio.wait_for(alice.ping(), 2)

    await bob.send("#lobby", "bob is not limited")  # another user, unaffected
    clock.advance(err.retry_after + 0.05)
    await alice.send("#lobby", "after waiting")

    history, _ = await bob.history("#lobby")
    assert [m.text for m in history] == ["burst 0", "burst 1", "burst 2", "bob is not limited", "after waiting"]


async def test_typing_is_rate_limited_silently_and_relayed_once_per_3_s(make_server, user) -> None:
    server = await make_server(typing_rate=2, typing_burst=5)
    clock = install_clock(server)
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    await settled(bob)
    await settled(alice)
    first = clock()
    for _ in range(40):  # far over the bucket and the 3 s relay interval
        alice.typing("@bob")
        alice.typing("#lobby")
    await asyncio.sleep(0.3)
    events = await drain(bob, 0.3)
    typing = [(e.conv, e.sender) for e in events if isinstance(e, TypingEvent)]
    assert sorted(typing) == [("#lobby", "alice"), ("@alice", "alice")], events
    mine = await drain(alice, 0.1)
    assert not [e for e in mine if isinstance(e, (ErrorEvent, TypingEvent))], mine
    assert alice.connected
    await asyncio.wait_for(alice.ping(), 2)

    # keep typing steadily (within the bucket) until a little over 3 s after
    # the first relay: exactly one more, and not before those 3 s
    seen: list[float] = []
    while clock() - first < 3.5:
        clock.advance(0.3)
        alice.typing("@bob")
        await alice.ping()  # handled, and relayed (or not) ...
        await bob.ping()  # ... and what bob was sent is in his queue
        for event in await drain(bob, 0.01):
            if isinstance(event, TypingEvent) and event.conv == "@alice":
                seen.append(clock() - first)
    assert len(seen) == 1, seen
    assert seen[0] >= 2.9, seen


async def test_rate_limited_send_is_not_stored_or_delivered(make_server, user) -> None:
    server = await make_server(send_rate=1, send_burst=1)
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    await alice.send("@bob", "first", cmid="c1")
    await error_of(alice.send("@bob", "second", cmid="c2"), "rate_limited")
    got = await collect(bob, 1, conv="@alice")
    assert [m.text for m in got] == ["first"]
    assert not [e for e in await settled(bob) if isinstance(e, Message)]


# --- the token bucket, on a fake clock ------------------------------------------------------


def test_bucket_allows_the_burst_then_reports_the_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.5)


def test_bucket_refills_at_the_rate_and_caps_at_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=5, clock=clock)
    for _ in range(5):
        bucket.take()
    clock.now += 3600  # an hour idle refills to the burst, not to 36,000
    taken = 0
    while bucket.take() == 0.0 and taken < 100:
        taken += 1
    assert taken == 5
    # sustained rate: over 10 simulated seconds, 10/s get through
    ok = 0
    for _ in range(1000):
        clock.now += 0.01
        if bucket.take() == 0.0:
            ok += 1
    assert ok == pytest.approx(100, abs=1)


def test_bucket_failed_takes_do_not_consume() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    assert bucket.take() == 0.0
    for _ in range(50):  # hammering while empty does not push the wait out
        assert bucket.take() == pytest.approx(1.0)
    clock.now += 1.0
    assert bucket.take() == 0.0


def test_bucket_with_zero_rate_never_refills() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=0.0, burst=2, clock=clock)
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    clock.now += 1e6
    assert math.isinf(bucket.take())


def test_bucket_uses_the_injected_clock_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    bucket.take()
    wait = bucket.take()
    assert wait == pytest.approx(1.0)
    # real time passing changes nothing; only the fake clock does
    assert bucket.take() == pytest.approx(1.0)
    clock.now += 0.5
    assert bucket.take() == pytest.approx(0.5)
