"""A Redis of the test's own, for tests that stop (SIGSTOP) or kill it, so
the session-wide Redis the rest of the suite shares is never touched; and a
message stored the way a node that died before announcing it left it."""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.statuses import SendResult
from chinwag.server.store import Store


@contextlib.asynccontextmanager
async def own_redis(prefix: str) -> AsyncIterator[EmbeddedRedis]:
    """Start an embedded Redis in a fresh directory; at the end resume it if a
    test left it stopped, stop it and remove its directory."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    redis = EmbeddedRedis(data_dir)
    await redis.start()
    try:
        yield redis
    finally:
        if redis.process is not None and redis.process.poll() is None:
            redis.process.send_signal(signal.SIGCONT)
        await redis.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def store_unannounced(url: str, to: str, sender: str, text: str) -> SendResult:
    """What a node that died between its write and its announcement did: the
    message stored in Redis, and nothing published or delivered."""
    store = Store(url)
    await store.start()
    try:
        return await store.send(to, sender, text, None)
    finally:
        await store.close()
