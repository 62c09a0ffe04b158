"""`dm`: N clients (default 200), each sending direct messages to random
others.

Two phases on one server and one set of logged-in clients:

- closed loop: every client keeps at most `window` sends in flight, as fast as
  the system goes; delivered messages/s, latency, loss, duplicates;
- fixed rate: `rate` sends/s offered in total (default 10,000), scheduled at
  exact times, latency measured from the scheduled time.

With `nodes` > 1, one Redis and that many server nodes (`servers.Deployment`),
the clients dealt round-robin over the nodes; a message goes to another node
when its recipient is on one (`cross_node_share`: (nodes-1)/nodes of them on
average).

"Delivered" counts a message once, at its recipient. The server also echoes
every message to the sender's connection (the protocol says so); those
deliveries are counted apart, as `echo_*`, and checked for loss as well.
(An IRC peer echoes nothing: `server_echoes` is false and `echo_*` are 0.)

`target` "ngircd" runs the same phases on ngIRCd through the IRC driver
(bench/irc.py); `driver` picks chinwag's: `client` (the real ChatClient) or
`raw` (bench/raw.py). `pin` puts the server tree and the load generator on
cores of their own (bench/pinning.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from . import targets
from .clients import user_names
from .drivers import DriverName
from .pinning import Pinning
from .traffic import (
    Delivery,
    PhaseResult,
    PhaseSpec,
    Ready,
    Settle,
    Settled,
    TrafficConfig,
    drive_phase,
    issue_lag_summary,
    latency_summary,
    traffic_worker,
)
from .workers import WorkerPool, split


def _phase_report(
    window: Any, results: list[PhaseResult], duration: float, node_of: dict[str, int], echoes: bool
) -> dict[str, Any]:
    acked: set[Delivery] = set()
    received: set[Delivery] = set()
    for r in results:
        acked.update(r.acked)
        received.update(r.received)
    cross = sum(node_of[d.sender] != node_of[d.recipient] for d in acked)
    delivered = sum(r.in_window for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for code, n in r.errors.items():
            errors[code] = errors.get(code, 0) + n
    out: dict[str, Any] = {
        "delivered_per_s": round(delivered / duration),
        "sent_per_s": round(sum(r.sent_in_window for r in results) / duration),
        **latency_summary([r.latencies for r in results]),
        **issue_lag_summary([r.issue_lags for r in results], [r.from_write for r in results]),
        "acked": len(acked),
        "lost": len(acked - received),
        "duplicated": sum(r.dups for r in results),
        "unacked_received": len(received - acked),
        "server_echoes": echoes,
        "echo_per_s": round(sum(r.echo_in_window for r in results) / duration),
        "echo_lost": sum(r.echo_lost for r in results),
        "echo_duplicated": sum(r.echo_dups for r in results),
        "acks_per_msg": round(sum(r.acks_sent for r in results) / max(1, len(acked)), 2),
        "send_errors": errors,
        "disconnected": sum(r.closed for r in results),
        "drain_timeouts": sum(r.unsatisfied for r in results),
        **window.report(delivered),
    }
    if len(set(node_of.values())) > 1:
        out["cross_node_share"] = round(cross / max(1, len(acked)), 3)
    if any(r.skipped for r in results):
        out["not_offered"] = sum(r.skipped for r in results)
    return out


def run(
    clients: int = 200,
    window: int = 8,
    rates: Sequence[float] = (10_000,),
    duration: float = 3.0,
    warmup: float = 1.0,
    procs: int = 2,
    peers: int = 16,
    acks: bool = True,
    seed: int = 1,
    nodes: int = 1,
    target: targets.Target = "chinwag",
    driver: DriverName = "client",
    pin: Pinning | None = None,
    ngircd: str | None = None,
) -> dict[str, Any]:
    names = user_names("dm", clients)
    if targets.speaks_irc(target):
        nodes = 1
    server = targets.start(target, names, nodes, ngircd)
    wire = targets.driver_for(target, driver)
    echoes = wire != "irc"
    try:
        targets.pin_server(server, pin)
        parts = split(names, procs)
        # round-robin over the nodes within each worker's share, so every
        # worker talks to every node
        node_of = {n: (i // procs) % nodes for i, n in enumerate(names)}
        configs = [
            TrafficConfig(
                "dm",
                server.ports[0],
                [server.ports[node_of[n]] for n in p],
                p,
                names,
                peers=peers,
                acks=acks,
                warm_both_ways=nodes > 1,
                driver=wire,
            )
            for p in parts
        ]
        with WorkerPool(traffic_worker, configs) as pool:
            if pin is not None:
                pin.pin_loadgen(pool.pids)
            pool.recv_all(Ready, timeout=120)
            pool.send_all(Settle())
            pool.recv_all(Settled, timeout=60)
            rss_idle = server.rss()
            rnd = random.Random(seed)
            specs = [
                PhaseSpec("dm", "closed", phase="c", tag=f"cw{i}", seed=rnd.randrange(1 << 30), window=window)
                for i in range(procs)
            ]
            w, results = drive_phase(server, pool, specs, warmup, duration)
            closed = _phase_report(w, results, duration, node_of, echoes)
            rss_after = server.rss()
            fixed = []
            for n, rate in enumerate(r for r in rates if r > 0):
                specs = [
                    PhaseSpec(
                        "dm",
                        "rate",
                        phase=f"r{n}",
                        tag=f"r{n}w{i}",
                        seed=rnd.randrange(1 << 30),
                        rate=rate * len(p) / clients,
                    )
                    for i, p in enumerate(parts)
                ]
                w, results = drive_phase(server, pool, specs, warmup, duration)
                fixed.append({"offered_per_s": rate, **_phase_report(w, results, duration, node_of, echoes)})
        return {
            "workload": "dm",
            **targets.describe(target, driver, server, pin),
            "nodes": nodes,
            "clients": clients,
            "peers_each": peers or clients - 1,
            "window": window,
            "duration_s": duration,
            "warmup_s": warmup,
            "loadgen_procs": procs,
            "client_acks": acks,
            **closed,
            "server_rss_kib": {"logged_in_idle": rss_idle["server"], "after": rss_after["server"]},
            **({"server_rss_kib_by_node": rss_after["nodes"]} if nodes > 1 else {}),
            "redis_rss_kib": rss_after["redis"],
            "fixed_rate": fixed,
            "server_warnings": len(server.errors_logged()),
        }
    finally:
        server.stop()
