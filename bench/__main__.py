"""`python -m bench` (what `make bench` runs): start a real chinwag-server and
a Redis for each workload, drive it with real ChatClients from worker
processes, and print one JSON line per workload on stdout (progress goes to
stderr).

    python -m bench                      # the short default, under a minute
    python -m bench --full               # the figures in docs/performance.md
    python -m bench --workloads dm --duration 10 --clients 200
    python -m bench --workloads dm --profile /tmp/prof   # + py-spy of the server
    python -m bench --workloads dm,room --nodes 2 --duration 5   # 2 nodes, one Redis
    python -m bench --peer ngircd --pin  # dm and room on chinwag and on ngIRCd, side by side

dm and room run on one Redis started by the bench and `--nodes` server
nodes using it (`--redis-url`; default 1), clients dealt round-robin over
the nodes, and report Redis commands per delivered message from `INFO
commandstats` read before and after the measured window. connect and tui
always run one node with its own embedded Redis.

`--peer ngircd` runs dm and room on chinwag and then on ngIRCd (the system's
`ngircd` package; bench/ngircd.py, bench/peer.py), the same generator through
an IRC driver, and prints the two side by side. `--driver raw` (the default
with --peer) drives chinwag with the lean raw-protocol driver (bench/raw.py)
instead of the real ChatClient. `--pin` puts the server tree and the load
generator on cores of their own (bench/pinning.py).

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
from .drivers import CHINWAG_DRIVERS, DriverName
from .pinning import Pinning, pin_tree
from .targets import TARGET_NAMES, Target

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
        help="dm fixed-rate phases: offered sends/s in total, comma-separated for several; "
        "0 skips them (default 10000; with --peer 10000,1000)",
    )
    parser.add_argument(
        "--no-acks",
        action="store_true",
        help="diagnostic: dm/room clients do not ack (shows what acks cost the server)",
    )
    parser.add_argument("--members", type=int, help="room members (default: --clients)")
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
    parser.add_argument(
        "--peer",
        choices=["ngircd"],
        help="run dm and room on chinwag and on this IRC server (the same generator, an IRC driver) "
        "and print them side by side with ratios",
    )
    parser.add_argument(
        "--ngircd", metavar="PATH", help="the ngircd binary for --peer (default: ngircd on PATH or in /usr/sbin)"
    )
    parser.add_argument(
        "--driver",
        choices=CHINWAG_DRIVERS,
        help="how dm and room talk to chinwag: raw (the lean wire-protocol driver, bench/raw.py) or client "
        "(the real ChatClient); default raw with --peer, client otherwise",
    )
    parser.add_argument(
        "--pin",
        nargs="?",
        const="auto",
        metavar="SERVER:LOADGEN",
        help="dm and room: the server tree (chinwag's server and Redis, or ngIRCd) on one set of cores, the "
        "load generator on another; bare --pin is the first two cores (0:1), or give sets such as 0:1-3",
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
    """Add when and where, and whether each target was met (chinwag's
    targets: a peer's run has none)."""
    name = result.get("workload", "") if result.get("target", "chinwag") == "chinwag" else ""
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.peer and args.workloads == parser.get_default("workloads"):
        args.workloads = "dm,room"
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
    if args.peer and set(wanted) - {"dm", "room"}:
        print("python -m bench: --peer compares the dm and room workloads only", file=sys.stderr)
        return 2
    ngircd_binary = None
    if args.peer:
        from .ngircd import INSTALL_HINT, find_ngircd

        ngircd_binary = find_ngircd(args.ngircd)
        if ngircd_binary is None:
            print(
                INSTALL_HINT
                if args.ngircd is None
                else f"python -m bench: no executable ngircd at {args.ngircd}; to install it: apt install ngircd",
                file=sys.stderr,
            )
            return 1
    pin = None
    if args.pin:
        try:
            pin = Pinning.parse(args.pin)
        except ValueError as exc:
            print(f"python -m bench: {exc}", file=sys.stderr)
            return 2
    driver: DriverName = args.driver or ("raw" if args.peer else "client")
    rate_text = args.rate if args.rate is not None else ("10000,1000" if args.peer else "10000")
    targets_run: tuple[Target, ...] = TARGET_NAMES if args.peer else ("chinwag",)
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
        + (f"; chinwag beside {ngircd_binary}" if args.peer else "")
        + (f"; {driver} driver" if {"dm", "room"} & set(wanted) else "")
        + (f"; pinned: server tree on {sorted(pin.server)}, generator on {sorted(pin.loadgen)}" if pin else "")
    )
    if pin and {"connect", "tui"} & set(wanted):
        log("note: --pin applies to dm and room only")
    if args.nodes > 1 and {"connect", "tui"} & set(wanted):
        log("note: connect and tui run on one node whatever --nodes says")
    if "connect" in wanted and fds < p["connections"] * 2 + 200:
        log(f"warning: open-files limit {fds} is low for {p['connections']} connections")

    started = time.monotonic()
    failed = False
    compared: dict[str, dict[str, dict[str, Any]]] = {}
    only_chinwag: tuple[Target, ...] = ("chinwag",)
    for name, target in [(w, t) for w in wanted for t in (targets_run if w in ("dm", "room") else only_chinwag)]:
        busy_before = machine.wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else machine.busy_cores(0.5)
        t0 = time.monotonic()
        label = f"{name} on {target}" if args.peer else name
        log(f"{label} ... (machine busy before: {busy_before:.2f} cores)")
        unpinned = os.sched_getaffinity(0)
        if pin is not None and name in ("dm", "room"):
            pin.pin_loadgen([os.getpid()])  # the runner is part of the load generator
        try:
            if name == "dm":
                from . import dm

                rates = [float(r) for r in rate_text.split(",") if r.strip()]
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
                        target=target,
                        driver=driver,
                        pin=pin,
                        ngircd=ngircd_binary,
                    )
                ]
            elif name == "room":
                from . import room

                results = [
                    room.run(
                        members=args.members or args.clients,
                        senders=args.senders,
                        window=args.room_window,
                        duration=p["duration"],
                        warmup=p["warmup"],
                        procs=args.procs,
                        acks=not args.no_acks,
                        nodes=args.nodes,
                        target=target,
                        driver=driver,
                        pin=pin,
                        ngircd=ngircd_binary,
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
            results = [{"workload": name, "target": target, "error": f"{type(exc).__name__}: {exc}"}]
        finally:
            if pin is not None:
                pin_tree([os.getpid()], unpinned)  # connect and tui run unpinned
        if args.peer:
            compared.setdefault(name, {})[target] = results[0]
        for result in results:
            result["machine_busy_before"] = round(busy_before, 2)
            print(json.dumps(annotate(result, mode)), flush=True)
        log(f"{label} done in {time.monotonic() - t0:.1f} s")
    if args.peer:
        from . import peer

        versions = [by["ngircd"].get("peer_version") for by in compared.values() if "ngircd" in by]
        meta = {
            "driver": driver,
            "peer_version": next((v for v in versions if v), ""),
            "pinned": pin.describe() if pin else None,
            "mode": mode,
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        record = peer.compare(compared, meta)
        peer.print_comparison(record)
        broken = peer.failed_checks(record)
        if broken:
            failed = True
            log(f"loss check failed: {'; '.join(broken)}")
    log(f"all done in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
