"""What a login replay of a huge never-acked conversation costs Redis.

Fills one room stream with `--messages` entries (one in ten from the
replaying user), then, in a private embedded Redis:

- runs `Store.replay` once and reports its wall time and the longest single
  command Redis ran for it (SLOWLOG, every command logged);
- runs `--parallel` replays at once while a writer times one small write
  every millisecond, and reports the slowest write.

    python -m bench.replay_cost [--messages 100000] [--parallel 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from chinwag.server import keys
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.store import Store, connect_redis

from .clients import install_uvloop

ME = "replayer"
CONV = "#big"
TEXT = "a message of an ordinary length, about sixty characters long."


async def fill(url: str, count: int) -> None:
    redis = connect_redis(url)
    stream = keys.stream(CONV)
    for start in range(0, count, 5_000):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(start + 5_000, count)):
            pipe.xadd(stream, {"f": ME if i % 10 == 0 else f"user{i % 7}", "t": TEXT})
        await pipe.execute()
    await redis.aclose()


async def slowest_commands(redis: Any) -> list[tuple[int, str]]:
    entries = await redis.execute_command("SLOWLOG", "GET", 1_000_000)
    out = []
    for entry in entries:
        micros, args = int(entry[2]), entry[3]
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        if name.upper() not in ("SLOWLOG", "CONFIG", "PING", "INCR"):
            out.append((micros, name.upper()))
    out.sort(reverse=True)
    return out


async def writer(redis: Any, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        with contextlib.suppress(Exception):  # a write that timed out counts with the time it waited
            await redis.incr("bench:write")
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.001)


async def run(messages: int, parallel: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cw-replay-") as tmp:
        embedded = EmbeddedRedis(Path(tmp))
        url = await embedded.start()
        try:
            await fill(url, messages)
            store = Store(url)
            await store.start()
            admin = connect_redis(url, decode=False)
            await admin.config_set("slowlog-log-slower-than", 0)
            await admin.config_set("slowlog-max-len", 1_000_000)
            await admin.execute_command("SLOWLOG", "RESET")

            started = time.perf_counter()
            result = await store.replay(ME, [CONV], {})
            one_wall = time.perf_counter() - started
            unread, tail = result[CONV].unread, result[CONV].messages
            slow = await slowest_commands(admin)
            commands = len(slow)

            await admin.execute_command("SLOWLOG", "RESET")
            stop = asyncio.Event()
            latencies: list[float] = []
            probe = connect_redis(url)
            task = asyncio.create_task(writer(probe, stop, latencies))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(store.replay(ME, [CONV], {}) for _ in range(parallel)), return_exceptions=True
            )
            many_wall = time.perf_counter() - started
            stop.set()
            await task
            many_slow = await slowest_commands(admin)
            latencies.sort()
            await probe.aclose()
            await admin.aclose()
            await store.close()
            return {
                "workload": "replay_cost",
                "messages": messages,
                "unread": unread,
                "replayed": len(tail),
                "one_replay_wall_ms": round(one_wall * 1000, 1),
                "one_replay_commands": commands,
                "one_replay_longest_command_ms": round(slow[0][0] / 1000, 2),
                "longest_command": slow[0][1],
                "parallel": parallel,
                "parallel_failed": sum(isinstance(o, Exception) for o in outcomes),
                "parallel_wall_ms": round(many_wall * 1000, 1),
                "parallel_longest_command_ms": round(many_slow[0][0] / 1000, 2) if many_slow else 0,
                "writes_during": len(latencies),
                "write_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
                "write_max_ms": round(latencies[-1] * 1000, 1),
            }
        finally:
            await embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--parallel", type=int, default=40)
    args = parser.parse_args()
    install_uvloop()
    print(json.dumps(asyncio.run(run(args.messages, args.parallel))))


if __name__ == "__main__":
    main()
