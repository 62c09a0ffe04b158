"""The load generator's machinery: a real `chinwag-server` subprocess with its
own embedded Redis in a temporary data directory (or `Deployment`: one Redis
and N server nodes sharing it), worker processes that drive real
`ChatClient`s, /proc readings of CPU time and memory, and Redis's own
command counters (`INFO commandstats`).

Every workload (dm, room, connect) is built from these parts. Nothing here
talks to anything but 127.0.0.1, and every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ServerError
from chinwag.server import scripts as server_scripts
from chinwag.server.embedded_redis import EmbeddedRedis

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-password-1"

# Limits raised so that the server's protections against abuse (per-connection
# send rate, per-address connection cap, registrations, logins and resumes per
# address and user, the password-hashing queue) do not
# stand between the load generator and the code paths under test. The send
# path, storage and fan-out are exactly what a user gets.
RAISED_LIMITS = {
    "send_rate": "1e9",
    "send_burst": "1000000000",
    "max_connections_per_address": "100000",
    "outgoing_limit": str(64 * 1024 * 1024),
    "registrations_per_address": "100000000",
    "login_failures_per_address": "100000000",
    "logins_per_address": "100000000",
    "logins_per_user": "100000000",
    "resumes_per_address": "100000000",
    "resumes_per_user": "100000000",
    "verify_queue": "100000",
    "preauth_timeout": "300",
}

# Argon2id at a trivial cost, for workloads that only need accounts to exist
# (dm, room, and minting the resume tokens of `connect`). The password-login
# measurement always runs a server at its default argon2 parameters.
CHEAP_ARGON2 = {"argon2_time_cost": "1", "argon2_memory_kib": "64", "argon2_parallelism": "1"}


# --- /proc readings ---------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = raw[raw.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def run_delay_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU
    (from /proc/<pid>/schedstat), in seconds."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, interrupts) CPU seconds of the whole machine since boot,
    all cores; interrupts (irq + softirq) is where loopback TCP is mostly
    processed, charged to no process."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK, (fields[5] + fields[6]) / CLK_TCK


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy, measured over `seconds`."""
    busy0, _, _ = machine_cpu()
    time.sleep(seconds)
    busy1, _, _ = machine_cpu()
    return (busy1 - busy0) / seconds


def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (at most `max_wait` seconds) until the machine is nearly idle;
    returns the busy cores last seen."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_cores(1.0)
        if busy <= threshold or time.monotonic() >= deadline:
            return busy


def raise_fd_limit() -> int:
    """Raise this process's soft open-files limit to the hard limit (children,
    the server among them, inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- the server under test ---------------------------------------------------------

# Set by `--profile DIR`: every measured window also records the server with
# py-spy into DIR/<label>.txt (collapsed stacks; see bench/profile.py).
PROFILE_DIR: Path | None = None


def _die_with_parent() -> None:  # between fork and exec of the server
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerProcess:
    """`python -m chinwag.server` on a free loopback port, with an embedded
    Redis in a temporary data directory that is removed by `stop()` (or, with
    `redis_url` in its settings, using that Redis: see `Deployment`)."""

    def __init__(self, settings: dict[str, str] | None = None, data_dir: Path | None = None) -> None:
        self.settings = {**RAISED_LIMITS, **(settings or {})}
        self.own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="cw-bench-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.redis_pid = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "chinwag.server", "--host", HOST, "--port", "0",
                "--data-dir", str(self.data_dir), "--log-level", "WARNING"]
        for name, value in self.settings.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        return args

    def start(self, timeout: float = 30.0) -> ServerProcess:
        out_path = self.data_dir / "server.out"
        with open(out_path, "wb") as out, open(self.data_dir / "server.err", "ab") as err:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = out_path.read_text(errors="replace")
            if "listening on" in text:
                self.port = int(text.split("listening on", 1)[1].split()[0].rsplit(":", 1)[1])
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"chinwag-server exited at start: {self.log_tail()}")
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"chinwag-server did not start within {timeout:.0f} s")
        with contextlib.suppress(OSError, ValueError):
            self.redis_pid = int((self.data_dir / "redis.pid").read_text().strip())
        return self

    def profile_start(self, label: str) -> subprocess.Popen[bytes] | None:
        """Start `py-spy record` on the server if profiling was asked for."""
        if PROFILE_DIR is None or self.process is None:
            return None
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        return subprocess.Popen(
            [py_spy, "record", "-p", str(self.pid), "-r", "250", "-f", "raw",
             "-o", str(PROFILE_DIR / f"{label}.txt")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def profile_stop(recorder: subprocess.Popen[bytes] | None) -> None:
        if recorder is None:
            return
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.data_dir / "server.err").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def errors_logged(self) -> list[str]:
        """Lines the server logged at WARNING or above (the log level we run it at)."""
        try:
            text = (self.data_dir / "server.err").read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]

    def cpu(self) -> dict[str, float]:
        return {"server": cpu_seconds(self.pid),
                "redis": cpu_seconds(self.redis_pid) if self.redis_pid else 0.0}

    def rss(self) -> dict[str, int]:
        return {"server": rss_kib(self.pid), "redis": rss_kib(self.redis_pid) if self.redis_pid else 0}

    def stop(self, timeout: float = 15.0, keep_dir: bool = False) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self.own_dir and not keep_dir and not os.environ.get("CHINWAG_BENCH_KEEP"):
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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

    def __init__(self, nodes: int = 1, settings: dict[str, str] | None = None) -> None:
        self.count = nodes
        self.settings = dict(settings or {})
        self.redis_dir = Path(tempfile.mkdtemp(prefix="cw-bench-redis-"))
        self.redis = EmbeddedRedis(self.redis_dir)
        self.url = ""
        self.redis_pid = 0
        self.nodes: list[ServerProcess] = []
        self._stats: redis.Redis | None = None

    def start(self) -> Deployment:
        try:
            self.url = asyncio.run(self.redis.start())
            assert self.redis.process is not None
            self.redis_pid = self.redis.process.pid
            for i in range(self.count):
                node = ServerProcess({**self.settings, "redis_url": self.url, "node_id": f"bench-node{i}"})
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
            self._stats = redis.Redis.from_url(self.url, protocol=2, socket_timeout=5,
                                               socket_connect_timeout=2)
        info = self._stats.info("commandstats")
        return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v.get("usec", 0)))
                for name, v in info.items() if isinstance(v, dict) and "calls" in v}

    def profile_start(self, label: str) -> list[subprocess.Popen[bytes] | None]:
        suffix = len(self.nodes) > 1
        return [n.profile_start(f"{label}-node{i}" if suffix else label) for i, n in enumerate(self.nodes)]

    @staticmethod
    def profile_stop(recorders: list[subprocess.Popen[bytes] | None] | None) -> None:
        for recorder in recorders or []:
            ServerProcess.profile_stop(recorder)

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


def _script_commands() -> frozenset[str]:
    """The commands the server's Lua scripts issue (redis.call('X', ...))."""
    found: set[str] = set()
    for value in vars(server_scripts).values():
        if isinstance(value, str):
            found.update(m.lower() for m in re.findall(r"redis\.call\('(\w+)'", value))
    return frozenset(found)


# Commands Redis counts in commandstats although no client sent them: each
# redis.call() inside a script is counted as a call of its own, besides the
# EVALSHA that ran the script. In a window of message traffic (no logins,
# joins or new conversations) these come from the scripts only.
SCRIPT_COMMANDS = _script_commands()
OWN_COMMANDS = frozenset({"info"})  # the bench's own reading of the counters


def redis_ops_report(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                     delivered: int, top: int = 10) -> dict[str, Any]:
    """Redis commands per delivered message between two `commandstats`
    readings, split into top-level calls (what the nodes sent: EVALSHA,
    PUBLISH, ...) and calls made inside scripts (XADD, SET, ... in the send
    script). `redis_ops_per_delivered` counts both kinds. Every message the
    server stores is one XADD, so XADD calls are the messages stored in the
    window, measured on Redis's side of it: `*_per_stored_msg` divides by them.

    Time: commandstats' microseconds of the top-level commands (a script's
    include the commands it ran), per delivery and per call. Redis measures
    them on the wall clock, so on a busy machine they include time Redis was
    preempted; per call, they are how long one call held Redis (every other
    client, every node, waits meanwhile)."""
    delta = {cmd: (calls - before.get(cmd, (0, 0))[0], usec - before.get(cmd, (0, 0))[1])
             for cmd, (calls, usec) in after.items() if cmd not in OWN_COMMANDS}
    delta = {cmd: cu for cmd, cu in delta.items() if cu[0] > 0}
    per = max(1, delivered)
    top_level = {c: n for c, (n, _) in delta.items() if c not in SCRIPT_COMMANDS}
    in_script = {c: n for c, (n, _) in delta.items() if c in SCRIPT_COMMANDS}
    top_usec = {c: delta[c][1] for c in top_level}

    def ranked(counts: dict[str, int], digits: int = 4) -> dict[str, float]:
        best = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return {c: round(n / per, digits) for c, n in best}

    total, total_top = sum(n for n, _ in delta.values()), sum(top_level.values())
    stored = delta.get("xadd", (0, 0))[0]
    out: dict[str, Any] = {
        "redis_ops_per_delivered": round(total / per, 3),
        "redis_top_level_ops_per_delivered": round(total_top / per, 3),
        "redis_in_script_ops_per_delivered": round((total - total_top) / per, 3),
        "redis_ops_by_command": {"top_level": ranked(top_level), "in_script": ranked(in_script)},
        "redis_calls_in_window": total,
        "redis_stored_in_window": stored,
        "redis_cmd_us_per_delivered": ranked(top_usec, 3),
        "redis_cmd_us_per_call": {c: round(top_usec[c] / top_level[c], 1)
                                  for c in sorted(top_level, key=lambda c: -top_level[c])[:4]},
    }
    if stored:
        out["redis_ops_per_stored_msg"] = round(total / stored, 2)
        out["redis_top_level_ops_per_stored_msg"] = round(total_top / stored, 3)
    return out


# --- clients ---------------------------------------------------------------------


def install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def bounded_gather(items: Iterable[Any], fn: Callable[[Any], Awaitable[Any]],
                         concurrency: int) -> list[Any]:
    """`fn(item)` for every item, at most `concurrency` at a time; results
    (or the exception raised) in input order."""
    sem = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with sem:
            try:
                return await fn(item)
            except Exception as exc:  # reported by the caller, never fatal here
                return exc

    return await asyncio.gather(*(one(i) for i in items))


async def register_users(port: int, names: Sequence[str], connections: int = 8,
                         window: int = 16, timeout: float = 300.0) -> tuple[int, float]:
    """Register `names` (password PASSWORD) over a few unauthenticated
    connections, pipelining `window` requests each; returns (registered,
    seconds). A name that exists already counts as registered."""
    t0 = time.monotonic()
    slices = [list(names[i::connections]) for i in range(connections)]

    async def run(part: list[str]) -> int:
        done = 0
        async with ChatClient(HOST, port) as client:
            for start in range(0, len(part), window):
                futures = [client.request_nowait("register", username=n, password=PASSWORD)
                           for n in part[start:start + window]]
                for result in await asyncio.gather(*futures, return_exceptions=True):
                    if not isinstance(result, Exception) or (
                            isinstance(result, ServerError) and result.code == "user_exists"):
                        done += 1
                    else:
                        raise result
        return done

    counts = await asyncio.wait_for(asyncio.gather(*(run(p) for p in slices if p)), timeout)
    return sum(counts), time.monotonic() - t0


class BenchClient(ChatClient):
    """The real client, counting the acks it sends (the server does one
    cursor update per ack frame, so they are part of the cost of a message)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acks_sent = 0

    def _send(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "ack":
            self.acks_sent += 1
        super()._send(frame)


async def login_client(port: int, username: str, auto_ack: bool = True) -> BenchClient:
    client = BenchClient(HOST, port, connect_timeout=30, auto_ack=auto_ack)
    await client.connect()
    await client.login(username, PASSWORD)
    return client


def user_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


# --- worker processes ----------------------------------------------------------


class AsyncPipe:
    """One end of a multiprocessing pipe, awaited without a thread."""

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self.conn = conn

    async def recv(self, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.conn.poll():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no word from the bench runner")
            ready = loop.create_future()
            fd = self.conn.fileno()
            loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ready, remaining)
            finally:
                loop.remove_reader(fd)
                os.set_blocking(fd, True)  # the loop made it non-blocking; pickles span many reads
        return self.conn.recv()

    def send(self, obj: Any) -> None:
        os.set_blocking(self.conn.fileno(), True)
        self.conn.send(obj)


WorkerMain = Callable[[dict[str, Any], AsyncPipe], Awaitable[None]]


def _worker_entry(main: WorkerMain, config: dict[str, Any],
                  conn: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops us
    install_uvloop()
    try:
        asyncio.run(main(config, AsyncPipe(conn)))
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))
        raise


class WorkerError(RuntimeError):
    pass


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection


class WorkerPool:
    """Worker processes, each running `main(config, pipe)` in its own event
    loop; the runner talks to them in lock-step messages."""

    def __init__(self, main: WorkerMain, configs: Sequence[dict[str, Any]]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.workers: list[Worker] = []
        for config in configs:
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_worker_entry, args=(main, config, child), daemon=True)
            process.start()
            child.close()
            self.workers.append(Worker(process, parent))

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process.pid]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def send_all(self, message: Any) -> None:
        for w in self.workers:
            w.conn.send(message)

    def send_each(self, messages: Sequence[Any]) -> None:
        for w, message in zip(self.workers, messages):
            w.conn.send(message)

    def recv_all(self, expect: str, timeout: float) -> list[Any]:
        """One message from every worker; its first item must be `expect`."""
        results: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        waiting = {w.conn: i for i, w in enumerate(self.workers)}
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerError(f"workers did not report '{expect}' within {timeout:.0f} s")
            for conn in multiprocessing.connection.wait(list(waiting), remaining):
                index = waiting.pop(conn)  # type: ignore[call-overload]
                try:
                    message = conn.recv()  # type: ignore[union-attr]
                except EOFError:
                    raise WorkerError(f"worker {index} died") from None
                if message[0] == "error":
                    raise WorkerError(f"worker {index} failed:\n{message[1]}")
                if message[0] != expect:
                    raise WorkerError(f"worker {index} sent '{message[0]}', expected '{expect}'")
                results[index] = message[1]
        return [results[i] for i in range(len(self.workers))]

    def close(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(Exception):
            self.send_all(("stop",))
        deadline = time.monotonic() + timeout
        for w in self.workers:
            w.process.join(max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(2)
            w.conn.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """Deal `items` round-robin into `parts` lists."""
    return [list(items[i::parts]) for i in range(parts)]


def default_procs() -> int:
    return 2


class Window:
    """CPU and memory of the server (every node of a `Deployment`), its Redis,
    the load generator and the whole machine between `open()` and `close()`,
    and Redis's command counters when the server is a `Deployment`."""

    def __init__(self, server: ServerProcess | Deployment, pool: WorkerPool | None, label: str = "") -> None:
        self.server = server
        self.pool = pool
        self.label = label
        self.recorder: Any = None
        self.t0 = self.t1 = 0.0
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.stats_start: dict[str, tuple[int, int]] | None = None
        self.stats_end: dict[str, tuple[int, int]] | None = None

    @property
    def node_count(self) -> int:
        return len(self.server.nodes) if isinstance(self.server, Deployment) else 1

    def _sample(self) -> dict[str, float]:
        busy, total, irq = machine_cpu()
        cpu = self.server.cpu()
        out = {"server": cpu["server"], "redis": cpu["redis"],
               "loadgen": self.pool.cpu() if self.pool else 0.0,
               "busy": busy, "total": total, "irq": irq}
        if isinstance(self.server, Deployment):
            waits = self.server.run_delays()
            for i, (node_cpu, wait) in enumerate(zip(cpu["nodes"], waits)):
                out[f"node{i}"] = node_cpu
                out[f"wait{i}"] = wait
            out["server_wait"] = sum(waits) / max(1, len(waits))
        else:
            out["server_wait"] = run_delay_seconds(self.server.pid)
        return out

    def _commandstats(self) -> dict[str, tuple[int, int]] | None:
        if not isinstance(self.server, Deployment):
            return None
        try:
            return self.server.commandstats()
        except (redis.RedisError, OSError):
            return None

    def open(self) -> None:
        if self.label:
            self.recorder = self.server.profile_start(self.label)
        self.stats_start = self._commandstats()
        self.t0, self.start = time.monotonic(), self._sample()

    def close(self) -> None:
        self.t1, self.end = time.monotonic(), self._sample()
        self.stats_end = self._commandstats()
        self.server.profile_stop(self.recorder)
        self.recorder = None

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    def delta(self, key: str) -> float:
        return self.end[key] - self.start[key]

    def report(self, delivered: int | None = None) -> dict[str, Any]:
        """CPU use in cores (CPU seconds per wall second) and, given the count
        of deliveries in the window, CPU microseconds and Redis commands per
        delivery."""
        span = self.seconds or 1e-9
        server, redis_cpu, loadgen = self.delta("server"), self.delta("redis"), self.delta("loadgen")
        busy, irq = self.delta("busy"), self.delta("irq")
        cores = os.cpu_count() or 1
        out: dict[str, Any] = {
            "cpu_cores": {
                "server": round(server / span, 2), "redis": round(redis_cpu / span, 2),
                "loadgen": round(loadgen / span, 2),
                "kernel_irq": round(irq / span, 2),
                "other": round(max(0.0, busy - server - redis_cpu - loadgen - irq) / span, 2),
                "machine_busy": round(busy / span, 2), "machine_cores": cores,
            },
            # share of the window the server's event loop was ready to run but
            # had no CPU: how much the others on the machine held it back
            # (with several nodes: the mean over the nodes)
            "server_runqueue_wait": round(self.delta("server_wait") / span, 2),
        }
        nodes = self.node_count
        if isinstance(self.server, Deployment):
            out["cpu_cores"]["server_by_node"] = [round(self.delta(f"node{i}") / span, 2) for i in range(nodes)]
            out["server_runqueue_wait_by_node"] = [round(self.delta(f"wait{i}") / span, 2)
                                                   for i in range(nodes)]
        if delivered:
            out["server_cpu_us_per_msg"] = round(server / delivered * 1e6, 2)
            if isinstance(self.server, Deployment):
                out["server_cpu_us_per_msg_by_node"] = [round(self.delta(f"node{i}") / delivered * 1e6, 2)
                                                        for i in range(nodes)]
            out["redis_cpu_us_per_msg"] = round(redis_cpu / delivered * 1e6, 2)
            out["loadgen_cpu_us_per_msg"] = round(loadgen / delivered * 1e6, 2)
            # server + Redis + load generator + kernel network work: what one
            # message costs this machine, others' work left out
            out["total_cpu_us_per_msg"] = round((server + redis_cpu + loadgen + irq) / delivered * 1e6, 2)
            # The single-threaded server's ceiling with a core of its own, at
            # the CPU cost measured here: less sensitive to others' load than
            # the wall-clock rate when the machine is shared. (With several
            # nodes: per core of all nodes together.)
            if server > 0:
                out["per_server_cpu_s"] = round(delivered / server)
            # What one Redis core carries at the Redis CPU cost measured here.
            if redis_cpu > 0:
                out["per_redis_cpu_s"] = round(delivered / redis_cpu)
            if self.stats_start is not None and self.stats_end is not None:
                out.update(redis_ops_report(self.stats_start, self.stats_end, delivered))
        return out


def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)
