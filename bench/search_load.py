"""Search through the real server over a large history, with traffic.

1. A Redis (the embedded default's binary and configuration) is filled
   directly, through pipelines writing what SEND writes (a stream entry with
   its sender, the text in the texts hash), with `--messages` synthetic
   ten-word messages (bench/search_index.py's corpus: Zipf words, one in ten
   in Chinese) spread over 30 days in `--convs` rooms: fast, no clients.
2. `chinwag-server --reindex` builds the index from Redis: its wall time is
   the rebuild time; then the index's disk bytes per message.
3. One server node on that Redis and index (`--redis-url`, `--search-dir`),
   200 dm users, searchers in 50 rooms and one in every room.
4. Search latency through the wire (ChatClient round trip) per kind of
   query, idle, then while `--rate` DMs/s run (bench/traffic.py's fixed-rate
   dm phase, from worker processes), with a probe: a message with a word of
   its own sent every 0.5 s, searched for until found (the send-to-findable
   lag).
5. Indexing under sustained sends: the closed-loop dm phase (as fast as the
   machine goes), the node's `stats:` lines each second (messages accepted,
   entries indexed, the index's queue), and the probe again.

    python -m bench.search_load [--messages 1000000] [--convs 1000] [--rate 5000] [--duration 20]

One JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from chinwag.protocol.client import ChatClient
from chinwag.server import keys

from .clients import HOST, PASSWORD, register_users, user_names
from .machine import cpu_seconds
from .search_index import Corpus, disk_bytes, query_kinds
from .servers import CHEAP_ARGON2, BenchServer, Deployment
from .stats import percentile, rounded
from .traffic import PhaseSpec, Ready, Settle, Settled, TrafficConfig, drive_phase, traffic_worker
from .workers import WorkerPool, split

DAY_MS = 86_400_000
SPAN_MS = 30 * DAY_MS
FILL_CHUNK = 10_000
SENDERS = 200
SEARCHERS = 4  # each in 50 rooms; one more in every room
SEARCH_FEATURES = ["messages", "search"]


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def fill(
    url: str, corpus: Corpus, messages: int, convs: list[str], start_ms: int, last: dict[str, str]
) -> dict[str, Any]:
    """What SEND leaves in Redis for each message, written in pipelines;
    `last` gets each conversation's newest id."""
    client = redis.Redis.from_url(url)
    rng = random.Random(3)
    t0 = time.perf_counter()
    client.sadd(keys.ROOMS, *(c[1:] for c in convs))
    step = SPAN_MS // messages
    for first in range(0, messages, FILL_CHUNK):
        pipe = client.pipeline(transaction=False)
        for n in range(first, min(messages, first + FILL_CHUNK)):
            cid = convs[rng.randrange(len(convs))]
            mid = f"{start_ms + n * step}-0"
            text = corpus.text()
            if len(corpus.sample_texts) < 2_000 and rng.random() < 0.01:
                corpus.sample_texts.append(text)
            pipe.xadd(keys.stream(cid), {"f": f"poster{rng.randrange(SENDERS)}"}, id=mid)
            last[cid] = mid
            pipe.hset(keys.texts(cid), mid, text)
        pipe.execute()
        if first // FILL_CHUNK % 20 == 0:
            log(f"filled {min(messages, first + FILL_CHUNK)}/{messages}")
    seconds = time.perf_counter() - t0
    used = int(client.info("memory")["used_memory"])
    client.close()
    return {"fill_s": round(seconds, 1), "redis_used_memory_mib": round(used / 2**20, 1)}


def reindex(url: str, search_dir: Path) -> dict[str, Any]:
    """`chinwag-server --reindex`: its wall time, what it said, its peak RSS."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "chinwag.server", "--redis-url", url, "--search-dir", str(search_dir), "--reindex"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"--reindex failed: {done.stderr}")
    log(done.stdout.strip())
    return {
        "rebuild_s": round(seconds, 1),
        "rebuild_said": done.stdout.strip(),
        "rebuild_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def join_rooms(url: str, user: str, convs: list[str], last: dict[str, str]) -> None:
    """What `join` writes: membership both ways, and the cursor and read
    marker at the room's newest message (so a login replays nothing)."""
    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    pipe.sadd(keys.user_convs(user), *convs)
    for cid in convs:
        pipe.sadd(keys.members(cid), user)
    upto = {cid: last[cid] for cid in convs if cid in last}
    if upto:
        pipe.hset(keys.cursors(user), mapping=upto)
        pipe.hset(keys.markers(user), mapping=upto)
    pipe.execute()
    client.close()


def _plain(make: Callable[[random.Random], str]) -> Callable[[random.Random], dict[str, Any]]:
    return lambda r: {"query": make(r)}


class Queries:
    """The kinds of query (search_index's, plus the filters), for a caller."""

    def __init__(self, corpus: Corpus, convs: list[str], start_ms: int) -> None:
        self.kinds: dict[str, Callable[[random.Random], dict[str, Any]]] = {
            name: _plain(make) for name, make in query_kinds(corpus).items()
        }
        common = corpus.words[:20]
        middling = corpus.words[200:2_000]

        def in_conv(r: random.Random) -> dict[str, Any]:
            return {"query": r.choice(common), "conv": r.choice(convs)}

        def by_sender(r: random.Random) -> dict[str, Any]:
            return {"query": r.choice(middling), "sender": f"poster{r.randrange(SENDERS)}"}

        def one_day(r: random.Random) -> dict[str, Any]:
            day = start_ms + r.randrange(30) * DAY_MS
            return {"query": r.choice(middling), "after": day, "before": day + DAY_MS}

        self.kinds |= {"common_word+conv": in_conv, "middling_word+from": by_sender, "middling_word+one_day": one_day}


async def _client(port: int, name: str) -> ChatClient:
    client = ChatClient(HOST, port, features=SEARCH_FEATURES, connect_timeout=30)
    await client.connect()
    await client.login(name, PASSWORD)
    return client


def _summary(samples: list[float]) -> dict[str, Any]:
    samples = sorted(samples)
    return {
        "n": len(samples),
        "p50_ms": rounded(1000 * (percentile(samples, 50) or 0)),
        "p99_ms": rounded(1000 * (percentile(samples, 99) or 0)),
        "max_ms": rounded(1000 * samples[-1]) if samples else None,
    }


async def idle_latency(
    port: int, searchers: dict[str, list[str]], queries: Queries, runs: int, pids: dict[str, list[int]]
) -> dict[str, Any]:
    """Each kind `runs` times per scope, one search at a time; page 2 too;
    and the CPU each of `pids`' processes used per search meanwhile."""
    rng = random.Random(11)
    out: dict[str, Any] = {}
    every: dict[str, list[float]] = {"50_rooms": [], "all_rooms": []}
    clients = {name: await _client(port, name) for name in searchers}
    try:
        for _ in range(3):  # not measured: the index's pages into the page cache
            for make in queries.kinds.values():
                for name, client in clients.items():
                    fields = make(rng)
                    if "conv" in fields:
                        fields["conv"] = rng.choice(searchers[name])
                    await client.search(**fields)
        searches = 0
        cpu = {who: sum(cpu_seconds(pid) for pid in group) for who, group in pids.items()}
        for kind, make in queries.kinds.items():
            for scope, names in (("50_rooms", list(searchers)[:-1]), ("all_rooms", list(searchers)[-1:])):
                first: list[float] = []
                second: list[float] = []
                hits = 0
                for _ in range(runs):
                    name = rng.choice(names)
                    client = clients[name]
                    fields = make(rng)
                    if "conv" in fields:
                        fields["conv"] = rng.choice(searchers[name])
                    t = time.perf_counter()
                    page = await client.search(**fields)
                    first.append(time.perf_counter() - t)
                    hits += len(page.results)
                    if page.next is not None:
                        t = time.perf_counter()
                        await client.search(**fields, page=page.next)
                        second.append(time.perf_counter() - t)
                every[scope] += first
                searches += len(first) + len(second)
                out[f"{kind}/{scope}"] = {
                    **_summary(first),
                    "page2_p50_ms": _summary(second)["p50_ms"] if second else None,
                    "mean_results": round(hits / runs, 1),
                }
                log(kind, scope, out[f"{kind}/{scope}"])
        used = {who: sum(cpu_seconds(pid) for pid in group) - cpu[who] for who, group in pids.items()}
    finally:
        for client in clients.values():
            await client.close()
    return {
        "by_kind": out,
        "all_kinds": {scope: _summary(v) for scope, v in every.items()},
        "searches": searches,  # first and second pages, one at a time
        **{f"{who}_cpu_us_per_search": round(used[who] / max(1, searches) * 1e6, 1) for who in pids},
    }


class Background:
    """Searches at about `rate`/s and the findability probe, on an event loop
    of their own in a thread, while the main thread drives a dm phase."""

    def __init__(
        self, port: int, searchers: dict[str, list[str]], queries: Queries, rate: float, hostile: bool
    ) -> None:
        self.port, self.searchers, self.queries, self.rate = port, searchers, queries, rate
        self.kinds = {k: v for k, v in queries.kinds.items() if hostile or not k.startswith("hostile")}
        self.latencies: dict[str, list[tuple[float, float]]] = {"50_rooms": [], "all_rooms": []}  # (when, s)
        self.lags: list[tuple[float, float]] = []
        self.not_found: int = 0
        self.errors: int = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> Background:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the searchers did not log in within 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    async def _main(self) -> None:
        clients = {name: await _client(self.port, name) for name in self.searchers}
        self._ready.set()
        try:
            first = next(iter(clients))
            await asyncio.gather(self._search(clients), self._probe(clients[first], first))
        finally:
            for client in clients.values():
                await client.close()

    async def _search(self, clients: dict[str, ChatClient]) -> None:
        rng = random.Random(5)
        names = list(clients)
        kinds = itertools.cycle(self.kinds.values())
        interval = 1 / self.rate
        next_at = time.perf_counter()
        while not self._stop.is_set():
            name = rng.choice(names)
            scope = "all_rooms" if name == names[-1] else "50_rooms"
            fields = next(kinds)(rng)
            if "conv" in fields:
                fields["conv"] = rng.choice(self.searchers[name])
            t = time.perf_counter()
            try:
                await clients[name].search(**fields)
                self.latencies[scope].append((time.time(), time.perf_counter() - t))
            except Exception:
                self.errors += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def _probe(self, client: ChatClient, name: str) -> None:
        """A message with a word of its own, every 0.5 s: how long from its
        `ok` until a search finds it."""
        n = 0
        while not self._stop.is_set():
            word = f"probe{n}x{random.randrange(10**9)}"
            n += 1
            await client.send("@" + name, f"{word} under load")
            sent = time.perf_counter()
            while time.perf_counter() - sent < 10:
                if (await client.search(word)).results:
                    self.lags.append((time.time(), time.perf_counter() - sent))
                    break
                await asyncio.sleep(0.01)
            else:
                self.not_found += 1
            await asyncio.sleep(0.5)

    def report(self, begin: float, end: float) -> dict[str, Any]:
        """What was measured between `begin` and `end` (wall clock)."""

        def inside(samples: list[tuple[float, float]]) -> list[float]:
            return [s for when, s in samples if begin <= when <= end]

        return {
            "search": {scope: _summary(inside(v)) for scope, v in self.latencies.items()},
            "search_errors": self.errors,
            "findable_after_ok": _summary(inside(self.lags)),
            "probe_not_found_in_10_s": self.not_found,
        }


_STATS = re.compile(r"^(\S+ \S+) .*accepted=(\d+) .*indexed_live=(\d+) index_read=(\d+) index_queue=(\d+)")


def stats_lines(node: BenchServer) -> list[tuple[float, int, int, int]]:
    """(time, accepted, indexed live, queue) from each `stats:` line of the node's log."""
    out = []
    for line in node.output().splitlines():
        if m := _STATS.search(line):
            when = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((when, int(m[2]), int(m[3]), int(m[5])))
    return out


def indexing_rates(lines: list[tuple[float, int, int, int]], start: float, end: float) -> dict[str, Any]:
    """Messages accepted and entries indexed per second between the first and
    the last stats line in [start, end] (wall clock), and the index's queue."""
    inside = [line for line in lines if start <= line[0] <= end]
    if len(inside) < 2:
        return {"stats_lines": len(inside)}
    seconds = inside[-1][0] - inside[0][0]
    return {
        "accepted_per_s": round((inside[-1][1] - inside[0][1]) / seconds),
        "indexed_per_s": round((inside[-1][2] - inside[0][2]) / seconds),
        "index_queue_max": max(q for *_, q in inside),
        "index_queue_after": lines[-1][3],
        "stats_span_s": round(seconds, 1),
    }


def dm_phase(
    deployment: Deployment,
    pool: WorkerPool,
    parts: list[list[str]],
    clients: int,
    mode: str,
    rate: float,
    warmup: float,
    duration: float,
    label: str,
) -> dict[str, Any]:
    rnd = random.Random(label)
    specs = [
        PhaseSpec(
            "dm",
            "closed" if mode == "closed" else "rate",
            phase=label,
            tag=f"{label}w{i}",
            seed=rnd.randrange(1 << 30),
            window=8,
            rate=rate * len(p) / clients,
        )
        for i, p in enumerate(parts)
    ]
    index_pids = children(deployment.nodes[0].pid)
    samples: list[float] = []

    def sample() -> None:
        samples.append(sum(cpu_seconds(pid) for pid in index_pids))

    timers = [threading.Timer(0.5 + warmup, sample), threading.Timer(0.5 + warmup + duration, sample)]
    for timer in timers:
        timer.start()
    window, results = drive_phase(deployment, pool, specs, warmup, duration)
    for timer in timers:
        timer.join()
    delivered = sum(r.in_window for r in results)
    merged = sorted(x for r in results for x in r.latencies)
    index_cpu = samples[1] - samples[0] if len(samples) == 2 else 0.0
    return {
        "delivered_per_s": round(delivered / duration),
        "dm_p50_ms": rounded(percentile(merged, 50)),
        "dm_p99_ms": rounded(percentile(merged, 99)),
        # the index process is the server's child: not in the window's "server" (it counts as "other")
        "index_process_cores": round(index_cpu / duration, 2),
        "index_process_cpu_us_per_msg": round(index_cpu / max(1, delivered) * 1e6, 1),
        **window.report(delivered),
    }


def children(pid: int) -> list[int]:
    """The processes `pid` started (its index process)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--convs", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=5_000, help="DMs/s offered during the loaded searches")
    parser.add_argument("--search-rate", type=float, default=20, help="searches/s during the dm phases")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per dm phase")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=100, help="idle searches of each kind per scope")
    parser.add_argument("--clients", type=int, default=200, help="dm users")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()

    result: dict[str, Any] = {"workload": "search_load", "messages": args.messages, "convs": args.convs}
    start_ms = int(time.time() * 1000) - SPAN_MS - DAY_MS
    convs = [f"#s{i:04d}" for i in range(args.convs)]
    corpus = Corpus(1, 2)
    with tempfile.TemporaryDirectory(prefix="cw-search-") as tmp:
        search_dir = Path(tmp) / "search"
        deployment = Deployment(1, {**CHEAP_ARGON2, "search_dir": str(search_dir), "stats_interval": 1})
        try:
            deployment.url = asyncio.run(deployment.redis.start())
            assert deployment.redis.process is not None
            deployment.redis_pid = deployment.redis.process.pid
            last: dict[str, str] = {}
            result |= fill(deployment.url, corpus, args.messages, convs, start_ms, last)
            result |= reindex(deployment.url, search_dir)
            size = disk_bytes(search_dir)
            result["index_disk_mib"] = round(size / 2**20, 1)
            result["index_disk_bytes_per_message"] = round(size / args.messages, 1)

            node = BenchServer(
                {
                    **deployment.settings,
                    "redis_url": deployment.url,
                    "node_id": "bench-node0",
                    "log_level": "INFO",
                }
            )
            deployment.nodes.append(node)
            node.start(timeout=120)
            port = node.port
            dm_users = user_names("dm", args.clients)
            rng = random.Random(9)
            searchers = {f"searcher{i}": rng.sample(convs, 50) for i in range(SEARCHERS)}
            searchers["searcher_all"] = convs
            asyncio.run(register_users(port, [*dm_users, *searchers]))
            for name, rooms in searchers.items():
                join_rooms(deployment.url, name, rooms, last)
            result["server_rss_mib_with_index"] = round(node.rss()["server"] / 1024, 1)
            queries = Queries(corpus, convs, start_ms)
            log("idle searches")
            pids = {"server": [node.pid], "index_process": children(node.pid), "redis": [deployment.redis_pid]}
            result["idle"] = asyncio.run(idle_latency(port, searchers, queries, args.runs, pids))

            parts = split(dm_users, args.procs)
            configs = [TrafficConfig("dm", port, [port] * len(p), p, dm_users, peers=16) for p in parts]
            with WorkerPool(traffic_worker, configs) as pool:
                pool.recv_all(Ready, timeout=120)
                pool.send_all(Settle())
                pool.recv_all(Settled, timeout=60)
                for label, mode, rate in (("under_dm_rate", "rate", args.rate), ("under_closed_loop", "closed", 0)):
                    log(label)
                    with Background(port, searchers, queries, args.search_rate, hostile=False) as bg:
                        begin = time.time() + 0.5 + args.warmup  # drive_phase's start and warm-up
                        dm = dm_phase(
                            deployment, pool, parts, args.clients, mode, rate, args.warmup, args.duration, label
                        )
                        end = time.time()
                    time.sleep(2)  # the stats line after the drain
                    indexing = indexing_rates(stats_lines(node), begin, end)
                    offered = {"offered_dm_per_s": rate} if rate else {}
                    result[label] = {**offered, **dm, **indexing, **bg.report(begin, end)}
                    log(result[label])
            result["index_disk_mib_after"] = round(disk_bytes(search_dir) / 2**20, 1)
            result["server_warnings"] = node.errors_logged()[:5]
        finally:
            deployment.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
