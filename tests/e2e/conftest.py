"""Fixtures that run the real `chinwag-server` console script as a child
process (see tests/support/processes.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chinwag.server.process import ServerProcess

from ..support.processes import console_server, pid_alive


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Any]:
    """Start chinwag-server children (`await spawn(data_dir, env=...)`); any
    still running are killed at the end, and so is a redis-server one left."""
    started: list[ServerProcess] = []

    async def factory(data_dir: Path | None = None, **kwargs: Any) -> ServerProcess:
        proc = console_server(data_dir or tmp_path / "data", **kwargs)
        started.append(proc)
        return await proc.start_async()

    yield factory
    for proc in started:
        if proc.running:
            proc.kill()
        pid = proc.redis_pid()
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
