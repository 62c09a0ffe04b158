"""What each Redis call of a send costs Redis: the server's own SEND_MANY
script (chinwag.server.scripts), and copies of it with one call taken out,
run on the same batches in a private embedded Redis (chinwag's
configuration: AOF, `appendfsync everysec`, unix socket).

Each variant's Redis CPU per message, less the real script's, is what that
call costs; `noop` (a script that returns at once) is what the call itself,
its keys and arguments cost, and `floor` (one XADD per message, the text in
the entry) is bench/floor_relay.py's store. Variants run interleaved,
`--reps` times each on an emptied Redis, and the median is reported.

A variant whose call is no longer in the script stops the bench (the
script changed: the variant must follow it).

Then the shape of a script's reply: the same values per message as one
nested array each, or flat in one array (what SEND_MANY answers), with the
write(2) calls Redis makes per call, counted by the kernel.

    python -m bench.send_cost [--batch 1,8,64] [--messages 30000] [--convs 800] [--redis-server PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from chinwag.protocol.limits import CMID_TTL_S
from chinwag.server import keys, scripts
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.resp import RespConnection

from .clients import install_uvloop
from .machine import cpu_seconds_fine, io_syscalls

TEXT = "1234567890123 " + "x" * 50  # the bench's 64-character texts
KEEP = 100_000  # the server's default history per conversation
TRIM_EVERY = 64  # a send checks the length one time in 64 (store.py)

# (variant, the call as the script has it, what replaces it)
WITHOUT: list[tuple[str, str, str]] = [
    ("no cmid GET", "local prev = redis.call('GET', cmkey)", "local prev = nil"),
    ("no predecessor XREVRANGE", "local e = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]", "local e = nil"),
    ("no cmid SET", "redis.call('SET', cmkey, conv .. ' ' .. id, 'EX', ttl)", ""),
    (
        "cmid SET without its TTL",
        "redis.call('SET', cmkey, conv .. ' ' .. id, 'EX', ttl)",
        "redis.call('SET', cmkey, conv .. ' ' .. id)",
    ),
    ("no text HSET", "redis.call('HSET', texts, id, text)", ""),
]
FLOOR = (
    "for i = 1, #KEYS / 5 do redis.call('XADD', KEYS[5 * i - 4], '*', 'f', ARGV[10 * i - 9], 't', ARGV[10 * i - 8]) end"
    " return 0"
)


def variants() -> dict[str, str]:
    real = scripts.SEND_MANY
    out = {"real": real}
    for name, call, replacement in WITHOUT:
        if call not in real:
            raise SystemExit(f"python -m bench.send_cost: SEND_MANY no longer has {call!r}; update WITHOUT")
        out[name] = real.replace(call, replacement)
    out["noop"] = "return {}"
    out["floor"] = FLOOR
    return out


class Batches:
    """SEND_MANY calls as the store makes them: direct conversations between
    `convs` pairs, a fresh cmid per message, one send in 64 checking the length."""

    def __init__(self, convs: int, seed: int = 1) -> None:
        self.convs = convs
        self.rnd = random.Random(seed)
        self.seq = 0

    def command(self, sha: str, batch: int) -> list[Any]:
        keys_: list[str] = []
        args: list[Any] = []
        for _ in range(batch):
            self.seq += 1
            pair = self.rnd.randrange(self.convs)
            sender, cid = f"u{pair}", f"d:u{pair}:v{pair}"
            record = keys.cmid(sender, f"c{self.seq}")
            keys_ += [keys.stream(cid), keys.texts(cid), keys.states(cid), record, ""]
            trim = KEEP + 64 if self.rnd.randrange(TRIM_EVERY) == 0 else ""
            args += [sender, TEXT, KEEP, trim, CMID_TTL_S, "1", "0", f"c{self.seq}", cid, ""]
        return ["EVALSHA", sha, len(keys_), *keys_, *args]


async def measure(url: str, pid: int, batch: int, messages: int, convs: int, reps: int) -> dict[str, float]:
    redis = RespConnection(url, timeout=30)
    shas: dict[str, str] = {}
    for name, source in variants().items():
        (sha,) = await redis.execute([["SCRIPT", "LOAD", source]])
        shas[name] = sha.decode() if isinstance(sha, bytes) else str(sha)
    calls = max(1, messages // batch)
    spent: dict[str, list[float]] = {name: [] for name in shas}
    batches = Batches(convs)
    try:
        for _ in range(reps):
            for name, sha in shas.items():
                await redis.execute([["FLUSHALL"]])
                for _ in range(calls // 4):  # warm: the conversations exist, as in a running server
                    await redis.execute([batches.command(sha, batch)])
                before = cpu_seconds_fine(pid)
                for _ in range(calls):
                    (reply,) = await redis.execute([batches.command(sha, batch)])
                    if isinstance(reply, Exception):
                        raise SystemExit(f"python -m bench.send_cost: {name}: {reply}")
                spent[name].append((cpu_seconds_fine(pid) - before) / (calls * batch) * 1e6)
    finally:
        redis.close()
    return {name: round(statistics.median(v), 2) for name, v in spent.items()}


# The same four values per message, as SEND_MANY's reply holds them.
NESTED = (
    "local out = {} for i = 1, tonumber(ARGV[1]) do"
    " out[i] = {'1700000000000-0', 1, 'd:alice:bob', '1699999999999-0'} end return out"
)
FLAT = (
    "local out = {} for i = 1, tonumber(ARGV[1]) do local k = 4 * i"
    " out[k - 3], out[k - 2], out[k - 1], out[k] = '1700000000000-0', 1, 'd:alice:bob', '1699999999999-0'"
    " end return out"
)


async def reply_shapes(url: str, pid: int, batch: int, calls: int = 2000) -> dict[str, Any]:
    redis = RespConnection(url, timeout=30)
    out: dict[str, Any] = {"workload": "send_cost_reply", "batch": batch}
    try:
        for name, source in (("nested", NESTED), ("flat", FLAT)):
            (sha,) = await redis.execute([["SCRIPT", "LOAD", source]])
            writes, cpu = io_syscalls(pid)[1], cpu_seconds_fine(pid)
            for _ in range(calls):
                await redis.execute([["EVALSHA", sha, 0, batch]])
            out[name] = {
                "redis_writes_per_call": round((io_syscalls(pid)[1] - writes) / calls, 2),
                "redis_cpu_us_per_call": round((cpu_seconds_fine(pid) - cpu) / calls * 1e6, 1),
            }
    finally:
        redis.close()
    return out


async def _version(url: str) -> str:
    redis = RespConnection(url)
    try:
        (info,) = await redis.execute([["INFO", "all"]])
    finally:
        redis.close()
    text = info.decode() if isinstance(info, bytes) else str(info)
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return f"{fields.get('redis_version', '?')} ({fields.get('mem_allocator', '?')})"


async def run(
    batches: list[int], messages: int, convs: int, reps: int, binary: str | None = None
) -> list[dict[str, Any]]:
    out = []
    with tempfile.TemporaryDirectory(prefix="cw-send-cost-") as tmp:
        embedded = EmbeddedRedis(Path(tmp), binary=binary)
        url = await embedded.start()
        try:
            assert embedded.process is not None
            version = await _version(url)
            for batch in batches:
                cost = await measure(url, embedded.process.pid, batch, messages, convs, reps)
                real = cost["real"]
                out.append(
                    {
                        "workload": "send_cost",
                        "redis_version": version,
                        "batch": batch,
                        "convs": convs,
                        "messages": messages,
                        "redis_cpu_us_per_msg": cost,
                        "saved_us_per_msg": {n: round(real - v, 2) for n, v in cost.items() if n != "real"},
                    }
                )
            for batch in batches:
                out.append({"redis_version": version, **await reply_shapes(url, embedded.process.pid, batch)})
        finally:
            await embedded.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.send_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", default="1,8,64", help="messages per SEND_MANY call, comma-separated")
    parser.add_argument("--messages", type=int, default=30_000, help="measured messages per variant and rep")
    parser.add_argument("--convs", type=int, default=800, help="conversations the messages go to")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--redis-server", metavar="PATH", help="this redis-server binary instead of the embedded one")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batch.split(",") if b.strip()]
    if not batches or min(batches) < 1 or args.messages < 1 or args.convs < 1 or args.reps < 1:
        parser.error("--batch, --messages, --convs and --reps must be positive")
    install_uvloop()
    for line in asyncio.run(run(batches, args.messages, args.convs, args.reps, args.redis_server)):
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
