"""`python -m bench` (what `make bench` runs): start a real chinwag-server and
a Redis for each workload, drive it with real ChatClients from worker
processes, and print one JSON line per workload on stdout (progress goes to
stderr).

    python -m bench                      # the short default, under a minute
    python -m bench --full               # the figures in docs/performance.md
    python -m bench --workloads dm --duration 10 --clients 200
    python -m bench --workloads dm --profile /tmp/prof   # + py-spy of the server
    python -m bench --workloads dm,room --nodes 2 --duration 5   # 2 nodes, one Redis

dm and room run on one Redis started by the bench and `--nodes` server
nodes using it (`--redis-url`; default 1), clients dealt round-robin over
the nodes, and report Redis commands per delivered message from `INFO
commandstats` read before and after the measured window. connect and tui
always run one node with its own embedded Redis.

The workloads are described in bench/dm.py, bench/room.py, bench/connect.py
and docs/performance.md. `tui` runs bench/tui_bench.py (the TUI's own
benchmark) as the last workload when that file exists:
`python -m bench.tui_bench --duration SECONDS --messages N`, JSON lines on
stdout (run again without arguments if it rejects those).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import machine, servers, workers

WORKLOADS = ("dm", "room", "connect", "tui")

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "warmup": 0.5,
        "duration": 1.0,
        "connections": 1000,
        "users": 100,
        "tokens_per_user": 1,
        "password_users": 2,
        "password_logins": 4,
        "tui_duration": 1.0,
        "tui_messages": 300,
    },
    "default": {
        "warmup": 0.5,
        "duration": 2.0,
        "connections": 5000,
        "users": 500,
        "tokens_per_user": 1,
        "password_users": 2,
        "password_logins": 8,
        "tui_duration": 2.0,
        "tui_messages": 1000,
    },
    "full": {
        "warmup": 2.0,
        "duration": 15.0,
        "connections": 5000,
        "users": 500,
        "tokens_per_user": 10,
        "password_users": 20,
        "password_logins": 200,
        "tui_duration": 10.0,
        "tui_messages": 5000,
    },
}

TARGETS = {
    "dm": {"delivered_per_s": 20_000, "fixed_rate_p99_ms": 20.0},
    "room": {"deliveries_per_s": 100_000},
    "connect": {"server_rss_kib_per_conn": 20.0},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {', '.join(WORKLOADS)} (default: all)"
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run of a few seconds per workload")
    size.add_argument("--full", action="store_true", help="longer runs: the documented figures")
    parser.add_argument("--duration", type=float, help="measured seconds per phase (after warm-up)")
    parser.add_argument("--warmup", type=float, help="seconds of traffic before measuring")
    parser.add_argument("--clients", type=int, default=200, help="dm clients and room members (default 200)")
    parser.add_argument("--window", type=int, default=8, help="dm sends in flight per client (default 8)")
    parser.add_argument(
        "--peers",
        type=int,
        default=16,
        help="dm: how many others each client writes to, chosen at random; 0 = all (default 16)",
    )
    parser.add_argument(
        "--rate",
        default="10000",
        help="dm fixed-rate phases: offered sends/s in total, comma-separated for several; "
        "0 skips them (default 10000)",
    )
    parser.add_argument(
        "--no-acks",
        action="store_true",
        help="diagnostic: dm/room clients do not ack (shows what acks cost the server)",
    )
    parser.add_argument("--senders", type=int, default=10, help="room senders (default 10)")
    parser.add_argument("--room-window", type=int, default=16, help="room sends in flight per sender (default 16)")
    parser.add_argument("--connections", type=int, help="connect: connections to open (default 5000)")
    parser.add_argument("--users", type=int, help="connect: accounts the connections belong to (default 500)")
    parser.add_argument("--tokens-per-user", type=int, help="connect: password logins per account to mint tokens")
    parser.add_argument("--password-logins", type=int, help="connect: timed password logins")
    parser.add_argument("--password-users", type=int, help="connect: accounts for the password logins")
    parser.add_argument(
        "--resume-concurrency",
        type=int,
        default=64,
        help="connect: resumes in flight at once, all workers together (default 64)",
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=workers.default_procs(),
        help="load-generator worker processes (default %(default)s)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="dm and room: server nodes sharing one Redis, clients dealt "
        "round-robin over them (default 1; connect and tui always use 1)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each workload, wait up to this long for the machine to be "
        "nearly idle (others' work skews the figures); default 0",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="record the server with py-spy during each measured window into DIR"
    )
    return parser


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_tui(seconds: float, messages: int) -> list[dict[str, Any]]:
    """The TUI engineer's benchmark, if present: its JSON lines, passed through."""
    if not (Path(__file__).parent / "tui_bench.py").exists():
        log("tui: bench/tui_bench.py is not there; skipped")
        return []
    command = [sys.executable, "-m", "bench.tui_bench", "--duration", f"{seconds:g}", "--messages", str(messages)]
    budget = max(30.0, seconds * 6)
    for attempt in (command, command[:3]):  # without arguments if it does not take --duration
        try:
            done = subprocess.run(
                attempt, capture_output=True, text=True, timeout=budget, cwd=Path(__file__).parent.parent
            )
        except subprocess.TimeoutExpired:
            return [{"workload": "tui", "error": f"timed out after {budget:.0f} s"}]
        if done.returncode == 2 and attempt is command and "usage:" in done.stderr:
            continue
        lines = []
        for line in done.stdout.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        if done.returncode != 0:
            lines.append(
                {
                    "workload": "tui",
                    "error": f"exit status {done.returncode}",
                    "stderr_tail": done.stderr.strip().splitlines()[-5:],
                }
            )
        return lines
    return []


def annotate(result: dict[str, Any], mode: str) -> dict[str, Any]:
    """Add when and where, and whether each target was met."""
    name = result.get("workload", "")
    checks: dict[str, Any] = {}
    if name == "dm":
        checks["delivered_per_s>=20000"] = result["delivered_per_s"] >= 20_000
        for fixed in result.get("fixed_rate") or []:
            if fixed.get("offered_per_s") == 10_000:
                checks["fixed_10000_p99_ms<=20"] = (fixed["p99_ms"] or 1e9) <= 20 and not fixed.get("not_offered")
    elif name == "room":
        checks["deliveries_per_s>=100000"] = result["deliveries_per_s"] >= 100_000
    elif name == "connect":
        checks["server_rss_kib_per_conn<=20"] = result["server_rss_kib_per_conn"] <= 20
    if checks:
        result["targets_met"] = checks
    result["mode"] = mode
    result["when"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result["cores"] = os.cpu_count()
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in WORKLOADS]
    if unknown:
        print(
            f"python -m bench: unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}",
            file=sys.stderr,
        )
        return 2
    limits = {
        "nodes": 16,
        "duration": 600,
        "warmup": 60,
        "connections": 50_000,
        "clients": 5_000,
        "procs": 16,
        "password_logins": 2_000,
    }
    for key, most in limits.items():
        value = getattr(args, key)
        least = 1 if key == "nodes" else 0
        if value is not None and not least <= value <= most:
            print(f"python -m bench: --{key.replace('_', '-')} must be between {least} and {most}", file=sys.stderr)
            return 2
    mode = "quick" if args.quick else "full" if args.full else "default"
    p = dict(PRESETS[mode])
    for key in ("warmup", "duration", "connections", "users", "tokens_per_user", "password_users", "password_logins"):
        if getattr(args, key) is not None:
            p[key] = getattr(args, key)
    if args.duration is not None:
        p["tui_duration"] = args.duration
    servers.PROFILE_DIR = args.profile
    fds = machine.raise_fd_limit()
    log(
        f"{mode} run of {', '.join(wanted)}; open-files limit {fds}; {args.procs} load-generator processes"
        + (f"; dm and room on {args.nodes} nodes sharing one Redis" if args.nodes > 1 else "")
    )
    if args.nodes > 1 and {"connect", "tui"} & set(wanted):
        log("note: connect and tui run on one node whatever --nodes says")
    if "connect" in wanted and fds < p["connections"] * 2 + 200:
        log(f"warning: open-files limit {fds} is low for {p['connections']} connections")

    started = time.monotonic()
    failed = False
    for name in wanted:
        busy_before = machine.wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else machine.busy_cores(0.5)
        t0 = time.monotonic()
        log(f"{name} ... (machine busy before: {busy_before:.2f} cores)")
        try:
            if name == "dm":
                from . import dm

                rates = [float(r) for r in str(args.rate).split(",") if r.strip()]
                results = [
                    dm.run(
                        clients=args.clients,
                        window=args.window,
                        rates=rates,
                        duration=p["duration"],
                        warmup=p["warmup"],
                        procs=args.procs,
                        peers=args.peers,
                        acks=not args.no_acks,
                        nodes=args.nodes,
                    )
                ]
            elif name == "room":
                from . import room

                results = [
                    room.run(
                        members=args.clients,
                        senders=args.senders,
                        window=args.room_window,
                        duration=p["duration"],
                        warmup=p["warmup"],
                        procs=args.procs,
                        acks=not args.no_acks,
                        nodes=args.nodes,
                    )
                ]
            elif name == "connect":
                from . import connect

                results = [
                    connect.run(
                        connections=p["connections"],
                        users=p["users"],
                        tokens_per_user=p["tokens_per_user"],
                        password_users=p["password_users"],
                        password_logins=p["password_logins"],
                        procs=args.procs,
                        resume_concurrency=args.resume_concurrency,
                    )
                ]
            else:
                results = run_tui(p["tui_duration"], p["tui_messages"])
        except Exception as exc:  # one broken workload must not hide the others' figures
            failed = True
            results = [{"workload": name, "error": f"{type(exc).__name__}: {exc}"}]
        for result in results:
            result["machine_busy_before"] = round(busy_before, 2)
            print(json.dumps(annotate(result, mode)), flush=True)
        log(f"{name} done in {time.monotonic() - t0:.1f} s")
    log(f"all done in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
