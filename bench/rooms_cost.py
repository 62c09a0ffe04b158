"""What one `rooms` request costs when the server holds many rooms.

`python -m bench.rooms_cost --rooms 100000`: an embedded Redis and one
in-process server; the rooms are written straight into Redis (the room set,
and the room index where the server has one), a few of them busy; then
`--requests` sequential `rooms` requests are timed, and a bystander's ping
is timed, again and again, while `--burst` `rooms` requests from other
connections run at once. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from chinwag.protocol.client import ChatClient
from chinwag.server import keys
from chinwag.server.app import ChatServer
from chinwag.server.conv import room_id
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.settings import Settings

from .servers import CHEAP_ARGON2

PASSWORD = "rooms-bench-password"


async def fill(url: str, rooms: int) -> None:
    index = getattr(keys, "ROOMS_BY_SIZE", None)  # absent before the room index existed
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        for start in range(0, rooms, 10_000):
            pipe = client.pipeline(transaction=False)
            names = [f"room{i:06d}" for i in range(start, min(rooms, start + 10_000))]
            pipe.sadd(keys.ROOMS, *names)
            if index:
                pipe.zadd(index, {n: 0 for n in names})
            await pipe.execute()
        pipe = client.pipeline(transaction=False)
        for i in range(20):  # a few busy rooms
            name = f"busy{i:02d}"
            pipe.sadd(keys.ROOMS, name)
            pipe.sadd(keys.members(room_id(name)), *(f"member{j}" for j in range(5 + i)))
            if index:
                pipe.zadd(index, {name: 5 + i})
        await pipe.execute()
    finally:
        await client.aclose()


async def client_for(server: ChatServer, name: str, register: bool) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port)
    await client.connect()
    if register:
        await client.register(name, PASSWORD)
    await client.login(name, PASSWORD)
    return client


async def measure(rooms: int, requests: int, burst: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedRedis(Path(tmp))
        url = await embedded.start()
        settings = Settings(
            port=0,
            data_dir=Path(tmp),
            log_level="WARNING",
            stats_interval=0,
            registrations_per_address=1000,
            **CHEAP_ARGON2,
        )
        server = ChatServer(settings, url)
        await server.start()
        try:
            await fill(url, rooms)
            asker = await client_for(server, "asker", True)
            bystander = await client_for(server, "bystander", True)
            reply = await asker.request("rooms")  # warm-up
            listed = len(reply["rooms"])
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                await asker.request("rooms")
                times.append(time.perf_counter() - t0)
            others = [await client_for(server, f"asker{i}", True) for i in range(burst)]
            t0 = time.perf_counter()
            flood = asyncio.gather(*(c.request("rooms") for c in others))
            pings = []
            while not flood.done():  # the bystander pings throughout the burst
                p0 = time.perf_counter()
                await bystander.ping()
                pings.append(time.perf_counter() - p0)
            await flood
            burst_s = time.perf_counter() - t0
            for c in (asker, bystander, *others):
                await c.close()
        finally:
            await server.stop()
            await embedded.stop()
    return {
        "rooms": rooms,
        "listed": listed,
        "more": reply.get("more"),
        "rooms_request_ms_median": round(statistics.median(times) * 1000, 2),
        "rooms_request_ms_max": round(max(times) * 1000, 2),
        "burst": burst,
        "burst_s": round(burst_s, 3),
        "bystander_pings": len(pings),
        "bystander_ping_ms_max": round(max(pings) * 1000, 1),
        "bystander_ping_ms_median": round(statistics.median(pings) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rooms_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.rooms, args.requests, args.burst))))


if __name__ == "__main__":
    main()
