"""`room`: N members (default 200) of one room, S of them (default 10)
sending into it, closed loop with `window` sends in flight each.

Every message goes to every member's connection, the sender's own included
(the protocol delivers to every connection of every member), so one accepted
message is N deliveries. Loss: every acknowledged message must reach every
member exactly once.

With `nodes` > 1, one Redis and that many server nodes (`servers.Deployment`),
the members dealt round-robin over the nodes: every message reaches the
members on the other nodes through the Redis pub/sub channel.

`target` "ngircd" runs it on ngIRCd (bench/irc.py): IRC does not deliver a
channel message to its sender, so there one accepted message is N-1
deliveries (`receivers_per_msg`), and loss is counted against that.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from . import targets
from .clients import user_names
from .drivers import DriverName
from .pinning import Pinning
from .traffic import (
    PhaseSpec,
    Ready,
    Settle,
    Settled,
    TrafficConfig,
    drive_phase,
    latency_summary,
    traffic_worker,
)
from .workers import WorkerPool, split

ROOM = "bench"


def run(
    members: int = 200,
    senders: int = 10,
    window: int = 16,
    duration: float = 3.0,
    warmup: float = 1.0,
    procs: int = 2,
    acks: bool = True,
    seed: int = 2,
    nodes: int = 1,
    target: targets.Target = "chinwag",
    driver: DriverName = "client",
    pin: Pinning | None = None,
    ngircd: str | None = None,
) -> dict[str, Any]:
    names = user_names("rm", members)
    sending = names[:senders]
    if targets.speaks_irc(target):
        nodes = 1
    server = targets.start(target, names, nodes, ngircd)
    wire = targets.driver_for(target, driver)
    # every member's connection gets each message; IRC leaves out the sender's
    receivers = members if wire != "irc" else members - 1
    try:
        targets.pin_server(server, pin)
        parts = split(names, procs)
        node_of = {n: (i // procs) % nodes for i, n in enumerate(names)}  # round-robin per worker
        configs = [
            TrafficConfig(
                "room",
                server.ports[0],
                [server.ports[node_of[n]] for n in p],
                p,
                names,
                room=ROOM,
                senders=[n for n in p if n in sending],
                acks=acks,
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
            rnd = random.Random(seed)
            specs = [
                PhaseSpec("room", "closed", phase="m", tag=f"mw{i}", seed=rnd.randrange(1 << 30), window=window)
                for i in range(procs)
            ]
            w, results = drive_phase(server, pool, specs, warmup, duration)
        acked: set[str] = set()
        counts: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for r in results:
            acked.update(d.mid for d in r.acked)
            counts.update(r.room_counts)
            errors.update(r.errors)
        deliveries = sum(r.in_window for r in results)
        # deliveries to members on another node than the sender's (senders send alike)
        cross = sum(node_of[m] != node_of[s] for s in sending for m in names) / max(1, len(sending) * members)
        rss = server.rss()
        return {
            "workload": "room",
            **targets.describe(target, driver, server, pin),
            "nodes": nodes,
            "members": members,
            "senders": senders,
            "window": window,
            "duration_s": duration,
            "warmup_s": warmup,
            "loadgen_procs": procs,
            "client_acks": acks,
            "receivers_per_msg": receivers,
            "deliveries_per_s": round(deliveries / duration),
            "messages_per_s": round(deliveries / duration / max(1, receivers)),
            **latency_summary([r.latencies for r in results]),
            "acked": len(acked),
            "lost": sum(receivers - counts[m] for m in acked),
            "duplicated": sum(r.dups for r in results),
            "unacked_received": sum(1 for m in counts if m not in acked),
            "acks_per_delivery": round(sum(r.acks_sent for r in results) / max(1, sum(counts[m] for m in acked)), 3),
            "send_errors": dict(errors),
            "disconnected": sum(r.closed for r in results),
            "drain_timeouts": sum(r.unsatisfied for r in results),
            **({"cross_node_share": round(cross, 3)} if nodes > 1 else {}),
            **w.report(deliveries),
            "server_cpu_us_per_accepted_msg": round(w.delta("server") / max(1, deliveries / receivers) * 1e6, 1),
            "server_tree_cpu_us_per_accepted_msg": round(
                (w.delta("server") + w.delta("redis")) / max(1, deliveries / receivers) * 1e6, 1
            ),
            "server_rss_kib": rss["server"],
            **({"server_rss_kib_by_node": rss["nodes"]} if nodes > 1 else {}),
            "redis_rss_kib": rss["redis"],
            "server_warnings": len(server.errors_logged()),
        }
    finally:
        server.stop()
