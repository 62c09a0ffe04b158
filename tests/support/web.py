"""`chinwag web` as a child process, on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from .waits import eventually

# What the `chinwag` console script runs, from this checkout (the script is
# the installed one's, wherever that was installed from).
CHINWAG = (sys.executable, "-m", "chinwag.cli")
SERVING = re.compile(rb"serving the chinwag client on (\S+)")
START_TIMEOUT_S = 15.0


@dataclass
class WebProcess:
    proc: asyncio.subprocess.Process
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


async def start_web(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> WebProcess:
    """`chinwag web --port 0 ARGS` on loopback (`env` added to ours); returns
    once it prints its address."""
    proc = await asyncio.create_subprocess_exec(
        *CHINWAG,
        "web",
        "--port",
        "0",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its session clients too, so stop() can end them all
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
    except TimeoutError:
        line = b""
    match = SERVING.search(line)
    if match is None:
        await stop_web(proc)
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"chinwag web did not start: {line!r} {err.decode(errors='replace')!r}")
    return WebProcess(proc, match.group(1).decode())


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def stop_web(proc: asyncio.subprocess.Process, timeout: float = 10.0) -> int:
    """SIGTERM (its graceful stop: each session's client is told to quit, and
    ends a moment later), a wait for its whole process group to be gone, then
    SIGKILL to whatever is left of it; its exit status."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout)
    await eventually(lambda: not group_alive(proc.pid), timeout)
    with contextlib.suppress(ProcessLookupError):  # a session's client that never quit
        os.killpg(proc.pid, signal.SIGKILL)
    return await proc.wait()
