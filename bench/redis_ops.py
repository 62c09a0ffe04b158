"""Redis's own command counters (`INFO commandstats`) turned into Redis
commands per delivered message, split into what the nodes sent and what the
server's Lua scripts ran."""

from __future__ import annotations

import re
from typing import Any

from chinwag.server import scripts as server_scripts


def _script_commands() -> frozenset[str]:
    """The commands the server's Lua scripts issue (redis.call('X', ...))."""
    found: set[str] = set()
    for value in vars(server_scripts).values():
        if isinstance(value, str):
            found.update(m.lower() for m in re.findall(r"redis\.call\('(\w+)'", value))
            # and those a script picks by name (SCAN: `cmd = 'XREVRANGE'`, then redis.call(cmd, ...))
            found.update(m.lower() for m in re.findall(r"\bcmd = '(\w+)'", value))
    return frozenset(found)


# Commands Redis counts in commandstats although no client sent them: each
# redis.call() inside a script is counted as a call of its own, besides the
# EVALSHA that ran the script. In a window of message traffic (no logins,
# joins or new conversations) these come from the scripts only.
SCRIPT_COMMANDS = _script_commands()
OWN_COMMANDS = frozenset({"info"})  # the bench's own reading of the counters


def redis_ops_report(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], delivered: int, top: int = 10
) -> dict[str, Any]:
    """Redis commands per delivered message between two `commandstats`
    readings, split into top-level calls (what the nodes sent: EVALSHA,
    PUBLISH, ...) and calls made inside scripts (XADD, SET, ... in the send
    script). `redis_ops_per_delivered` counts both kinds. Every message the
    server stores is one XADD, so XADD calls are the messages stored in the
    window, measured on Redis's side of it: `*_per_stored_msg` divides by them.

    Time: commandstats' microseconds of the top-level commands (a script's
    include the commands it ran), per delivery and per call. Redis measures
    them on the wall clock, so on a busy machine they include time Redis was
    preempted; per call, they are how long one call held Redis (every other
    client, every node, waits meanwhile)."""
    delta = {
        cmd: (calls - before.get(cmd, (0, 0))[0], usec - before.get(cmd, (0, 0))[1])
        for cmd, (calls, usec) in after.items()
        if cmd not in OWN_COMMANDS
    }
    delta = {cmd: cu for cmd, cu in delta.items() if cu[0] > 0}
    per = max(1, delivered)
    top_level = {c: n for c, (n, _) in delta.items() if c not in SCRIPT_COMMANDS}
    in_script = {c: n for c, (n, _) in delta.items() if c in SCRIPT_COMMANDS}
    top_usec = {c: delta[c][1] for c in top_level}

    def ranked(counts: dict[str, int], digits: int = 4) -> dict[str, float]:
        best = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return {c: round(n / per, digits) for c, n in best}

    total, total_top = sum(n for n, _ in delta.values()), sum(top_level.values())
    stored = delta.get("xadd", (0, 0))[0]
    out: dict[str, Any] = {
        "redis_ops_per_delivered": round(total / per, 3),
        "redis_top_level_ops_per_delivered": round(total_top / per, 3),
        "redis_in_script_ops_per_delivered": round((total - total_top) / per, 3),
        "redis_ops_by_command": {"top_level": ranked(top_level), "in_script": ranked(in_script)},
        "redis_calls_in_window": total,
        "redis_stored_in_window": stored,
        "redis_cmd_us_per_delivered": ranked(top_usec, 3),
        "redis_cmd_us_per_call": {
            c: round(top_usec[c] / top_level[c], 1) for c in sorted(top_level, key=lambda c: -top_level[c])[:4]
        },
    }
    if stored:
        out["redis_ops_per_stored_msg"] = round(total / stored, 2)
        out["redis_top_level_ops_per_stored_msg"] = round(total_top / stored, 3)
    return out
