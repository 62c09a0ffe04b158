"""The floor relay (bench/floor_relay.py), the ladder's Python steps: it
relays what the IRC driver sends, answers each PING only after the
PRIVMSGs before it are relayed (stored first, with its Redis: the PONG is
the driver's `ok`), and a tiny dm workload through it loses nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from bench import dm, floor
from bench.floor_relay import RelayServer
from bench.irc import open_irc


@pytest.mark.parametrize("target", ["relay", "relay+redis"])
def test_tiny_dm_workload_loses_nothing(target: str) -> None:
    result = dm.run(clients=4, window=2, rates=[200], duration=0.5, warmup=0.2, procs=1, peers=0, target=target)  # type: ignore[arg-type]
    assert (result["target"], result["driver"]) == (target, "irc")
    for phase in (result, result["fixed_rate"][0]):
        assert phase["acked"] > 20
        assert phase["lost"] == 0
        assert phase["duplicated"] == 0
        assert phase["send_errors"] == {}
    assert result["server_warnings"] == 0
    assert (result["redis_cpu_us_per_msg"] > 0) == (target == "relay+redis")
    calls = result["syscalls_per_msg"]
    assert (
        calls["server"]["read"] > 0 and calls["server"]["write"] > 0
    )  # the kernel's counts of the relay's socket calls
    assert (calls["redis"]["write"] > 0) == (target == "relay+redis")


def test_pong_comes_after_the_message_is_in_redis() -> None:
    server = RelayServer(store=True).start()
    check = redis.Redis.from_url(server.url)
    try:
        seen_at_ok: list[int] = []
        got: list[tuple[str, str]] = []

        async def scenario() -> None:
            alice = await open_irc(server.port, "alice")
            bob = await open_irc(server.port, "bob")
            bob.sink = lambda conv, mid, sender, text, cmid: got.append((sender, cmid))
            done = asyncio.get_running_loop().create_future()

            def ok(mid: str | None, error: str | None) -> None:
                # blocking on purpose: what Redis holds the moment the ok arrives
                seen_at_ok.append(check.xlen("floor:alice:bob"))
                done.set_result((mid, error))

            # Redis holds every write for 300 ms: a PONG sooner than that
            # would come before the message is stored
            check.execute_command("CLIENT", "PAUSE", 300, "WRITE")
            alice.send("@bob", time.time_ns(), "c1", ok)
            assert await asyncio.wait_for(done, 10) == ("alice/c1", None)
            await bob.until(lambda: bool(got), "the delivery", timeout=10)
            await alice.close()
            await bob.close()

        asyncio.run(scenario())
        assert seen_at_ok == [1]
        assert got == [("alice", "c1")]
        ((_, fields),) = check.xrange("floor:alice:bob")
        assert fields[b"f"] == b"alice" and b" c1 " in fields[b"t"]
    finally:
        check.close()
        server.stop()


def test_ladder_table_lines_up_each_server() -> None:
    runs = {
        "relay": {
            "delivered_per_s": 100,
            "server_tree_cpu_us_per_msg": 5.0,
            "syscalls_per_msg": {"server": {"read": 1.5, "write": 2.0}, "redis": {"read": 0.5, "write": 0.5}},
            "fixed_rate": [{"offered_per_s": 10.0, "p50_ms": 1, "p99_ms": 2, "lost": 0}],
        },
        "chinwag": {
            "delivered_per_s": 50,
            "server_tree_cpu_us_per_msg": 9.0,
            "lost": 3,
            "fixed_rate": [{"offered_per_s": 10.0, "lost": 1}],
        },
    }
    rows = dict(floor.table(runs))
    assert rows["closed loop, DMs/s"] == [100, 50]
    assert rows["at 10/s, p50 / p99 ms"] == ["1 / 2", "None / None"]
    assert rows["loss check (every phase)"] == ["ok", "lost 4, dup 0, unacked 0, errors 0, timeouts 0"]
    assert rows["closed loop, reads+writes per DM (server / Redis)"] == ["1.5+2.0 / 0.5+0.5", "None+None / None+None"]
