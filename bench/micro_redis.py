"""Micro-benchmark: what one message's Redis write costs the server process,
done three ways, in a private embedded Redis.

- `pipeline`: what chinwag.server.store does today: one redis-py pipeline per
  batch, one EVALSHA of the server's own SEND script per message;
- `raw`: the same EVALSHAs, packed into RESP bytes by a few lines of code and
  written on one pooled connection, replies read with the same parser;
- `one_script`: one EVALSHA per batch, a script looping over the batch's
  messages (the SEND logic per message, same keys and writes).

It reports the bench process's CPU microseconds per message (what the server
would spend) and Redis's. Client CPU is the figure to compare: the server is
one Python thread, and this is roughly a third of its work per DM.

    python -m bench.micro_redis [--batch 200] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from chinwag.server import scripts
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.store import connect_redis

from .clients import install_uvloop
from .machine import cpu_seconds

# The SEND script's logic, looped over a batch: KEYS are (stream, cmid key)
# per message; ARGV are (sender, text, cmid) per message, then maxlen, ttl.
SEND_MANY = """
local n = #KEYS / 2
local maxlen, ttl = ARGV[#ARGV - 1], ARGV[#ARGV]
local out = {}
for i = 1, n do
  local stream, cmkey = KEYS[2 * i - 1], KEYS[2 * i]
  local sender, text, cmid = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local prev = redis.call('GET', cmkey)
  if prev then
    out[i] = {prev, 1}
  else
    local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'f', sender, 't', text, 'c', cmid)
    redis.call('SET', cmkey, id, 'EX', ttl)
    out[i] = {id, 0}
  end
end
return out
"""

TEXT = "1234567890123 " + "x" * 50


def _resp(*args: str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


async def measure(url: str, redis_pid: int, batch: int, rounds: int) -> dict[str, Any]:
    client = connect_redis(url)
    sha = await client.script_load(scripts.SEND)
    sha_many = await client.script_load(SEND_MANY)
    seq = 0

    def message(i: int) -> tuple[str, str, str]:
        nonlocal seq
        seq += 1
        pair = i % 400
        return f"bench:s:{pair}", f"bench:c:{seq}", f"m{seq}"

    async def pipeline_round() -> None:
        pipe = client.pipeline(transaction=False)
        for i in range(batch):
            stream, cmkey, cmid = message(i)
            pipe.evalsha(sha, 2, stream, cmkey, "alice", TEXT, 100_000, 86_400, "1", "0", cmid)
        await pipe.execute(raise_on_error=False)

    async def raw_round() -> None:
        chunks = []
        for i in range(batch):
            stream, cmkey, cmid = message(i)
            chunks.append(_resp("EVALSHA", sha, 2, stream, cmkey, "alice", TEXT, 100_000, 86_400, "1", "0", cmid))
        conn = await client.connection_pool.get_connection()
        try:
            await conn.send_packed_command(b"".join(chunks), check_health=False)
            for _ in range(batch):
                await conn.read_response()
        finally:
            await client.connection_pool.release(conn)

    async def one_script_round() -> None:
        keys: list[str] = []
        argv: list[str | int] = []
        for i in range(batch):
            stream, cmkey, cmid = message(i)
            keys += (stream, cmkey)
            argv += ("alice", TEXT, cmid)
        await client.evalsha(sha_many, len(keys), *keys, *argv, 100_000, 86_400)

    out: dict[str, Any] = {"workload": "micro_redis", "batch": batch, "rounds": rounds}
    for name, fn in (("pipeline", pipeline_round), ("raw", raw_round), ("one_script", one_script_round)):
        for _ in range(5):
            await fn()  # warm
        c0, r0, t0 = time.process_time(), cpu_seconds(redis_pid), time.perf_counter()
        for _ in range(rounds):
            await fn()
        c1, r1, t1 = time.process_time(), cpu_seconds(redis_pid), time.perf_counter()
        n = batch * rounds
        out[name] = {
            "client_cpu_us_per_msg": round((c1 - c0) / n * 1e6, 2),
            "redis_cpu_us_per_msg": round((r1 - r0) / n * 1e6, 2),
            "wall_us_per_msg": round((t1 - t0) / n * 1e6, 2),
        }
    await client.aclose()
    return out


async def main_async(batch: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cw-micro-") as tmp:
        redis = EmbeddedRedis(Path(tmp))
        url = await redis.start()
        try:
            assert redis.process is not None
            pid = redis.process.pid
            return await measure(url, pid, batch, rounds)
        finally:
            await redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro_redis", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    install_uvloop()
    print(json.dumps(asyncio.run(main_async(args.batch, min(args.rounds, 10_000)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
