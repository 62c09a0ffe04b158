"""What the search index costs: indexing, commits, queries, disk.

Indexes `--messages` synthetic ten-word messages (words drawn from a Zipf
vocabulary; one in ten messages in Chinese) in `--convs` conversations,
committing every `--batch`, into a directory; then reports

- indexing throughput, and the time of one commit of a few new messages on
  the full index (what the server's commit timer pays);
- query latency p50/p99 per kind of query, for a caller in 50 conversations
  and for one in all of them, first pages and second pages;
- disk bytes per message, after merges;
- whether a commit and a search run in a thread leave the event loop free
  (the longest gap of a 1 ms ticker while they run in `asyncio.to_thread`,
  against running them on the loop itself).

    python -m bench.search_index [--messages 200000] [--convs 1000] [--batch 2000]

One JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chinwag.server.search import IndexedMessage, ParsedQuery, SearchIndex, parse_query

from .stats import percentile, rounded

START_MS = 1_700_000_000_000
VOCABULARY = 30_000
HAN = [chr(0x4E00 + i) for i in range(0, 20_000, 7)]  # ~2,900 characters


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY:
        length = min(14, max(2, int(rng.gauss(6, 2.5))))
        words.add("".join(rng.choices(string.ascii_lowercase, k=length)))
    return sorted(words)  # in a fixed order; the Zipf rank is then random with respect to spelling


class Corpus:
    """Deterministic synthetic messages, Zipf-distributed words."""

    def __init__(self, seed: int, convs: int) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.cum_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(self.words))))
        self.convs = [f"#room{i}" if i % 2 else f"@u{i}:v{i}" for i in range(convs)]
        self.sample_texts: list[str] = []

    def text(self) -> str:
        if self.rng.random() < 0.1:
            return " ".join("".join(self.rng.choices(HAN, k=self.rng.randint(2, 4))) for _ in range(10))
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum_weights, k=10))

    def messages(self, count: int, first_ms: int) -> list[IndexedMessage]:
        out = []
        for n in range(count):
            ms = first_ms + n // 3  # a few messages share a millisecond, across conversations
            text = self.text()
            if len(self.sample_texts) < 2_000 and self.rng.random() < 0.01:
                self.sample_texts.append(text)
            conv = self.rng.choice(self.convs)
            out.append(IndexedMessage(conv, f"{ms}-{n % 3}", f"user{self.rng.randrange(500)}", ms, text))
        return out


def build(index: SearchIndex, corpus: Corpus, total: int, batch: int) -> dict[str, Any]:
    elapsed = 0.0
    upserts = 0.0
    commits: list[float] = []
    for start in range(0, total, batch):
        count = min(batch, total - start)
        messages = corpus.messages(count, START_MS + start // 3)  # not timed: the bench's own work
        t = time.perf_counter()
        index.upsert(messages)
        upserted = time.perf_counter()
        index.commit()
        done = time.perf_counter()
        upserts += upserted - t
        elapsed += done - t
        commits.append(done - upserted)
        if start // batch % 20 == 0:
            log(f"indexed {start + count}/{total}")
    return {
        "index_s": round(elapsed, 2),
        "messages_per_s": round(total / elapsed),
        "upsert_us_per_message": round(1e6 * upserts / total, 1),
        f"commit_of_{batch}_p50_ms": rounded(1000 * (percentile(sorted(commits), 50) or 0)),
    }


def small_commits(index: SearchIndex, corpus: Corpus, total: int, rounds: int = 60) -> dict[str, Any]:
    """A few new messages, then a commit: what every timer tick costs."""
    times = []
    for r in range(rounds):
        index.upsert(corpus.messages(5, START_MS + total + 10 * r))
        time.sleep(0.1)  # as the commit timer would
        t = time.perf_counter()
        index.commit()
        times.append(time.perf_counter() - t)
    times.sort()
    return {
        "commit_5_docs_p50_ms": rounded(1000 * (percentile(times, 50) or 0)),
        "commit_5_docs_p99_ms": rounded(1000 * (percentile(times, 99) or 0)),
    }


def query_kinds(corpus: Corpus) -> dict[str, Callable[[random.Random], str]]:
    common = corpus.words[:20]
    middling = corpus.words[200:2_000]
    rare = corpus.words[10_000:]
    latin = [t.split() for t in corpus.sample_texts if t.isascii()]
    han = [t.split() for t in corpus.sample_texts if not t.isascii()]
    return {
        "common_word": lambda r: r.choice(common),
        "middling_word": lambda r: r.choice(middling),
        "rare_word": lambda r: r.choice(rare),
        "prefix_1": lambda r: r.choice(string.ascii_lowercase),
        "prefix_2": lambda r: r.choice(middling)[:2],
        "prefix_4": lambda r: r.choice([w for w in middling if len(w) >= 5])[:4],
        "three_words": lambda r: " ".join(r.sample(r.choice(latin), 3)),
        "phrase": lambda r: (lambda ws, i: f'"{ws[i]} {ws[i + 1]}"')(r.choice(latin), r.randrange(9)),
        "han_2": lambda r: r.choice(r.choice(han))[:2],
        "han_3_or_4": lambda r: r.choice([w for ws in han for w in ws if len(w) > 2]),
        "hostile_han_200": lambda r: "".join(r.choices(HAN, k=200)),
        "hostile_40_prefixes": lambda r: " ".join(r.choice(corpus.words)[:4] for _ in range(40))[:200],
    }


def time_queries(index: SearchIndex, corpus: Corpus, runs: int) -> dict[str, Any]:
    rng = random.Random(7)
    all_convs = set(corpus.convs)
    out: dict[str, Any] = {}
    for name, make in query_kinds(corpus).items():
        for scope_name in ("50_convs", "all_convs"):
            first: list[float] = []
            second: list[float] = []
            hits = 0
            for _ in range(runs):
                query: ParsedQuery = parse_query(make(rng))
                convs = set(rng.sample(corpus.convs, 50)) if scope_name == "50_convs" else all_convs
                t = time.perf_counter()
                page = index.search(query, convs, limit=20)
                first.append(time.perf_counter() - t)
                hits += len(page.hits)
                if page.next is not None:
                    t = time.perf_counter()
                    index.search(query, convs, limit=20, page=page.next)
                    second.append(time.perf_counter() - t)
            first.sort()
            second.sort()
            out[f"{name}/{scope_name}"] = {
                "p50_ms": rounded(1000 * (percentile(first, 50) or 0)),
                "p99_ms": rounded(1000 * (percentile(first, 99) or 0)),
                "page2_p50_ms": rounded(1000 * p) if (p := percentile(second, 50)) is not None else None,
                "mean_hits": round(hits / runs, 1),
            }
            log(name, scope_name, out[f"{name}/{scope_name}"])
    return out


async def loop_gap(work: Callable[[], object], in_thread: bool) -> float:
    """The longest gap of a 1 ms ticker while `work` runs."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    if in_thread:
        await asyncio.to_thread(work)
    else:
        work()
        await asyncio.sleep(0.002)
    done.set()
    await task
    return max(gaps)


def gil(index: SearchIndex, corpus: Corpus, total: int) -> dict[str, Any]:
    heavy = parse_query("a")  # the widest query: every word starting with a
    convs = set(corpus.convs)

    def search() -> None:
        for _ in range(20):
            index.search(heavy, convs, limit=50)

    def commit() -> None:
        index.commit()

    out = {}
    for name, work in (("search_x20", search), ("commit_5000", commit)):
        if work is commit:
            index.upsert(corpus.messages(5_000, START_MS + total + 100_000))
        t = time.perf_counter()
        work()
        out[f"{name}_ms"] = round(1000 * (time.perf_counter() - t), 1)
        for in_thread in (True, False):
            if work is commit:
                index.upsert(corpus.messages(5_000, START_MS + total + 100_000))
            gap = asyncio.run(loop_gap(work, in_thread))
            out[f"{name}_loop_gap_{'in_thread' if in_thread else 'on_loop'}_ms"] = round(1000 * gap, 1)
    return out


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--convs", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=200, help="queries of each kind")
    parser.add_argument("--dir", type=Path, default=None, help="index directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.dir or Path(tmp)
        corpus = Corpus(1, args.convs)
        result: dict[str, Any] = {"workload": "search_index", "messages": args.messages, "convs": args.convs}
        with SearchIndex(path) as index:
            result |= build(index, corpus, args.messages, args.batch)
            result |= small_commits(index, corpus, args.messages)
        with SearchIndex(path) as index:  # closed: merges finished
            result |= {f"reopened_{k}": v for k, v in small_commits(index, corpus, args.messages + 1_000).items()}
            result["disk_bytes_per_message"] = round(disk_bytes(path) / index.num_messages, 1)
            result["queries"] = time_queries(index, corpus, args.runs)
            result |= gil(index, corpus, args.messages)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
