"""`--pin`: the server tree (chinwag's server processes and their Redis, or
ngIRCd) on one set of cores and the load generator on another, so that
neither steals the other's CPU and the server's ceiling is its own.

Affinity is set on every thread of every process of a tree (the process,
its threads, its children and theirs, from /proc), since
`sched_setaffinity` on a pid moves only its main thread; threads and
children created later inherit it from their creator.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def threads(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (children of any of their threads)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        for tid in threads(p):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split())
    return out


def pin_tree(pids: Iterable[int], cpus: set[int]) -> list[int]:
    """Every thread of every process in the trees of `pids` onto `cpus`;
    the processes pinned."""
    pinned: list[int] = []
    for root in pids:
        for pid in tree(root):
            for tid in threads(pid):
                with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                    os.sched_setaffinity(tid, cpus)
            pinned.append(pid)
    return pinned


def parse_cpus(text: str) -> set[int]:
    """`0`, `0,2` or `0-3`."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        cpus.update(range(int(low), int(high) + 1) if sep else {int(low)})
    return cpus


@dataclass(frozen=True)
class Pinning:
    server: frozenset[int]
    loadgen: frozenset[int]

    @classmethod
    def parse(cls, spec: str) -> Pinning:
        """`auto` (the first two cores this process may use: the server on
        the first, the generator on the second) or `SERVER:LOADGEN` sets
        such as `0:1` or `0:1-3`."""
        allowed = os.sched_getaffinity(0)
        if spec == "auto":
            if len(allowed) < 2:
                raise ValueError(f"--pin needs two cores; this process may use only {sorted(allowed)}")
            first, second = sorted(allowed)[:2]
            return cls(frozenset({first}), frozenset({second}))
        server, sep, loadgen = spec.partition(":")
        if not sep:
            raise ValueError(f"--pin {spec!r}: expected SERVER_CPUS:LOADGEN_CPUS, e.g. 0:1")
        pinning = cls(frozenset(parse_cpus(server)), frozenset(parse_cpus(loadgen)))
        if pinning.server & pinning.loadgen:
            raise ValueError(f"--pin {spec!r}: the server and the load generator share cores")
        outside = (pinning.server | pinning.loadgen) - allowed
        if outside:
            raise ValueError(f"--pin {spec!r}: cores {sorted(outside)} are not available here ({sorted(allowed)})")
        return pinning

    def pin_server(self, pids: Iterable[int]) -> list[int]:
        return pin_tree(pids, set(self.server))

    def pin_loadgen(self, pids: Iterable[int]) -> list[int]:
        return pin_tree(pids, set(self.loadgen))

    def describe(self) -> dict[str, list[int]]:
        return {"server_cpus": sorted(self.server), "loadgen_cpus": sorted(self.loadgen)}
