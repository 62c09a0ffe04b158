"""`python -m bench.floor`: where chinwag's cost per DM comes from, as a
ladder of servers driven by the same generator (bench/traffic.py) and
pinned alike (`--pin`: the server tree on one core, the generator on the
other):

1. ngIRCd: C, relays and forgets (bench/ngircd.py; skipped when it is not
   installed);
2. `relay`: the floor relay (bench/floor_relay.py), Python on uvloop, the
   same few lines of IRC, relays and forgets;
3. `relay+redis`: the same, each loop turn's messages stored in Redis in
   one script call before they are relayed and their sender's PONG goes;
4. chinwag, through the raw driver.

Each step adds one thing: the language, then the store before the answer,
then everything chinwag does besides (accounts, ids, the sender's echo, acks
and cursors, order, limits, hostile input). The dm workload runs in each, a
closed loop and then the fixed rates; one JSON line per server on stdout, a
table on stderr.

    python -m bench.floor --pin [--clients 50] [--window 8] [--rate 10000,1000] [--duration 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, cast

from . import dm, machine
from .ngircd import find_ngircd
from .peer import loss
from .pinning import Pinning, pin_tree
from .targets import Target

LADDER: tuple[Target, ...] = ("ngircd", "relay", "relay+redis", "chinwag")


def _cpu(phase: dict[str, Any]) -> Any:
    return phase.get("server_tree_cpu_us_per_msg")


def _syscalls(phase: dict[str, Any]) -> str:
    """`reads+writes` per DM of the server, then of its Redis."""
    calls = phase.get("syscalls_per_msg") or {}
    return " / ".join(
        f"{(calls.get(side) or {}).get('read')}+{(calls.get(side) or {}).get('write')}" for side in ("server", "redis")
    )


def table(results: dict[str, dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Rows of (what, one figure per server in `results`' order)."""
    runs = list(results.values())
    rows: list[tuple[str, list[Any]]] = [
        ("closed loop, DMs/s", [r.get("delivered_per_s") for r in runs]),
        ("closed loop, server tree CPU µs/DM", [_cpu(r) for r in runs]),
        ("closed loop, of it Redis µs/DM", [r.get("redis_cpu_us_per_msg") for r in runs]),
        ("closed loop, reads+writes per DM (server / Redis)", [_syscalls(r) for r in runs]),
    ]
    rates = [f.get("offered_per_s") for f in (runs[0].get("fixed_rate") or [])] if runs else []
    for i, rate in enumerate(rates):
        phases = [(r.get("fixed_rate") or [{}] * (i + 1))[i] for r in runs]
        rows.append((f"at {rate:,.0f}/s, server tree CPU µs/DM", [_cpu(p) for p in phases]))
        rows.append((f"at {rate:,.0f}/s, p50 / p99 ms", [f"{p.get('p50_ms')} / {p.get('p99_ms')}" for p in phases]))
        rows.append((f"at {rate:,.0f}/s, reads+writes per DM (server / Redis)", [_syscalls(p) for p in phases]))
    rows.append(("loss check (every phase)", [_loss(r) for r in runs]))
    return rows


def _loss(run: dict[str, Any]) -> str:
    """`ok`, or what went wrong over every phase (the comparison's own check)."""
    return loss(run, [run, *(run.get("fixed_rate") or [])])


def print_table(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    body = table(results)
    width = max(len(what) for what, _ in body)
    cols = [max(len(n), *(len(str(v[i])) for _, v in body)) for i, n in enumerate(names)]
    print(" " * width + "  " + "  ".join(n.rjust(c) for n, c in zip(names, cols, strict=True)), file=sys.stderr)
    for what, values in body:
        cells = "  ".join(str(v).rjust(c) for v, c in zip(values, cols, strict=True))
        print(what.ljust(width) + "  " + cells, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--peers", type=int, default=16)
    parser.add_argument("--rate", default="10000,1000", help="fixed-rate phases, sends/s offered (0 skips them)")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--pin", nargs="?", const="0:1", metavar="SERVER:LOADGEN")
    parser.add_argument("--servers", default=",".join(LADDER), help=f"comma-separated, from {', '.join(LADDER)}")
    parser.add_argument("--ngircd", metavar="PATH")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in LADDER]
    if unknown:
        parser.error(f"unknown server {unknown[0]!r}; choose from {', '.join(LADDER)}")
    ngircd = find_ngircd(args.ngircd)
    if "ngircd" in wanted and ngircd is None:
        print("python -m bench.floor: no ngircd binary, so no ngIRCd step (apt install ngircd)", file=sys.stderr)
        wanted.remove("ngircd")
    pin = Pinning.parse(args.pin) if args.pin else None
    rates = [float(r) for r in args.rate.split(",") if float(r) > 0]
    machine.raise_fd_limit()
    results: dict[str, dict[str, Any]] = {}
    for name in wanted:
        target = cast(Target, name)  # checked against LADDER above
        busy = machine.wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else machine.busy_cores(0.5)
        print(f"[floor {time.strftime('%H:%M:%S')}] dm on {name} (machine busy before: {busy:.2f})", file=sys.stderr)
        unpinned = os.sched_getaffinity(0)
        if pin is not None:
            pin.pin_loadgen([os.getpid()])
        try:
            result = dm.run(
                clients=args.clients,
                window=args.window,
                rates=rates,
                duration=args.duration,
                warmup=args.warmup,
                procs=args.procs,
                peers=args.peers,
                target=target,
                driver="raw",
                pin=pin,
                ngircd=ngircd,
            )
        except Exception as exc:  # one broken step must not hide the others
            result = {"workload": "dm", "target": name, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            if pin is not None:
                pin_tree([os.getpid()], unpinned)
        result["machine_busy_before"] = round(busy, 2)
        result["when"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(json.dumps(result), flush=True)
        results[name] = result
    print_table(results)
    return 1 if any(_loss(r) != "ok" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
