"""A measured window: CPU and memory of the server (every node of a
`Deployment`), its Redis, the load generator and the whole machine between
`open()` and `close()`, and Redis's command counters for a `Deployment`."""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from .floor_relay import RelayServer
from .machine import io_syscalls, machine_cpu
from .ngircd import NgircdServer
from .redis_ops import redis_ops_report
from .servers import BenchServer, Deployment
from .workers import WorkerPool

# What a window measures: a chinwag server (one, or nodes sharing a Redis),
# the peer IRC server (no Redis), or the floor relay (with or without one).
WindowServer = BenchServer | Deployment | NgircdServer | RelayServer


def server_pids(server: WindowServer) -> tuple[list[int], int]:
    """The server's processes (every node), and its Redis's (0 for none: ngIRCd, the relay alone)."""
    if isinstance(server, Deployment):
        return server.pids, server.redis_pid
    if isinstance(server, BenchServer):
        return [server.pid], server.redis_pid() or 0
    return [server.pid], server.redis_pid


class Window:
    """CPU and memory of the server (every node of a `Deployment`), its Redis,
    the load generator and the whole machine between `open()` and `close()`,
    and Redis's command counters when the server is a `Deployment`."""

    def __init__(self, server: WindowServer, pool: WorkerPool | None, label: str = "") -> None:
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
        pids, redis_pid = server_pids(self.server)
        reads = writes = 0
        for pid in pids:
            r, w = io_syscalls(pid)
            reads, writes = reads + r, writes + w
        redis_reads, redis_writes = io_syscalls(redis_pid) if redis_pid else (0, 0)
        out = {
            "server": cpu["server"],
            "redis": cpu["redis"],
            "server_reads": reads,
            "server_writes": writes,
            "redis_reads": redis_reads,
            "redis_writes": redis_writes,
            "loadgen": self.pool.cpu() if self.pool else 0.0,
            "busy": busy,
            "total": total,
            "irq": irq,
        }
        if isinstance(self.server, Deployment):
            waits = self.server.run_delays()
            for i, (node_cpu, wait) in enumerate(zip(cpu["nodes"], waits, strict=False)):
                out[f"node{i}"] = node_cpu
                out[f"wait{i}"] = wait
            out["server_wait"] = sum(waits) / max(1, len(waits))
        else:
            out["server_wait"] = self.server.run_delay()
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
                "server": round(server / span, 2),
                "redis": round(redis_cpu / span, 2),
                "loadgen": round(loadgen / span, 2),
                "kernel_irq": round(irq / span, 2),
                "other": round(max(0.0, busy - server - redis_cpu - loadgen - irq) / span, 2),
                "machine_busy": round(busy / span, 2),
                "machine_cores": cores,
            },
            # share of the window the server's event loop was ready to run but
            # had no CPU: how much the others on the machine held it back
            # (with several nodes: the mean over the nodes)
            "server_runqueue_wait": round(self.delta("server_wait") / span, 2),
        }
        nodes = self.node_count
        if isinstance(self.server, Deployment):
            out["cpu_cores"]["server_by_node"] = [round(self.delta(f"node{i}") / span, 2) for i in range(nodes)]
            out["server_runqueue_wait_by_node"] = [round(self.delta(f"wait{i}") / span, 2) for i in range(nodes)]
        if delivered:
            out["server_cpu_us_per_msg"] = round(server / delivered * 1e6, 2)
            if isinstance(self.server, Deployment):
                out["server_cpu_us_per_msg_by_node"] = [
                    round(self.delta(f"node{i}") / delivered * 1e6, 2) for i in range(nodes)
                ]
            out["redis_cpu_us_per_msg"] = round(redis_cpu / delivered * 1e6, 2)
            # what the server side costs in all: chinwag's server(s) and its
            # Redis, or the peer IRC server (which has no Redis)
            out["server_tree_cpu_us_per_msg"] = round((server + redis_cpu) / delivered * 1e6, 2)
            out["loadgen_cpu_us_per_msg"] = round(loadgen / delivered * 1e6, 2)
            # read(2)- and write(2)-like calls per delivery, kernel-counted:
            # how many times each process went to its sockets per message
            out["syscalls_per_msg"] = {
                side: {kind: round(self.delta(f"{side}_{kind}s") / delivered, 2) for kind in ("read", "write")}
                for side in ("server", "redis")
            }
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
