"""Run the real `chinwag-server` console script as a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chinwag.server.process import free_port

SERVER = str(Path(sys.executable).with_name("chinwag-server"))
# Real argon2id with OWASP's minimum cost, so the suite stays quick.
FAST_ARGON2 = ["--argon2-time-cost", "2", "--argon2-memory-kib", "19456", "--argon2-parallelism", "1"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


class ServerProcess:
    """One `chinwag-server` child; `start()` returns once it printed "listening"."""

    def __init__(self, data_dir: Path, port: int | None = None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra = extra or []
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.stdout: list[str] = []
        self.stderr = b""

    @property
    def args(self) -> list[str]:
        return [SERVER, "--port", str(self.port), "--data-dir", str(self.data_dir),
                "--log-level", "WARNING", *FAST_ARGON2, *self.extra]

    async def start(self, timeout: float = 20.0) -> None:
        env = {**os.environ, **(self.env or {})}
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"chinwag-server did not say 'listening' within {timeout} s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            if not line:
                await self.proc.wait()
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"chinwag-server exited with {self.proc.returncode}: {err.decode()}")
            self.stdout.append(line.decode())
            if "listening" in line.decode():
                return

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `sig` and wait for the exit status (fails after `timeout`)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            _, self.stderr = await asyncio.wait_for(self.proc.communicate(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"chinwag-server did not exit within {timeout} s of signal {sig}") from None
        return int(self.proc.returncode)

    def redis_pid(self) -> int | None:
        try:
            return int((self.data_dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Any]:
    """Start chinwag-server children; any still running are killed at the end."""
    started: list[ServerProcess] = []

    async def factory(data_dir: Path | None = None, **kwargs: Any) -> ServerProcess:
        proc = ServerProcess(data_dir or tmp_path / "data", **kwargs)
        await proc.start()
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        if proc.proc is not None and proc.proc.returncode is None:
            proc.proc.kill()
            await proc.proc.wait()
        pid = proc.redis_pid()
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


async def run_cli(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run chinwag-server to completion; (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        SERVER, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"chinwag-server {' '.join(args)} still running after {timeout} s: "
                             f"{out.decode()!r} {err.decode()!r}") from None
    return int(proc.returncode or 0), out.decode(), err.decode()
