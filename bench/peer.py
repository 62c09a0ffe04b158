"""`python -m bench --peer ngircd`: the dm and room workloads on chinwag and
then on ngIRCd, the same generator for both (bench/traffic.py; chinwag
through the `raw` driver unless `--driver client`, ngIRCd through the IRC
driver, bench/irc.py), in one run, and chinwag's figures beside ngIRCd's.

Output: the JSON line of every run on stdout (with `target` chinwag or
ngircd), then one `peer-comparison` JSON line holding the rows of the table;
the same table is printed for people on stderr. Every ratio is chinwag's
figure divided by ngIRCd's: above 1 is more throughput (good) or more
latency and CPU (bad). ngIRCd stores nothing; chinwag stores every message
in Redis before its `ok`. A loss check that is not `ok` on either side makes
the run exit 1: it is the live test of the raw and IRC drivers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from .targets import TARGET_NAMES

Row = dict[str, Any]


def _get(result: dict[str, Any], *path: str | int) -> Any:
    value: Any = result
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def ratio(ours: Any, theirs: Any) -> float | None:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or theirs == 0:
        return None
    return round(ours / theirs, 2)


def loss(result: dict[str, Any], phases: list[dict[str, Any]]) -> str:
    """`lost/duplicated` over every phase of a run, and what else went
    wrong: `ok` when nothing did."""
    lost = sum(p.get("lost", 0) + p.get("echo_lost", 0) for p in phases)
    dups = sum(p.get("duplicated", 0) + p.get("echo_duplicated", 0) for p in phases)
    unacked = sum(p.get("unacked_received", 0) for p in phases)
    errors = sum(sum((p.get("send_errors") or {}).values()) for p in phases)
    timeouts = sum(p.get("drain_timeouts", 0) for p in phases)
    if "error" in result:
        return "error"
    if not (lost or dups or unacked or errors or timeouts):
        return "ok"
    return f"lost {lost}, dup {dups}, unacked {unacked}, errors {errors}, timeouts {timeouts}"


def rows(workload: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[Row]:
    """The comparison of one workload's two runs, row by row."""
    out: list[Row] = []

    def row(what: str, unit: str, pick: Callable[[dict[str, Any]], Any], compare: bool = True) -> None:
        a, b = pick(ours), pick(theirs)
        out.append({"what": what, "unit": unit, "chinwag": a, "ngircd": b, "ratio": ratio(a, b) if compare else None})

    if workload == "dm":
        row("dm closed loop", "DMs/s", lambda r: _get(r, "delivered_per_s"))
        row("dm closed loop p50", "ms", lambda r: _get(r, "p50_ms"))
        row("dm closed loop p99", "ms", lambda r: _get(r, "p99_ms"))
        row("dm closed loop server CPU", "µs/DM", lambda r: _get(r, "server_tree_cpu_us_per_msg"))
        row("dm closed loop generator CPU", "µs/DM", lambda r: _get(r, "loadgen_cpu_us_per_msg"))
        offered = [f.get("offered_per_s") for f in ours.get("fixed_rate") or []]

        def fixed(i: int, key: str, default: Any = None) -> Callable[[dict[str, Any]], Any]:
            return lambda r: _get(r, "fixed_rate", i, key) or default

        for i, rate in enumerate(offered):
            label = f"dm at {rate:,.0f}/s"
            row(f"{label} delivered", "DMs/s", fixed(i, "delivered_per_s"))
            row(f"{label} p50", "ms", fixed(i, "p50_ms"))
            row(f"{label} p99", "ms", fixed(i, "p99_ms"))
            # the part of p50 the generator adds itself: a send leaves this late after the time it is measured from
            row(f"{label} generator lateness p50", "ms", fixed(i, "loadgen_issue_lag_p50_ms"), compare=False)
            row(f"{label} p50 from the write", "ms", fixed(i, "p50_from_write_ms"))
            row(f"{label} p99 from the write", "ms", fixed(i, "p99_from_write_ms"))
            row(f"{label} server CPU", "µs/DM", fixed(i, "server_tree_cpu_us_per_msg"))
            row(f"{label} not offered", "sends", fixed(i, "not_offered", 0), compare=False)
        row(
            "dm loss check",
            "",
            lambda r: loss(r, [r, *(r.get("fixed_rate") or [])]),
            compare=False,
        )
    else:
        row("room closed loop", "deliveries/s", lambda r: _get(r, "deliveries_per_s"))
        row("room closed loop", "messages/s", lambda r: _get(r, "messages_per_s"))
        row("room p50", "ms", lambda r: _get(r, "p50_ms"))
        row("room p99", "ms", lambda r: _get(r, "p99_ms"))
        row("room server CPU", "µs/delivery", lambda r: _get(r, "server_tree_cpu_us_per_msg"))
        row("room generator CPU", "µs/delivery", lambda r: _get(r, "loadgen_cpu_us_per_msg"))
        row("room receivers per message", "", lambda r: _get(r, "receivers_per_msg"), compare=False)
        row("room loss check", "", lambda r: loss(r, [r]), compare=False)
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(all_rows: list[Row], header: str) -> str:
    lines = [header, ""]
    cells = [
        (
            r["what"] + (f" ({r['unit']})" if r["unit"] else ""),
            _cell(r["chinwag"]),
            _cell(r["ngircd"]),
            f"{r['ratio']:.2f}x" if r["ratio"] is not None else "",
        )
        for r in all_rows
    ]
    titles = ("", "chinwag", "ngIRCd", "chinwag ÷ ngIRCd")
    widths = [max(len(c[i]) for c in [titles, *cells]) for i in range(4)]
    for c in [titles, *cells]:
        lines.append("  ".join([c[0].ljust(widths[0]), *(c[i].rjust(widths[i]) for i in (1, 2, 3))]).rstrip())
    return "\n".join(lines)


def compare(results: dict[str, dict[str, dict[str, Any]]], meta: dict[str, Any]) -> dict[str, Any]:
    """`results[workload][target]` -> the peer-comparison record."""
    all_rows: list[Row] = []
    for workload, by_target in results.items():
        if all(t in by_target for t in TARGET_NAMES):
            all_rows.extend(rows(workload, by_target["chinwag"], by_target["ngircd"]))
    return {"workload": "peer-comparison", "peer": "ngircd", **meta, "rows": all_rows}


def print_comparison(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)
    pinned = record.get("pinned")
    where = (
        f"server tree on cores {pinned['server_cpus']}, generator on {pinned['loadgen_cpus']}"
        if pinned
        else "not pinned"
    )
    header = (
        f"chinwag ({record.get('driver')} driver) beside {record.get('peer_version') or 'ngIRCd'}"
        f" (IRC driver), {where}; ngIRCd stores nothing, chinwag stores every message before its ok"
    )
    print("\n" + table(record["rows"], header) + "\n", file=sys.stderr, flush=True)


def failed_checks(record: dict[str, Any]) -> list[str]:
    """The loss checks that are not `ok`, on either side (the run then exits 1):
    the live test of both drivers."""
    return [
        f"{r['what']} on {side}: {r[side]}"
        for r in record["rows"]
        if r["what"].endswith("loss check")
        for side in TARGET_NAMES
        if r[side] != "ok"
    ]
