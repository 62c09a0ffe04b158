"""The servers under test: `BenchServer`, one `chinwag-server` process (the
one `ServerProcess`) with its embedded Redis in a temporary data directory,
and `Deployment`, one Redis and N server nodes sharing it. Both report the
CPU time and memory of the server and its Redis, the warnings they logged,
and can be recorded with py-spy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.process import FAST_ARGON2, ServerProcess, flags

from .machine import cpu_seconds, rss_kib, run_delay_seconds

# The server of a fault run (chaos, Redis kills): quiet logs, a send rate no
# client of the run reaches, argon2 at the test suite's cost.
FAULT_RUN_ARGS = [
    "--log-level",
    "WARNING",
    "--send-rate",
    "10000",
    "--send-burst",
    "10000",
    *flags(FAST_ARGON2),
]
# Limits raised so that the server's protections against abuse (per-connection
# send rate, per-address connection cap, registrations, logins and resumes per
# address and user, the password-hashing queue) do not
# stand between the load generator and the code paths under test. The send
# path, storage and fan-out are exactly what a user gets.
RAISED_LIMITS: dict[str, object] = {
    "send_rate": "1e9",
    "send_burst": 1_000_000_000,
    "max_connections_per_address": 100_000,
    "outgoing_limit": 64 * 1024 * 1024,
    "registrations_per_address": 100_000_000,
    "login_failures_per_address": 100_000_000,
    "logins_per_address": 100_000_000,
    "logins_per_user": 100_000_000,
    "resumes_per_address": 100_000_000,
    "resumes_per_user": 100_000_000,
    "verify_queue": 100_000,
    "preauth_timeout": 300,
}

# Argon2id at a trivial cost, for workloads that only need accounts to exist
# (dm, room, and minting the resume tokens of `connect`). The password-login
# measurement always runs a server at its default argon2 parameters.
CHEAP_ARGON2: dict[str, int] = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}

# Set by `--profile DIR`: every measured window also records the server with
# py-spy into DIR/<label>.txt (collapsed stacks; see bench/profile.py).
PROFILE_DIR: Path | None = None

Recorder = subprocess.Popen[bytes] | None


def record(pid: int, label: str) -> Recorder:
    """Start `py-spy record` on `pid` if profiling was asked for."""
    if PROFILE_DIR is None:
        return None
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [py_spy, "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(PROFILE_DIR / f"{label}.txt")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_recording(recorder: Recorder) -> None:
    if recorder is None:
        return
    recorder.send_signal(signal.SIGINT)  # py-spy writes its file and exits
    try:
        recorder.wait(30)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait(5)


class BenchServer(ServerProcess):
    """`python -m chinwag.server` on a loopback port the server picks, its
    abuse limits raised (RAISED_LIMITS), with an embedded Redis in a
    temporary data directory that `stop()` removes (or, with `redis_url`
    in its settings, using that Redis: see `Deployment`). Killed by the
    kernel if the bench dies."""

    def __init__(self, settings: Mapping[str, object] | None = None, data_dir: Path | None = None) -> None:
        self.own_dir = data_dir is None
        super().__init__(
            data_dir or Path(tempfile.mkdtemp(prefix="cw-bench-")),
            port=0,
            settings={**RAISED_LIMITS, **(settings or {})},
            die_with_parent=True,
        )

    def start(self, timeout: float = 30.0) -> BenchServer:
        super().start(timeout)
        return self

    def cpu(self) -> dict[str, float]:
        redis_pid = self.redis_pid()
        return {"server": cpu_seconds(self.pid), "redis": cpu_seconds(redis_pid) if redis_pid else 0.0}

    def rss(self) -> dict[str, int]:
        redis_pid = self.redis_pid()
        return {"server": rss_kib(self.pid), "redis": rss_kib(redis_pid) if redis_pid else 0}

    def run_delay(self) -> float:
        return run_delay_seconds(self.pid)

    def profile_start(self, label: str) -> Recorder:
        return record(self.pid, label) if self.running else None

    @staticmethod
    def profile_stop(recorder: Recorder) -> None:
        stop_recording(recorder)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0, keep_dir: bool = False) -> int:
        status = super().stop(sig, timeout)
        if self.own_dir and not keep_dir and not os.environ.get("CHINWAG_BENCH_KEEP"):
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return status

    def __enter__(self) -> BenchServer:
        return self.start()


class Deployment:
    """One Redis and `nodes` chinwag-server processes that all use it through
    `--redis-url`, as an operator scales out: the nodes share nothing but that
    Redis (its streams, and one pub/sub channel for live fan-out).

    The Redis is an `EmbeddedRedis` (the binary and configuration the server's
    embedded default uses: AOF, `appendfsync everysec`, unix socket) in a
    temporary directory of its own, started by the bench rather than by a
    server, so its CPU and command counters belong to no one node. With
    `nodes=1` this is the single-node set-up with the Redis started outside
    the server; the server runs the same code either way."""

    def __init__(self, nodes: int = 1, settings: Mapping[str, object] | None = None) -> None:
        self.count = nodes
        self.settings = dict(settings or {})
        self.redis_dir = Path(tempfile.mkdtemp(prefix="cw-bench-redis-"))
        self.redis = EmbeddedRedis(self.redis_dir)
        self.url = ""
        self.redis_pid = 0
        self.nodes: list[BenchServer] = []
        self._stats: redis.Redis | None = None

    def start(self) -> Deployment:
        try:
            self.url = asyncio.run(self.redis.start())
            assert self.redis.process is not None
            self.redis_pid = self.redis.process.pid
            for i in range(self.count):
                node = BenchServer({**self.settings, "redis_url": self.url, "node_id": f"bench-node{i}"})
                self.nodes.append(node)
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes]

    def cpu(self) -> dict[str, Any]:
        nodes = [cpu_seconds(pid) for pid in self.pids]
        return {"server": sum(nodes), "redis": cpu_seconds(self.redis_pid), "nodes": nodes}

    def rss(self) -> dict[str, Any]:
        nodes = [rss_kib(pid) for pid in self.pids]
        return {"server": sum(nodes), "redis": rss_kib(self.redis_pid), "nodes": nodes}

    def run_delays(self) -> list[float]:
        return [run_delay_seconds(pid) for pid in self.pids]

    def errors_logged(self) -> list[str]:
        return [line for n in self.nodes for line in n.errors_logged()]

    def commandstats(self) -> dict[str, tuple[int, int]]:
        """(calls, microseconds) per command since Redis started (`INFO commandstats`)."""
        if self._stats is None:
            self._stats = redis.Redis.from_url(self.url, protocol=2, socket_timeout=5, socket_connect_timeout=2)
        info = self._stats.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): (int(v["calls"]), int(v.get("usec", 0)))
            for name, v in info.items()
            if isinstance(v, dict) and "calls" in v
        }

    def profile_start(self, label: str) -> list[Recorder]:
        suffix = len(self.nodes) > 1
        return [n.profile_start(f"{label}-node{i}" if suffix else label) for i, n in enumerate(self.nodes)]

    @staticmethod
    def profile_stop(recorders: list[Recorder] | None) -> None:
        for recorder in recorders or []:
            stop_recording(recorder)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self._stats is not None:
            with contextlib.suppress(Exception):
                self._stats.close()
            self._stats = None
        with contextlib.suppress(Exception):
            asyncio.run(self.redis.stop())
        if not os.environ.get("CHINWAG_BENCH_KEEP"):
            shutil.rmtree(self.redis_dir, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
