"""The search index process alone: what it costs per indexed message and per
query, and how long a query waits while it indexes, without the server.

The index process (chinwag/server/search/worker.py) is started as the
server starts it and filled with `--messages` synthetic messages
(bench/search_index.py's corpus). Then, for `--duration` s each:

- idle: `--search-rate` searches/s (search_index's kinds, the hostile ones
  left out; a caller in 50 conversations or in all of them), nothing written;
- loaded: the same searches while the index takes `--rate` messages/s the
  way the server hands them over (a batch with a commit every 150 ms);
- loaded and contended: the same again beside `--hogs` processes spinning
  at the default priority, as on a machine the chat server, Redis and the
  clients keep full.

Per phase: the searches' round trip p50/p99 (a pipe, no network, no Redis),
the index process's CPU per query (idle) and per indexed message (loaded,
less the idle phase's per-query share), the CPU of each of its threads, and
the write round trip (documents and commit: the lag a message adds on top
of the server's batching).

    python -m bench.search_worker [--messages 200000] [--rate 5000] [--duration 10] [--hogs 2]

One JSON line on stdout; progress on stderr. CPU per operation is what to
compare between runs on a shared machine; latencies move with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chinwag.server.search.worker import ChildIndex

from .machine import CLK_TCK, cpu_seconds
from .search_index import START_MS, Corpus, query_kinds
from .stats import percentile, rounded

BATCH_S = 0.15  # the server's COMMIT_INTERVAL_S: one write with a commit this often
FILL_BATCH = 5_000


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (threads of one name summed)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = (task / "stat").read_text()
            name = raw[raw.index("(") + 1 : raw.rindex(")")]
            rest = raw[raw.rindex(")") + 2 :].split()
            name = "main" if int(task.name) == pid else name
            out[name] = out.get(name, 0.0) + (int(rest[11]) + int(rest[12])) / CLK_TCK
    return out


def _spin(stop: Any, rounds: Any) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass
        with rounds.get_lock():
            rounds.value += 1


def run_delay_s(pid: int) -> float:
    """Time the process's main (search) thread was runnable but waiting for a CPU."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _summary(samples: list[float]) -> dict[str, Any]:
    samples = sorted(samples)
    return {
        "n": len(samples),
        "p50_ms": rounded(1000 * (percentile(samples, 50) or 0)),
        "p99_ms": rounded(1000 * (percentile(samples, 99) or 0)),
        "max_ms": rounded(1000 * samples[-1]) if samples else None,
    }


class Bench:
    def __init__(self, index: ChildIndex, corpus: Corpus, args: argparse.Namespace) -> None:
        self.index, self.corpus, self.args = index, corpus, args
        self.kinds: dict[str, Any] = {}
        self.rng = random.Random(5)
        self.next_ms = START_MS
        self.written = 0

    def batch(self, count: int) -> list[tuple[str, str, str, int, str]]:
        messages = self.corpus.messages(count, self.next_ms)
        self.next_ms += count // 3 + 1
        return [(m.conv, m.mid, m.sender, m.ts, m.text) for m in messages]

    async def fill(self) -> None:
        total = self.args.messages
        for start in range(0, total, FILL_BATCH):
            await self.index.write(self.batch(min(FILL_BATCH, total - start)), [], True, {})
        self.written = total
        self.kinds = {k: v for k, v in query_kinds(self.corpus).items() if not k.startswith("hostile")}

    async def searches(self, stop: asyncio.Event, out: list[float]) -> None:
        kinds = list(self.kinds.values())
        interval = 1 / self.args.search_rate
        next_at = time.perf_counter()
        n = 0
        while not stop.is_set():
            make = kinds[n % len(kinds)]
            convs = self.corpus.convs if n % 5 == 4 else self.rng.sample(self.corpus.convs, 50)
            n += 1
            t = time.perf_counter()
            await self.index.search(
                make(self.rng), convs, [], conv=None, sender=None, before=None, after=None, limit=20, page=None
            )
            out.append(time.perf_counter() - t)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def writes(self, stop: asyncio.Event, out: list[float], rate: float) -> int:
        per_batch = max(1, round(rate * BATCH_S))
        count = 0
        next_at = time.perf_counter()
        while not stop.is_set():
            docs = self.batch(per_batch)
            t = time.perf_counter()
            await self.index.write(docs, [], True, {})
            out.append(time.perf_counter() - t)
            count += len(docs)
            next_at += BATCH_S
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        return count

    async def phase(self, name: str, rate: float, hogs: int) -> dict[str, Any]:
        pid = self.index.pid
        assert pid is not None
        stop_hogs = multiprocessing.Event()
        rounds = multiprocessing.Value("q", 0)
        spinners = [multiprocessing.Process(target=_spin, args=(stop_hogs, rounds), daemon=True) for _ in range(hogs)]
        for p in spinners:
            p.start()
        stop = asyncio.Event()
        searched: list[float] = []
        written: list[float] = []
        threads0, cpu0, t0 = thread_cpu(pid), cpu_seconds(pid), time.perf_counter()
        delay0, rounds0 = run_delay_s(pid), rounds.value
        tasks = [asyncio.ensure_future(self.searches(stop, searched))]
        writer = asyncio.ensure_future(self.writes(stop, written, rate)) if rate else None
        await asyncio.sleep(self.args.duration)
        stop.set()
        await asyncio.gather(*tasks)
        count = await writer if writer is not None else 0
        seconds = time.perf_counter() - t0
        cpu, threads1 = cpu_seconds(pid) - cpu0, thread_cpu(pid)
        delay, spun = run_delay_s(pid) - delay0, rounds.value - rounds0
        stop_hogs.set()
        for p in spinners:
            p.join()
        out: dict[str, Any] = {
            "search": _summary(searched),
            "index_process_cores": round(cpu / seconds, 3),
            "searches": len(searched),
            "indexed": count,
            "cpu_s": round(cpu, 3),
            "search_thread_cpu_wait_ms_per_search": round(delay / max(1, len(searched)) * 1000, 2),
            "hog_rounds_per_s": round(spun / seconds, 1),
            "thread_cpu_s": {k: round(v - threads0.get(k, 0.0), 2) for k, v in threads1.items()},
        }
        if written:
            out["write_round_trip"] = _summary(written)
        log(name, out)
        return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = Corpus(1, args.convs)
    with tempfile.TemporaryDirectory(prefix="cw-search-worker-") as tmp:
        index = ChildIndex(Path(tmp) / "search")
        await index.start()
        try:
            bench = Bench(index, corpus, args)
            t = time.perf_counter()
            await bench.fill()
            log(f"filled {args.messages} in {time.perf_counter() - t:.1f} s")
            await bench.phase("warm-up", 0, 0)
            idle = await bench.phase("idle", 0, 0)
            loaded = await bench.phase("loaded", args.rate, 0)
            contended = await bench.phase("contended", args.rate, args.hogs) if args.hogs else None
        finally:
            await index.close()
    per_query = idle["cpu_s"] / max(1, idle["searches"])
    result: dict[str, Any] = {
        "workload": "search_worker",
        "messages": args.messages,
        "rate": args.rate,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_us_per_query_idle": round(per_query * 1e6, 1),
        "idle": idle,
        "loaded": loaded,
    }
    for name, phase in (("loaded", loaded), ("contended", contended)):
        if phase is None:
            continue
        indexing = phase["cpu_s"] - per_query * phase["searches"]
        result[f"cpu_us_per_indexed_msg_{name}"] = round(indexing / max(1, phase["indexed"]) * 1e6, 1)
    if contended is not None:
        result["contended"] = contended
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--convs", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=5_000, help="messages/s indexed in the loaded phases")
    parser.add_argument("--search-rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2, help="spinning processes beside it")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
