"""Login replay: how long a user who comes back to 10,000 offline messages
in one conversation waits until the client holds them all.

PROTOCOL.md's delivery replays at most the newest 500 messages of a
conversation after `login`/`resume`, `unread` counts them all, and older
ones are reached with `history` (at most 200 a page). So "all 10,000 held"
is the replayed 500 plus `ChatClient.catch_up`'s history pages back from the
oldest replayed message, one page after another.

Set-up, on one server node with a Redis of its own (`servers.Deployment`,
the dm bench's set-up, abuse limits raised, argon2 at a trivial cost so a
password login measures the replay and not the hash):

- users `alice`, `bobdm` and `bobroom`; `bobroom` joins the room
  `#replay`, both bobs then go offline (each keeps its token);
- alice sends `--messages` to `@bobdm` and as many to `#replay` through the
  real `ChatClient`, pipelined (`--window` in flight), every send answered
  `ok` before the runs start (so every message is in Redis);
- each run opens a fresh `ChatClient` (the TUI's features, no acks: the
  cursor stays where it was, so every run replays the same backlog), says
  hello, then times, from the moment `login` (or `resume`) is sent:
  `reply_ms` (its `ok`), `replay_ms` (the last replayed message received),
  `all_ms` (the catch-up's last page: every message held, checked against
  the mids alice's sends were given, in order, none twice). The catch-up
  starts as soon as the first replayed message is in, while the rest of the
  replay is still arriving.
- CPU of the server process, its Redis and the client (this process) over
  that window, from /proc, and the Redis commands run in it (INFO
  commandstats), so a shared machine's noise can be read past.

Runs alternate dm/room and login/resume; each combination reports the
median and the worst of `--runs`.

    python -m bench.login_replay [--messages 10000] [--runs 5] [--window 256]
    python -m bench.login_replay --runs 20 --profile /tmp/p   # + py-spy of the server and the client
    python -m bench.profile /tmp/p/login_replay-server.txt

One JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chinwag.protocol import limits
from chinwag.protocol.client import KNOWN_FEATURES, ChatClient
from chinwag.protocol.messages import Message

from . import servers
from .clients import HOST, PASSWORD, install_uvloop
from .machine import busy_cores, cpu_seconds_fine
from .redis_ops import OWN_COMMANDS
from .servers import CHEAP_ARGON2, Deployment

SENDER = "alice"
ROOM = "replay"
TEXT = "an offline message of an ordinary length, about sixty chars:"
DEADLINE_S = 120.0  # one run, all told: a hang is a failure, not a wait


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


async def _client(port: int) -> ChatClient:
    client = ChatClient(HOST, port, auto_ack=False, features=KNOWN_FEATURES, connect_timeout=30)
    await client.connect()
    return client


async def prepare(port: int, messages: int, window: int) -> dict[str, Any]:
    """Accounts, the room, the bobs' tokens, then alice's sends; returns
    what the runs need: tokens, and the mids of each conversation in order."""
    setup = await _client(port)
    for name in (SENDER, "bobdm", "bobroom"):
        await setup.register(name, PASSWORD)
    await setup.close()
    tokens: dict[str, str] = {}
    for name in ("bobdm", "bobroom"):
        bob = await _client(port)
        tokens[name] = (await bob.login(name, PASSWORD)).token
        if name == "bobroom":
            await bob.join(ROOM)
        await bob.close()
    alice = await _client(port)
    await alice.login(SENDER, PASSWORD)
    await alice.join(ROOM)
    mids: dict[str, list[str]] = {}
    fill_s: dict[str, float] = {}
    for to in ("@bobdm", f"#{ROOM}"):
        started = time.perf_counter()
        got: list[str] = []
        for start in range(0, messages, window):
            futures = [alice.send_nowait(to, f"{TEXT} {i:06d}") for i in range(start, min(start + window, messages))]
            got += [reply["mid"] for reply in await asyncio.gather(*futures)]
        fill_s[to] = time.perf_counter() - started
        mids[to] = got
        log(f"login_replay: {messages} sends to {to} in {fill_s[to]:.2f} s")
    await alice.close()
    return {"tokens": tokens, "mids": mids, "fill_s": fill_s}


def _cpu(deployment: Deployment) -> dict[str, float]:
    return {"server": cpu_seconds_fine(deployment.pids[0]), "redis": cpu_seconds_fine(deployment.redis_pid)}


async def one_run(deployment: Deployment, bob: str, conv: str, how: str, token: str, want: list[str]) -> dict[str, Any]:
    """One login (or resume) of `bob` and the catch-up of `conv`, timed."""
    client = await _client(deployment.ports[0])
    stats0, cpu0, own0 = deployment.commandstats(), _cpu(deployment), time.process_time()
    t0 = time.perf_counter()
    session = await (client.login(bob, PASSWORD) if how == "login" else client.resume(token))
    t_reply = time.perf_counter()
    unread = session.unread.get(conv, 0)
    expected = min(unread, limits.REPLAY_MAX)
    replayed: list[Message] = []
    catch_up: asyncio.Task[list[Message]] | None = None
    t_first = t_replay = t_reply
    while len(replayed) < expected:
        for event in await client.next_batch(1024):
            if type(event) is Message and event.conv == conv:
                replayed.append(event)
                if catch_up is None:
                    t_first = time.perf_counter()
                    catch_up = asyncio.create_task(client.catch_up(conv, unread, event.mid, expected))
    t_replay = time.perf_counter()
    older = await catch_up if catch_up is not None else []
    t_all = time.perf_counter()
    own1, cpu1, stats1 = time.process_time(), _cpu(deployment), deployment.commandstats()
    await client.close()
    held = [m.mid for m in older] + [m.mid for m in replayed]
    if held != want:
        raise AssertionError(
            f"{how} {conv}: held {len(held)} ({len(set(held))} distinct), want {len(want)}; unread {unread}"
        )
    commands = sum(calls - stats0.get(cmd, (0, 0))[0] for cmd, (calls, _) in stats1.items() if cmd not in OWN_COMMANDS)
    return {
        "unread": unread,
        "replayed": len(replayed),
        "history_pages": -(-len(older) // limits.HISTORY_MAX),
        "reply_ms": (t_reply - t0) * 1000,
        "first_replayed_ms": (t_first - t0) * 1000,
        "replay_ms": (t_replay - t0) * 1000,
        "all_ms": (t_all - t0) * 1000,
        "server_cpu_ms": (cpu1["server"] - cpu0["server"]) * 1000,
        "redis_cpu_ms": (cpu1["redis"] - cpu0["redis"]) * 1000,
        "client_cpu_ms": (own1 - own0) * 1000,
        "redis_commands": commands,
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: runs[0][k] for k in ("unread", "replayed", "history_pages")}
    for key in ("reply_ms", "first_replayed_ms", "replay_ms", "all_ms", "server_cpu_ms", "redis_cpu_ms"):
        values = [r[key] for r in runs]
        out[key] = {
            "median": round(statistics.median(values), 1),
            "worst": round(max(values), 1),
            "best": round(min(values), 1),  # the run others' load disturbed least
        }
    for key in ("client_cpu_ms", "redis_commands"):
        out[key] = round(statistics.median(r[key] for r in runs), 1)
    all_ms = out["all_ms"]
    out["server_cpu_us_per_msg"] = round(out["server_cpu_ms"]["median"] * 1000 / max(1, runs[0]["unread"]), 2)
    out["target_all_ms<=1000"] = {"median": all_ms["median"] <= 1000, "worst": all_ms["worst"] <= 1000}
    return out


async def measure(deployment: Deployment, messages: int, runs: int, window: int) -> dict[str, Any]:
    prepared = await prepare(deployment.ports[0], messages, window)
    combos = [
        ("dm", "bobdm", f"@{SENDER}", "@bobdm"),
        ("room", "bobroom", f"#{ROOM}", f"#{ROOM}"),
    ]
    results: dict[str, list[dict[str, Any]]] = {}
    recorders = deployment.profile_start("login_replay-server")
    client_recorder = servers.record(os.getpid(), "login_replay-client")
    for i in range(runs):
        for variant, bob, conv, to in combos:
            for how in ("login", "resume"):
                run = await asyncio.wait_for(
                    one_run(deployment, bob, conv, how, prepared["tokens"][bob], prepared["mids"][to]), DEADLINE_S
                )
                results.setdefault(f"{variant}_{how}", []).append(run)
                log(
                    f"login_replay: run {i + 1} {variant} {how}: reply {run['reply_ms']:.1f} ms, "
                    f"replay {run['replay_ms']:.1f} ms, all {run['all_ms']:.1f} ms, "
                    f"server {run['server_cpu_ms']:.0f} / redis {run['redis_cpu_ms']:.0f} / "
                    f"client {run['client_cpu_ms']:.0f} ms CPU"
                )
    deployment.profile_stop(recorders)
    servers.stop_recording(client_recorder)
    return {
        "fill_sends_per_s": {to: round(messages / s) for to, s in prepared["fill_s"].items()},
        **{name: summary(rs) for name, rs in results.items()},
    }


def run(messages: int = 10_000, runs: int = 5, window: int = 256) -> dict[str, Any]:
    busy = busy_cores(0.5)
    with Deployment(1, CHEAP_ARGON2) as deployment:
        figures = asyncio.run(measure(deployment, messages, runs, window))
        warnings = len(deployment.errors_logged())
    return {
        "workload": "login_replay",
        "messages": messages,
        "runs": runs,
        "fill_window": window,
        **figures,
        "server_warnings": warnings,
        "machine_busy_before": round(busy, 2),
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.login_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="offline messages per conversation")
    parser.add_argument("--runs", type=int, default=5, help="runs of each of dm/room x login/resume")
    parser.add_argument("--window", type=int, default=256, help="sends in flight while filling")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy the server and this client over the runs into DIR"
    )
    args = parser.parse_args()
    servers.PROFILE_DIR = args.profile
    install_uvloop()
    print(json.dumps(run(args.messages, args.runs, args.window)))


if __name__ == "__main__":
    main()
