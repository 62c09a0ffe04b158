"""The lean raw-protocol driver (bench/raw.py): against a real server, a
send is accepted and delivered to its recipient and echoed to its sender,
acks move the server's cursor as the real client's do, and a tiny dm
workload through it (a real chinwag-server process and its Redis) loses and
duplicates nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench import dm
from bench.drivers import TEXT_LEN, make_text, stamp_of, written_of
from bench.raw import RawConn, open_raw
from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer

from ..support.settings import PASSWORD

Got = list[tuple[str, str, str, str, str]]


def collect(conn: RawConn) -> Got:
    got: Got = []
    conn.sink = lambda *message: got.append(message)
    return got


async def until(done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_send_reaches_recipient_and_echoes_to_sender(
    server: ChatServer, user: Callable[..., Awaitable[ChatClient]]
) -> None:
    for name in ("alice", "bob"):
        await (await user(name)).close()
    alice = await open_raw(server.port, "alice", password=PASSWORD)
    bob = await open_raw(server.port, "bob", password=PASSWORD)
    to_alice, to_bob = collect(alice), collect(bob)
    stamp = time.monotonic_ns()
    mid = await alice.send_wait("@bob", stamp, "t.1")
    await until(lambda: len(to_bob) == 1 and len(to_alice) == 1)
    conv, got_mid, sender, text, cmid = to_bob[0]
    assert (conv, got_mid, sender, cmid) == ("@alice", mid, "alice", "t.1")
    assert int(text.split(" ", 1)[0]) == stamp
    assert to_alice[0][:3] == ("@bob", mid, "alice")  # the echo, as Alice's other devices see it
    refused: list[tuple[str | None, str | None]] = []
    assert alice.send("@nobody", stamp, "t.2", lambda m, e: refused.append((m, e)))
    await until(lambda: bool(refused))
    assert refused == [(None, "no_such_user")]
    await alice.close()
    await bob.close()


async def test_acks_move_the_cursor_and_without_them_it_stays(
    server: ChatServer, user: Callable[..., Awaitable[ChatClient]]
) -> None:
    for name in ("carol", "dave", "erin"):
        await (await user(name)).close()
    carol = await open_raw(server.port, "carol", password=PASSWORD)
    acking = await open_raw(server.port, "dave", password=PASSWORD)
    silent = await open_raw(server.port, "erin", password=PASSWORD, auto_ack=False)
    seen_dave, seen_erin = collect(acking), collect(silent)
    for i in range(3):
        await carol.send_wait("@dave", time.monotonic_ns(), f"d.{i}")
        await carol.send_wait("@erin", time.monotonic_ns(), f"e.{i}")
    await until(lambda: len(seen_dave) == 3 and len(seen_erin) == 3)
    await acking.close()  # flushes its due ack (one, for the newest mid)
    await silent.close()
    assert acking.acks_sent() >= 1  # coalesced: one, or more if ACK_DELAY passed meanwhile
    assert silent.acks_sent() == 0
    dave = await user("dave")
    erin = await user("erin")
    assert dave.session is not None and erin.session is not None
    assert dave.session.unread == {}
    assert erin.session.unread == {"@carol": 3}
    await carol.close()


def test_tiny_dm_through_the_raw_driver_loses_nothing() -> None:
    result = dm.run(clients=4, window=2, rates=[200], duration=0.5, warmup=0.2, procs=1, peers=0, driver="raw")
    assert (result["target"], result["driver"]) == ("chinwag", "raw")
    calls = result["syscalls_per_msg"]  # the kernel's counts, for the server and for its Redis
    assert min(calls["server"]["read"], calls["server"]["write"], calls["redis"]["read"], calls["redis"]["write"]) > 0
    for phase in (result, result["fixed_rate"][0]):
        assert phase["acked"] > 20
        assert phase["latency_samples"] > 0
        assert phase["lost"] == 0
        assert phase["duplicated"] == 0
        assert phase["unacked_received"] == 0
        assert phase["server_echoes"] is True
        assert phase["echo_lost"] == 0
        assert phase["echo_duplicated"] == 0
        assert phase["send_errors"] == {}
        assert phase["disconnected"] == 0
        assert phase["drain_timeouts"] == 0
        assert phase["acks_per_msg"] > 0
    # the open loop says how late the generator itself wrote its sends (never negative: a send leaves after its time)
    fixed = result["fixed_rate"][0]
    assert 0 <= fixed["loadgen_issue_lag_p50_ms"] <= fixed["loadgen_issue_lag_p99_ms"]
    assert "loadgen_issue_lag_p50_ms" not in result  # a closed loop schedules nothing
    # every latency from the write is the one from the schedule less that lateness
    assert fixed["p50_from_write_ms"] <= fixed["p50_ms"] and fixed["p99_from_write_ms"] <= fixed["p99_ms"]


def test_a_text_carries_its_scheduled_and_written_times() -> None:
    text = make_text(12_345_678_901_234, written=12_345_678_999_999)
    assert (stamp_of(text), written_of(text)) == (12_345_678_901_234, 12_345_678_999_999)
    plain = make_text(42, "cw0.1")
    assert (stamp_of(plain), written_of(plain)) == (42, None)
    assert len(text) == len(plain) == TEXT_LEN
