"""A Redis of the test's own, for tests that stop (SIGSTOP) or kill it, so
the session-wide Redis the rest of the suite shares is never touched."""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from chinwag.server.embedded_redis import EmbeddedRedis


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
