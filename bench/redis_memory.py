"""Redis memory per user and per stored message, for capacity planning.

Creates users and messages through the server's own Store (the same keys and
scripts as production) in a private embedded Redis and reads `used_memory`
before and after. Prints one JSON line.

    python -m bench.redis_memory --users 10000 --messages 100000 --dm-conversations 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from pathlib import Path

from argon2 import PasswordHasher

from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.store import Store


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
            pairs = set()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--dm-conversations", type=int, default=10_000)
    parser.add_argument("--text", type=int, default=60, help="characters per message")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.users, args.messages, args.dm_conversations, args.text))))


if __name__ == "__main__":
    main()
