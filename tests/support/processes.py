"""The real `chinwag-server` console script as a child process: started as
a `ServerProcess`, or run to completion for its command-line behaviour."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from chinwag.server.process import FAST_ARGON2, ServerProcess, flags

SERVER = str(Path(sys.executable).with_name("chinwag-server"))
# The installed console script; `python -m chinwag.admin` (the same main) where
# the package was installed before it had one.
_ADMIN_SCRIPT = Path(sys.executable).with_name("chinwag-admin")
ADMIN = [str(_ADMIN_SCRIPT)] if _ADMIN_SCRIPT.exists() else [sys.executable, "-m", "chinwag.admin"]
FAST_ARGON2_FLAGS = flags(FAST_ARGON2)


def console_server(
    data_dir: Path, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> ServerProcess:
    """The installed `chinwag-server` on `data_dir` (its embedded Redis
    there), argon2id at FAST_ARGON2, logging at WARNING."""
    return ServerProcess(data_dir, command=[SERVER], settings=FAST_ARGON2, extra_args=extra_args, env=env)


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


async def run_cli(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run chinwag-server to completion; (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        SERVER,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"chinwag-server {' '.join(args)} still running after {timeout} s: {out.decode()!r} {err.decode()!r}"
        ) from None
    return int(proc.returncode or 0), out.decode(), err.decode()


async def run_admin(*args: str, stdin: str | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
    """Run chinwag-admin to completion, `stdin` fed to it; (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *ADMIN,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"chinwag-admin {' '.join(args)} still running after {timeout} s: {err.decode()!r}"
        ) from None
    return int(proc.returncode or 0), out.decode(), err.decode()
