"""One server process of the bench's other targets (ngIRCd, the floor
relay): on a loopback port, with its files in a temporary directory, and
what a measured window reads of it (`cpu`, `rss`, `run_delay`, `ports`,
`pids`). Subclasses start it and say which log lines are errors; one with a
Redis of its own adds that Redis's figures."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .machine import cpu_seconds, rss_kib, run_delay_seconds


class PeerProcess:
    LOG_NAME = "server.log"

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.redis_pid = 0  # 0: no Redis of its own

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ports(self) -> list[int]:
        return [self.port]

    @property
    def pids(self) -> list[int]:
        return [self.pid]

    @property
    def log_path(self) -> Path:
        return self.dir / self.LOG_NAME

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def cpu(self) -> dict[str, float]:
        return {"server": cpu_seconds(self.pid), "redis": cpu_seconds(self.redis_pid) if self.redis_pid else 0.0}

    def rss(self) -> dict[str, int]:
        return {"server": rss_kib(self.pid), "redis": rss_kib(self.redis_pid) if self.redis_pid else 0}

    def run_delay(self) -> float:
        return run_delay_seconds(self.pid)

    def _kill(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def _remove_dir(self) -> None:
        if not os.environ.get("CHINWAG_BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
