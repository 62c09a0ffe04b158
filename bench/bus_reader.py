"""What reading the node bus costs a node, per message: redis-py's pub/sub
reader against the lean one (chinwag/server/resp.py's RespSubscription)
that a node on a single Redis now uses, in the same run.

Every node reads its own events back (pub/sub sends a message to every
subscriber, its publisher too), so this is paid once per event on every
node: at 1,000 DMs/s, about once per DM. A publisher in another process
sends `--messages` payloads of 70 bytes, paced (`--gap` s between them, so
each message wakes the reader on its own, as at a low rate) and then as
fast as it can; this process reads them and reports its own CPU per message
(the event loop's wake-up included, which both readers pay).

    python -m bench.bus_reader [--messages 5000] [--gap 0.0005] [--runs 3]

One JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.engine import LeanSubscription, Subscription
from chinwag.server.resp import RespSubscription

CHANNEL = "bench:bus"
PAYLOAD = b"node-x|" + b"\x95" + b"a" * 62

PUBLISHER = """
import asyncio, sys
from chinwag.server.resp import RespConnection
async def main():
    connection = RespConnection(sys.argv[1], 5)
    count, gap = int(sys.argv[2]), float(sys.argv[3])
    for _ in range(count):
        await connection.execute([("PUBLISH", sys.argv[4], sys.argv[5].encode("latin-1"))])
        await asyncio.sleep(gap)
asyncio.run(main())
"""


async def _subscribe(url: str, reader: str, on_message: Callable[[bytes], None]) -> tuple[Any, Any]:
    """The node's own subscription classes (engine.py): the lean one, or
    redis-py's PubSub read by `get_message` in a task, as nodes had it
    (and a cluster's still do). Returns it and the client to close after."""
    if reader == "lean":
        return LeanSubscription(await RespSubscription.open(url, CHANNEL, on_message)), None
    client = aioredis.Redis.from_url(url, protocol=2, decode_responses=False)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    return Subscription(pubsub, on_message), client


async def _measure(url: str, reader: str, count: int, gap: float) -> float:
    """This process's CPU per message while `count` messages arrive."""
    got = 0
    done = asyncio.Event()

    def on_message(payload: bytes) -> None:
        nonlocal got
        got += 1
        if got == count:
            done.set()

    subscription, client = await _subscribe(url, reader, on_message)
    task = asyncio.ensure_future(subscription.run())
    try:
        started = time.process_time()
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, url, str(count), str(gap), CHANNEL, PAYLOAD.decode("latin-1")
        )
        await asyncio.wait_for(done.wait(), 120)
        spent = time.process_time() - started
        await publisher.wait()
        return 1e6 * spent / count
    finally:
        task.cancel()
        await subscription.aclose()
        if client is not None:
            await client.aclose()


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bus_reader", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--gap", type=float, default=0.0005, help="seconds between paced publishes")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each reader; medians reported")
    args = parser.parse_args(argv)
    redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-bus-")))
    url = await redis.start()
    results: dict[str, dict[str, list[float]]] = {
        "redis_py": {"paced": [], "flood": []},
        "lean": {"paced": [], "flood": []},
    }
    try:
        for _ in range(args.runs):
            for reader in ("redis_py", "lean"):
                for phase, gap in (("paced", args.gap), ("flood", 0.0)):
                    results[reader][phase].append(await _measure(url, reader, args.messages, gap))
                    print(f"{reader} {phase}: {results[reader][phase][-1]:.1f} us/msg", file=sys.stderr)
    finally:
        await redis.stop()
    line = {
        "workload": "bus_reader",
        "messages": args.messages,
        "gap_s": args.gap,
        "runs": args.runs,
        **{
            f"{reader}_{phase}_cpu_us_per_msg": round(statistics.median(values), 1)
            for reader, phases in results.items()
            for phase, values in phases.items()
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
