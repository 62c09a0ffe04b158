"""Hostile input harms no one: while two legitimate users chat, other
connections send random bytes, mutated valid frames, valid frames with wrong
field types, huge declared lengths, a slowloris, and a flood of valid sends.
The legitimate pair gets every message exactly once and in order, the server
logs no error or traceback, its per-connection buffers stay bounded, and its
connection count returns to where it was."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import msgpack

from chinwag.protocol.frames import encode_frame
from chinwag.protocol.messages import Message
from chinwag.server.app import ChatServer

from ..support.events import collect, settled
from ..support.raw import RawClient
from ..support.settings import PASSWORD
from ..support.waits import eventually, live_connections

LEGIT_MESSAGES = 200
SEND_RATE, SEND_BURST = 200.0, 40


async def poke(port: int, data: bytes, *, hello: bool, linger: float = 0.3) -> list[dict[str, Any]]:
    """Open a connection, (say hello,) send `data`, and see what comes back
    before the server closes it or `linger` passes; then close."""
    conn = await RawClient.open(port)
    try:
        if hello:
            await conn.hello()
        await conn.try_send_bytes(data, timeout=2)
        try:
            return await conn.until_closed(timeout=linger)
        except TimeoutError:
            return conn.frames
    finally:
        conn.close()


def mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    choice = rng.randrange(5)
    if choice == 0:  # flip a few bytes anywhere, header included
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 1:  # flip bytes in the body only: a frame of the right length
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(4, len(data))] = rng.randrange(256)
    elif choice == 2:  # truncate the body, keeping the header's length
        data = data[: rng.randrange(4, len(data))]
    elif choice == 3:  # insert junk inside the body, fixing up the length
        at = rng.randrange(4, len(data))
        body = bytes(data[4:at]) + rng.randbytes(rng.randint(1, 8)) + bytes(data[at:])
        data = bytearray(len(body).to_bytes(4, "big") + body)
    else:  # two frames glued, the second one damaged
        second = bytearray(frame)
        second[rng.randrange(4, len(second))] ^= 0xFF
        data += second
    return bytes(data)


VALID = [
    {"type": "send", "id": 11, "to": "#lobby", "text": "mutant", "cmid": "m1"},
    {"type": "send", "id": 12, "to": "@bob", "text": "mutant dm"},
    {"type": "history", "id": 13, "conv": "#lobby", "limit": 5},
    {"type": "join", "id": 14, "room": "mutants"},
    {"type": "typing", "to": "#lobby"},
    {"type": "ack", "conv": "#lobby", "upto": "1-0"},
    {"type": "users", "id": 15, "prefix": "a", "limit": 3},
]

# frames that decode but break a rule: (frame, expected codes)
WRONG_TYPES: list[tuple[dict[str, Any], set[str]]] = [
    ({"type": "send", "to": 123, "text": "x"}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": b"binary"}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": ["x"]}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": {"t": "x"}}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": "x", "cmid": 5}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": "x", "cmid": "c" * 65}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": ""}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": "x" * 5000}, {"too_large"}),
    ({"type": "send", "to": "#" + "a" * 40, "text": "x"}, {"bad_request"}),
    ({"type": "send", "to": "@\u212aelvin", "text": "x"}, {"bad_request"}),
    ({"type": "send", "to": "lobby", "text": "x"}, {"bad_request"}),
    ({"type": "send", "to": "#lobby", "text": msgpack.ExtType(5, b"xx")}, {"bad_request"}),
    ({"type": "send", "to": None, "text": None}, {"bad_request"}),
    ({"type": "history", "conv": "#lobby", "limit": "10"}, {"bad_request"}),
    ({"type": "history", "conv": "#lobby", "limit": 10**18}, {"bad_request"}),
    ({"type": "history", "conv": "#lobby", "limit": -(2**63)}, {"bad_request"}),
    ({"type": "history", "conv": "#lobby", "before": 5}, {"bad_request"}),
    ({"type": "history", "conv": "#lobby", "before": "not-a-mid"}, {"bad_request"}),
    ({"type": "history", "conv": "#lobby", "limit": 1.5}, {"bad_request"}),
    ({"type": "join", "room": None}, {"bad_request"}),
    ({"type": "join", "room": {"x": 1}}, {"bad_request"}),
    ({"type": "join", "room": "bad room!"}, {"bad_request"}),
    ({"type": "users", "prefix": 7}, {"bad_request"}),
    ({"type": "frobnicate"}, {"unknown_type"}),
    ({"type": "hello", "version": 1}, {"bad_request"}),
    ({"type": "hello", "version": "1"}, {"bad_request"}),
    ({"type": "login", "username": "x", "password": 5}, {"bad_request", "already_authenticated"}),
    ({"type": "register", "username": ["a"], "password": PASSWORD}, {"bad_request", "already_authenticated"}),
    ({"type": "resume", "token": None}, {"bad_request", "already_authenticated"}),
    ({"type": "leave", "room": "lobby"}, {"forbidden"}),
    ({"type": "leave", "room": "never-joined"}, {"not_member"}),
]

# frames with no valid id: answered (if at all) by an error without `re`
NO_ID: list[dict[str, Any]] = [
    {"type": 5},
    {"type": None},
    {"type": b"send"},
    {"type": "send", "id": -1, "to": "#lobby", "text": "x"},
    {"type": "send", "id": 0, "to": "#lobby", "text": "x"},
    {"type": "send", "id": 1.5, "to": "#lobby", "text": "x"},
    {"type": "send", "id": True, "to": "#lobby", "text": "x"},
    {"type": "send", "id": "7", "to": "#lobby", "text": "x"},
    {"type": "send", "to": "#lobby", "text": "no id"},
    {"type": "ack", "conv": 1, "upto": "1-0"},
    {"type": "ack", "conv": "#lobby", "upto": None},
    {"type": "typing", "to": None},
    {"type": "typing", "to": "@nobody-here"},
    {"type": "pong", "extra": [1, 2, {"x": None}]},
]


async def wrong_types(port: int, name: str) -> int:
    """A logged-in user sending well-formed frames with wrong fields: each
    gets its error, and the connection stays."""
    conn = await RawClient.open(port)
    try:
        await conn.hello()
        await conn.login(name)
        answered = 0
        for frame, codes in WRONG_TYPES:
            reply = await conn.request(
                frame["type"] if isinstance(frame["type"], str) else "x",
                **{k: v for k, v in frame.items() if k != "type"},
            )
            assert reply["type"] == "error" and reply["code"] in codes, (frame, reply)
            assert isinstance(reply.get("message"), str) and reply["message"]
            answered += 1
        big_id = 2**64 - 1
        await conn.send({"type": "send", "id": big_id, "to": "#lobby", "text": 5})
        reply = await conn.reply(big_id)
        assert reply["code"] == "bad_request", reply
        for frame in NO_ID:
            await conn.send(frame)
        reply = await conn.request("ping")
        assert reply["type"] == "ok", reply
        stray = [f for f in await conn.quiet(0.2) + conn.frames if "re" in f]
        assert not stray, stray  # nothing without a valid id was answered as a request
        await asyncio.sleep(0.05)
        reply = await conn.request("ping")
        assert reply["type"] == "ok", reply  # still connected after all of it
        return answered
    finally:
        conn.close()


async def random_bytes(port: int, rng: random.Random, count: int) -> None:
    for i in range(count):
        size = rng.choice([1, 3, 4, 5, 16, 100, 1000, 5000])
        data = rng.randbytes(size)
        if i % 3 == 0:  # a plausible header in front of garbage
            data = rng.randint(1, 200).to_bytes(4, "big") + data
        frames = await poke(port, data, hello=i % 2 == 0, linger=0.2)
        for frame in frames:
            assert frame.get("type") in {"ok", "error"}, frame
        await asyncio.sleep(0.01)


async def mutated(port: int, rng: random.Random, count: int, name: str) -> None:
    for i in range(count):
        conn = await RawClient.open(port)
        try:
            await conn.hello()
            if i % 2 == 0:
                await conn.login(name)
            frame = encode_frame(rng.choice(VALID))
            await conn.try_send_bytes(mutate(rng, frame), timeout=2)
            with contextlib.suppress(TimeoutError):
                await conn.until_closed(timeout=0.15)
        finally:
            conn.close()


async def huge_lengths(port: int, max_frame: int) -> None:
    for header in (0xFFFFFFFF, 0x7FFFFFFF, max_frame + 1, 0, 1 << 24):
        frames = await poke(port, header.to_bytes(4, "big") + b"\x81", hello=True, linger=2)
        assert frames and frames[-1].get("code") == "bad_frame", (header, frames)
    # a legal length with the body held back: buffered, bounded by max_frame
    conn = await RawClient.open(port)
    try:
        await conn.hello()
        await conn.send_bytes(max_frame.to_bytes(4, "big") + b"\x00" * (max_frame // 2))
        await asyncio.sleep(1.0)
    finally:
        conn.close()
    # nesting deeper than any decoder stack
    deep = b"\x81\xa4type" + b"\x91" * 3000 + b"\xc0"
    frames = await poke(port, len(deep).to_bytes(4, "big") + deep, hello=True, linger=2)
    assert frames and frames[-1].get("type") == "error", frames


async def slowloris(port: int, seconds: float = 2.4, every: float = 0.2) -> bool:
    """Dribble a valid hello one byte at a time; True if the server answered
    it once it was complete."""
    conn = await RawClient.open(port)
    try:
        data = encode_frame({"type": "hello", "id": 1, "version": 1, "client": "slow"})
        sent = 0
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while sent < len(data) and loop.time() < end:
            if not await conn.try_send_bytes(data[sent : sent + 1], timeout=1):
                return False
            sent += 1
            await asyncio.sleep(every)
        if sent < len(data):
            return False
        reply = await conn.reply(1, timeout=2)
        return reply["type"] == "ok"
    finally:
        conn.close()


async def flood(port: int, name: str, total: int = 1000, chunk: int = 100) -> tuple[int, int, float]:
    """Pipelined valid sends as fast as the socket takes them: (ok, rate_limited, seconds)."""
    conn = await RawClient.open(port)
    loop = asyncio.get_running_loop()
    try:
        await conn.hello()
        await conn.login(name)
        ok = limited = 0
        start = loop.time()
        for base in range(0, total, chunk):
            ids = []
            for i in range(base, base + chunk):
                req_id = conn.next_id()
                ids.append(req_id)
                await conn.send_bytes(
                    encode_frame({"type": "send", "id": req_id, "to": "#lobby", "text": f"flood {i}"})
                )
            for req_id in ids:
                reply = await conn.reply(req_id, timeout=10)
                if reply["type"] == "ok":
                    ok += 1
                else:
                    assert reply["code"] == "rate_limited", reply
                    assert reply.get("retry_after", 0) > 0, reply
                    limited += 1
            conn.frames = [f for f in conn.frames if f.get("type") != "message"]
        return ok, limited, loop.time() - start
    finally:
        conn.close()


async def watch_buffers(server: ChatServer, stop: asyncio.Event, worst: dict[str, int]) -> None:
    """Sample every connection's input buffer and output backlog."""
    while not stop.is_set():
        for conn in list(server.connections):
            worst["decoder"] = max(worst["decoder"], conn.decoder.buffered)
            if conn.writer is not None and conn.transport is not None and not conn.transport.is_closing():
                worst["backlog"] = max(worst["backlog"], conn.writer.backlog)
        worst["connections"] = max(worst["connections"], len(server.connections))
        await asyncio.sleep(0.02)


async def test_hostile_clients_do_not_hurt_a_legitimate_pair(make_server, user, caplog) -> None:
    caplog.set_level(logging.INFO)
    server = await make_server(send_rate=SEND_RATE, send_burst=SEND_BURST)
    port, max_frame = server.port, server.settings.max_frame
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    for name in ("mallory", "mutant", "flooder"):
        setup = await RawClient.open(port)
        await setup.hello()
        await setup.register(name)
        setup.close()
    await settled(bob)
    await settled(alice)
    assert await eventually(lambda: live_connections(server) == 2, 3)
    baseline = live_connections(server)

    async def legit() -> list[str]:
        mids = []
        for i in range(LEGIT_MESSAGES):
            sent = await asyncio.wait_for(alice.send("@bob", f"m{i:03d}", cmid=f"legit-{i}"), 5)
            mids.append(sent.mid)
            await asyncio.sleep(0.008)
        return mids

    rng = random.Random(20240611)
    stop = asyncio.Event()
    worst = {"decoder": 0, "backlog": 0, "connections": 0}
    watcher = asyncio.create_task(watch_buffers(server, stop, worst))
    tasks = [
        asyncio.create_task(coro)
        for coro in (
            legit(),
            wrong_types(port, "mallory"),
            random_bytes(port, random.Random(rng.random()), 30),
            mutated(port, random.Random(rng.random()), 40, "mutant"),
            huge_lengths(port, max_frame),
            slowloris(port),
            slowloris(port, seconds=2.0, every=0.25),
            flood(port, "flooder"),
        )
    ]
    try:
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await watcher
    mids, answered, *_, _slow_ok, _, (flood_ok, flood_limited, flood_seconds) = results
    assert answered == len(WRONG_TYPES)
    assert flood_limited > 0
    assert flood_ok <= SEND_BURST + SEND_RATE * flood_seconds + 5, (flood_ok, flood_seconds)

    # the legitimate pair: every message exactly once, in order, on both sides
    got = await collect(bob, LEGIT_MESSAGES, timeout=10, conv="@alice")
    assert [m.text for m in got] == [f"m{i:03d}" for i in range(LEGIT_MESSAGES)]
    assert [m.mid for m in got] == mids
    assert all(m.sender == "alice" for m in got)
    extra = [e for e in await settled(bob) if isinstance(e, Message) and e.conv == "@alice"]
    assert not extra, extra
    echo = [e for e in await settled(alice) if isinstance(e, Message) and e.conv == "@bob"]
    assert [m.mid for m in echo] == mids
    history, _ = await bob.history("@alice", limit=200)
    assert [m.mid for m in history] == mids
    assert alice.connected and bob.connected

    # bounded: no input buffer past one frame, no output backlog past the limit
    assert worst["decoder"] <= max_frame + 4, worst
    assert worst["backlog"] <= server.settings.outgoing_limit, worst

    # the server's count returns to the legitimate pair
    assert await eventually(lambda: live_connections(server) == baseline, 5), [
        (c.username, c.state) for c in server.connections
    ]
    assert sum(server._per_ip.values()) == baseline

    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not problems, [(r.name, r.getMessage()) for r in problems]


# --- message ids the decoder accepts but Redis cannot use --------------------------------


async def test_history_before_an_edge_mid_is_answered_not_internal(make_server, user, raw) -> None:
    """`before` values that are well-formed mids: the answer is a page (empty)
    or bad_request, never `internal` "storage is unavailable"."""
    server = await make_server()
    alice = await user("alice", to=server)
    await alice.send("#lobby", "one")
    conn = await raw(server.port)
    await conn.hello()
    await conn.login("alice")
    answers = {}
    for before in ("0-0", "0-1", "99999999999999999999-0", "18446744073709551615-18446744073709551615"):
        reply = await conn.request("history", conv="#lobby", before=before)
        answers[before] = reply.get("code", "ok")
    assert all(code in {"ok", "bad_request"} for code in answers.values()), answers


async def test_an_ack_with_an_edge_mid_does_not_lock_the_user_out(make_server, user, raw) -> None:
    """A (buggy or hostile) client acks a mid beyond what Redis stream ids can
    hold; the user must still be able to log in afterwards."""
    server = await make_server()
    bob = await user("bob", to=server)
    outcomes = {}
    for i, upto in enumerate(("99999999999999999999-0", "18446744073709551615-18446744073709551615")):
        name = f"victim{i}"
        conn = await raw(server.port)
        await conn.hello()
        await conn.register(name)
        await conn.login(name)
        await conn.send({"type": "ack", "conv": "#lobby", "upto": upto})
        assert (await conn.request("ping"))["type"] == "ok"  # the ack has been applied
        conn.close()
        await bob.send("#lobby", f"for {name}")
        again = await raw(server.port)
        await again.hello()
        reply = await again.request("login", username=name, password=PASSWORD)
        outcomes[upto] = reply.get("code", "ok")
        again.close()
    assert all(code == "ok" for code in outcomes.values()), outcomes
