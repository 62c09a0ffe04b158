"""Redis memory per user and per stored message, for capacity planning.

Two modes, each printing JSON lines:

- the default creates users and messages through the server's own Store (the
  same keys and scripts as production) in a private embedded Redis and reads
  `used_memory` before and after; one line:

    python -m bench.redis_memory --users 10000 --messages 100000 --dm-conversations 10000

- with `--conversations`, the cost of a stored message through the real send
  path: a `chinwag-server` (the bench's `Deployment`: one Redis, one node) and
  one logged-in `ChatClient` sending `--messages` messages of `--text`
  characters, each with a fresh cmid as the reconnecting client sends them,
  round-robin over that many direct conversations (one recipient each, never
  logged in). Every conversation already holds one message, so what is
  measured is messages, not new conversations. `used_memory` is read when
  Redis is quiet (no AOF rewrite, every reply and ack in), before and after;
  `MEMORY USAGE` of every key, grouped by the key's prefix (`c` streams, `cm`
  cmid records, ...), says where the bytes went. One line per count:

    python -m bench.redis_memory --messages 100000 --text 40 --conversations 100,1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis as redis_sync
from argon2 import PasswordHasher

from chinwag.protocol.errors import ConnectionClosed
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.settings import Settings
from chinwag.server.store import Store

from .clients import BenchClient, install_uvloop, login_client, register_users
from .servers import CHEAP_ARGON2, Deployment


async def measure(users: int, messages: int, dm_convs: int, text_len: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="chinwag-mem-") as tmp:
        redis = EmbeddedRedis(Path(tmp))
        url = await redis.start()
        store = Store(url)
        try:
            await store.start()
            pw_hash = PasswordHasher().hash("a password of some length")
            base = int((await store.redis.info("memory"))["used_memory"])
            names = [f"user{i:06d}" for i in range(users)]
            for chunk in range(0, users, 500):
                await asyncio.gather(*(store.create_user(n, n.title(), pw_hash) for n in names[chunk : chunk + 500]))
            after_users = int((await store.redis.info("memory"))["used_memory"])
            text = "x" * text_len
            for chunk in range(0, messages, 1000):
                await asyncio.gather(
                    *(
                        store.send("#lobby", names[i % users], text, f"cm{i}")
                        for i in range(chunk, min(messages, chunk + 1000))
                    )
                )
            after_messages = int((await store.redis.info("memory"))["used_memory"])
            rng = random.Random(1)
            pairs: set[tuple[str, str]] = set()
            while len(pairs) < dm_convs:
                a, b = sorted(rng.sample(names, 2))
                pairs.add((a, b))
            pair_list = sorted(pairs)
            for chunk in range(0, len(pair_list), 1000):
                futures = []
                for a, b in pair_list[chunk : chunk + 1000]:
                    await store.add_dm(a, b, f"@{a}:{b}")
                    futures.append(store.send(f"@{a}:{b}", a, text, f"dm-{a}-{b}"))
                await asyncio.gather(*futures)
            after_dms = int((await store.redis.info("memory"))["used_memory"])
        finally:
            await store.close()
            await redis.stop()
    return {
        "workload": "redis_memory",
        "users": users,
        "messages": messages,
        "text_chars": text_len,
        "bytes_per_user": round((after_users - base) / users),
        "bytes_per_message": round((after_messages - after_users) / messages),
        "bytes_per_new_dm_conversation": round((after_dms - after_messages) / dm_convs),
        "note": "per message: one stream entry in an existing conversation plus its 24 h cmid "
        "record; a new DM conversation: its stream, one message, and both users' sets",
    }


# --- per message, through the real send path -----------------------------------------

SENDER = "sender"
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "we", "chat"]
QUIET_TIMEOUT = 60.0
SETTLE_S = 2.5  # Redis trims idle clients' buffers in its clientsCron, about once a second per client


def message_text(i: int, length: int) -> str:
    """Text of exactly `length` characters, different for every message (as
    real ones are; Redis stores each as it comes, uncompressed)."""
    out = f"{i} "
    w = i
    while len(out) < length:
        out += WORDS[w % len(WORDS)] + " "
        w += 7
    return out[:length]


def key_group(key: str) -> str:
    """A key's kind: its prefix before the first ':' (keys.py names them so:
    `c:{conv}` a stream, `cm:{user}:cmid` a cmid record, `u:{user}` ...)."""
    return key.split(":", 1)[0]


def snapshot(r: redis_sync.Redis) -> dict[str, Any]:
    """`used_memory` and where it is, once no AOF rewrite or save is running
    (their buffers would count as data)."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        persistence = r.info("persistence")
        if not persistence.get("aof_rewrite_in_progress") and not persistence.get("rdb_bgsave_in_progress"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("Redis kept rewriting its AOF")
        time.sleep(0.2)
    memory = r.info("memory")
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    batch: list[str] = []

    def flush() -> None:
        pipe = r.pipeline(transaction=False)
        for k in batch:
            pipe.memory_usage(k, samples=0)
        for k, used in zip(batch, pipe.execute(), strict=True):
            counts[key_group(k)] += 1
            sizes[key_group(k)] += int(used or 0)
        batch.clear()

    for key in r.scan_iter(count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()
    entries = sum(int(r.xlen(k)) for k in r.scan_iter(count=1000, _type="stream"))
    return {
        "used_memory": int(memory["used_memory"]),
        "clients": int(memory.get("mem_clients_normal", 0)),
        "aof_buffer": int(memory.get("mem_aof_buffer", 0)),
        "keys": counts,
        "key_bytes": sizes,
        "stream_entries": entries,
    }


async def _drain(client: BenchClient) -> None:
    """Take the echoes as they come, so the client acks them as a real one does."""
    try:
        while True:
            await client.next_batch(10_000)
    except ConnectionClosed:
        return


async def _send_all(
    client: BenchClient, peers: list[str], count: int, text_len: int, window: int, start: int
) -> list[str]:
    """`count` sends round-robin over `peers`, `window` in flight; the
    error codes of any refused."""
    sem = asyncio.Semaphore(window)
    errors: list[str] = []

    def done(future: asyncio.Future[dict[str, Any]]) -> None:
        sem.release()
        if not future.cancelled() and future.exception() is not None:
            errors.append(str(getattr(future.exception(), "code", future.exception())))

    futures = []
    for i in range(start, start + count):
        await sem.acquire()
        future = client.send_nowait("@" + peers[i % len(peers)], message_text(i, text_len), uuid.uuid4().hex)
        future.add_done_callback(done)
        futures.append(future)
    await asyncio.gather(*futures, return_exceptions=True)
    return errors


async def _quiet(client: BenchClient) -> None:
    """Every ack sent and handled (the server answers a ping after the acks
    before it), then time for Redis to settle."""
    await asyncio.sleep(0.2)
    client.flush_acks()
    await client.ping()
    await asyncio.sleep(SETTLE_S)


def measure_sends(messages: int, conversations: int, text_len: int, window: int) -> dict[str, Any]:
    peers = [f"peer{i:05d}" for i in range(conversations)]
    deployment = Deployment(1, CHEAP_ARGON2).start()
    r = redis_sync.Redis.from_url(deployment.url, decode_responses=True, socket_timeout=30)
    try:
        port = deployment.ports[0]

        async def drive() -> dict[str, Any]:
            await register_users(port, [SENDER, *peers])
            client = await login_client(port, SENDER)
            drain = asyncio.create_task(_drain(client))
            try:
                warm_errors = await _send_all(client, peers, conversations, text_len, window, 0)
                if warm_errors:
                    raise RuntimeError(f"the first message of each conversation was refused: {Counter(warm_errors)}")
                await _quiet(client)
                before = snapshot(r)
                t0 = time.monotonic()
                errors = await _send_all(client, peers, messages, text_len, window, conversations)
                elapsed = time.monotonic() - t0
                if errors:  # a per-message figure over messages not stored would be wrong
                    raise RuntimeError(f"{len(errors)} of {messages} sends were refused: {Counter(errors)}")
                await _quiet(client)
                after = snapshot(r)
            finally:
                await client.close()
                drain.cancel()
            return {"before": before, "after": after, "send_s": elapsed}

        run = asyncio.run(drive())
    finally:
        r.close()
        deployment.stop()
    before, after = run["before"], run["after"]
    groups = sorted(set(before["keys"]) | set(after["keys"]))
    net = (after["used_memory"] - after["clients"] - after["aof_buffer"]) - (
        before["used_memory"] - before["clients"] - before["aof_buffer"]
    )
    return {
        "workload": "redis_memory_per_message",
        "path": "chinwag-server send (ChatClient over loopback TCP), one node, the bench's Redis",
        "messages": messages,
        "conversations": conversations,
        "kind": "dm",
        "text_chars": text_len,
        "cmid": "uuid4 hex (32 characters), as the reconnecting client sends",
        "bytes_per_message": round((after["used_memory"] - before["used_memory"]) / messages, 1),
        "bytes_per_message_net_of_buffers": round(net / messages, 1),
        "by_key_group_bytes_per_message": {
            g: round((after["key_bytes"].get(g, 0) - before["key_bytes"].get(g, 0)) / messages, 1)
            for g in groups
            if after["key_bytes"].get(g, 0) != before["key_bytes"].get(g, 0)
        },
        "new_keys_by_group": {
            g: after["keys"].get(g, 0) - before["keys"].get(g, 0)
            for g in groups
            if after["keys"].get(g, 0) != before["keys"].get(g, 0)
        },
        "used_memory_before": before["used_memory"],
        "used_memory_after": after["used_memory"],
        "redis_client_buffers": [before["clients"], after["clients"]],
        "stream_entries": [before["stream_entries"], after["stream_entries"]],
        "trimmed": after["stream_entries"] - before["stream_entries"] < messages,
        "history_maxlen": Settings().history_maxlen,  # the bench's server runs at the default
        "sends_per_s": round(messages / run["send_s"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--dm-conversations", type=int, default=10_000)
    parser.add_argument("--text", type=int, default=60, help="characters per message")
    parser.add_argument(
        "--conversations",
        help="per-message mode: send --messages through a real server over this many direct "
        "conversations; comma-separated for several runs, each on a fresh Redis (e.g. 100,1)",
    )
    parser.add_argument("--window", type=int, default=256, help="per-message mode: sends in flight (default 256)")
    args = parser.parse_args()
    if args.conversations:
        install_uvloop()
        for count in (int(c) for c in args.conversations.split(",") if c.strip()):
            if not 1 <= count <= 10_000 or args.messages < 1:
                parser.error("--conversations must be 1..10000 and --messages at least 1")
            print(json.dumps(measure_sends(args.messages, count, args.text, args.window)), flush=True)
        return
    print(json.dumps(asyncio.run(measure(args.users, args.messages, args.dm_conversations, args.text))))


if __name__ == "__main__":
    main()
