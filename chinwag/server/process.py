"""Run `chinwag-server` as a child process and know when it is ready.

The one way the tests, the benchmarks and the chaos harness start a real
server they can SIGTERM, SIGKILL and restart on the same data directory and
port. Readiness is the server's own "listening on" line (printed once its
signal handlers are in place), so whoever waits for it may signal at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .embedded_redis import recorded_pid

HOST = "127.0.0.1"
READY = "listening on"

# argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane): still the real
# hash, but quick enough for a test suite or a harness that registers many
# users. As Settings fields; `flags()` turns them into command-line flags.
FAST_ARGON2: dict[str, int] = {"argon2_time_cost": 2, "argon2_memory_kib": 19_456, "argon2_parallelism": 1}


def free_port() -> int:
    """A loopback port that was free a moment ago (chosen up front, so a
    restart can listen on the same one)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def flags(settings: Mapping[str, object]) -> list[str]:
    """Settings fields as `chinwag-server` flags: `{"send_rate": 5}` ->
    `["--send-rate", "5"]` (cli.py derives one flag per field this way)."""
    out: list[str] = []
    for name, value in settings.items():
        out += ["--" + name.replace("_", "-"), str(value)]
    return out


def _die_with_parent() -> None:  # between fork and exec of the server
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerProcess:
    """One `chinwag-server` child on `HOST`.

    `port=None` picks a free port once, kept across restarts; `port=0` lets
    the server choose at every start (read back from its "listening" line).
    `settings` are Settings fields passed as flags, `extra_args` further raw
    flags (later ones win). stdout and stderr both go to `log_path` (default
    `<data_dir>/server.log`), appended across restarts; `output()` is what
    the current run wrote. `command` replaces `python -m chinwag.server`
    (the e2e tests run the installed console script). `die_with_parent`
    makes the kernel SIGTERM the server if this process dies (the bench's
    choice: no orphans after a Ctrl-C); only for servers started from the
    main thread, as the signal follows the thread that forked.

    The blocking methods suit the bench and the chaos harness; the `*_async`
    ones run them in a thread, for tests whose event loop must keep going.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        settings: Mapping[str, object] | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
        log_level: str | None = "WARNING",
        log_path: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.fixed_port = port is None or port != 0
        self.port = free_port() if port is None else port
        self.settings = dict(settings or {})
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.command = list(command or [sys.executable, "-m", "chinwag.server"])
        self.log_level = log_level
        self.log_path = log_path or data_dir / "server.log"
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # --- state ---------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def args(self) -> list[str]:
        level = ["--log-level", self.log_level] if self.log_level else []
        return [
            *self.command,
            "--host",
            HOST,
            "--port",
            str(self.port if self.fixed_port else 0),
            "--data-dir",
            str(self.data_dir),
            *level,
            *flags(self.settings),
            *self.extra_args,
        ]

    def redis_pid(self) -> int | None:
        """The embedded redis-server's pid (it changes when the server
        restarts it), or None with an external Redis or none running."""
        return recorded_pid(self.data_dir)

    def output(self) -> str:
        """What the current (or last) run wrote to stdout and stderr."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:]) or "(nothing logged)"

    def errors_logged(self) -> list[str]:
        """Lines of the current run at WARNING or above."""
        return [line for line in self.output().splitlines() if " WARNING " in line or " ERROR " in line]

    # --- blocking control ------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start and return once the server says it is listening."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if READY in line:
                    self.port = int(line.split(READY, 1)[1].split()[0].rsplit(":", 1)[1])
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"chinwag-server exited with {self.process.returncode} at start:\n{self.log_tail()}")
            time.sleep(0.02)
        tail = self.log_tail()
        self.kill()
        raise RuntimeError(f"chinwag-server did not say '{READY}' within {timeout:.0f} s:\n{tail}")

    def wait(self, timeout: float) -> int:
        """The exit status, once the server exits by itself (TimeoutError if it
        does not within `timeout` s)."""
        assert self.process is not None, "not started"
        try:
            return int(self.process.wait(timeout))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"chinwag-server still running after {timeout} s") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and return the exit status; a server still running
        after `timeout` s is SIGKILLed (its status then says so: -9)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def kill(self) -> int:
        """SIGKILL: no shutdown at all, as in a crash."""
        return self.stop(signal.SIGKILL)

    # --- the same, without blocking an event loop ----------------------------------------

    async def start_async(self, timeout: float = 30.0) -> ServerProcess:
        return await asyncio.to_thread(self.start, timeout)

    async def wait_async(self, timeout: float) -> int:
        return await asyncio.to_thread(self.wait, timeout)

    async def stop_async(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        return await asyncio.to_thread(self.stop, sig, timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
