"""Chaos: clients chat while the server is SIGKILLed and restarted, and
while its Redis stalls.

N users, each on a ReconnectingClient, send direct messages and lobby
messages for T seconds while the server process (and with it its embedded
Redis, which follows its parent down) is killed K times and restarted on the
same data directory, and, between the kills, the embedded redis-server is
frozen S times (SIGSTOP, then SIGCONT a few seconds later: a Redis that stops
answering without closing anything). At the end every acknowledged message
must have reached every recipient exactly once after dedupe by (conv, mid),
and nothing that was never acknowledged may appear.

    python -m bench.chaos --clients 20 --duration 60 --kills 5 --stalls 3 --stall-seconds 3

Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.protocol.reconnect import ReconnectingClient
from chinwag.server import keys
from chinwag.server.conv import mid_key
from chinwag.server.embedded_redis import recorded_pid, running_url
from chinwag.server.process import ServerProcess
from chinwag.server.store import connect_redis

from .servers import FAULT_RUN_ARGS

PASSWORD = "chaos-password-1"
DRAIN_S = 120.0  # after the last ok, how long recipients get to catch up
SERVER_ARGS = [
    *FAULT_RUN_ARGS,
    "--login-failures-per-address",
    "100000",
    "--registrations-per-address",
    "100000",
]


def canonical(viewer: str, conv: str) -> str:
    if conv.startswith("#"):
        return conv
    a, b = sorted((viewer, conv[1:]))
    return f"@{a}:{b}"


@dataclass
class Tally:
    sent: int = 0
    acked: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (conv, mid) -> recipients
    received: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    duplicates: int = 0
    rejected: int = 0
    ack_latency_max: float = 0.0  # seconds from send_nowait to its ok, resends included
    resent: set[tuple[str, str]] = field(default_factory=set)  # (conv, mid) whose ok came on a later connection
    order: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)  # user -> (t, conv, mid) as received
    sent_at: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # key -> (send t, ok t)
    kills_at: list[float] = field(default_factory=list)

    def missing(self) -> list[tuple[str, str, str]]:
        """(conv, mid, recipient) of every acknowledged delivery not received."""
        got = self.received
        return [(*key, u) for key, recipients in self.acked.items() for u in recipients if key not in got.get(u, ())]


async def _sender(
    name: str,
    client: ReconnectingClient,
    users: list[str],
    tally: Tally,
    stop_at: float,
    rate: float,
    rng: random.Random,
    pending: list[asyncio.Future[object]],
) -> None:
    seq = 0
    while time.monotonic() < stop_at:
        seq += 1
        if rng.random() < 0.2:
            to, recipients = "#lobby", set(users)
        else:
            other = rng.choice([u for u in users if u != name])
            to, recipients = f"@{other}", {name, other}
        tally.sent += 1
        _, future = client.send_nowait(to, f"{name} {seq}")

        def done(
            f: asyncio.Future[object],
            to: str = to,
            recipients: set[str] = recipients,
            began: float = time.monotonic(),
            link: object = client.client,
        ) -> None:
            if f.cancelled() or f.exception() is not None:
                tally.rejected += 1
                return
            tally.ack_latency_max = max(tally.ack_latency_max, time.monotonic() - began)
            key = (canonical(name, to), f.result().mid)  # type: ignore[attr-defined]
            tally.acked[key] = recipients
            tally.sent_at[key] = (began, time.monotonic())
            if client.client is not link:
                tally.resent.add(key)

        future.add_done_callback(done)
        pending.append(future)  # type: ignore[arg-type]
        await asyncio.sleep(rng.expovariate(rate))


async def _receiver(name: str, client: ReconnectingClient, tally: Tally, last_event: list[float]) -> None:
    got = tally.received.setdefault(name, set())
    with contextlib.suppress(Exception):
        while True:
            event = await client.next_event()
            last_event[0] = time.monotonic()
            if isinstance(event, Message):
                key = (canonical(name, event.conv), event.mid)
                if key in got:
                    tally.duplicates += 1
                got.add(key)
                tally.order.setdefault(name, []).append((time.monotonic(), *key))


async def _explain(data_dir: Path, tally: Tally) -> dict[str, object]:
    """For the deliveries still missing: is the message stored, is the
    recipient's cursor past it, and was its ok the answer to a resend."""
    missing = tally.missing()
    if not missing:
        return {}
    redis = connect_redis(running_url(data_dir))
    try:
        out: dict[str, object] = {"resent": 0, "stored": 0, "cursor_past": 0, "convs": {}, "users": {}, "first": []}
        for conv, mid, user in missing:
            stored = bool(await redis.xrange(keys.stream(conv), mid, mid))
            cursor = await redis.hget(keys.cursors(user), conv)
            past = cursor is not None and mid_key(cursor) >= mid_key(mid)
            out["resent"] += (conv, mid) in tally.resent  # type: ignore[operator]
            out["stored"] += stored  # type: ignore[operator]
            out["cursor_past"] += past  # type: ignore[operator]
            for name, value in (("convs", conv), ("users", user)):
                bucket: dict[str, int] = out[name]  # type: ignore[assignment]
                bucket[value] = bucket.get(value, 0) + 1
            first: list[object] = out["first"]  # type: ignore[assignment]
            if len(first) < 12:
                got = tally.order.get(user, [])
                after = [(t, m) for t, c, m in got if c == conv and mid_key(m) > mid_key(mid)]
                t_next, m_next = min(after, key=lambda x: mid_key(x[1])) if after else (0.0, "")
                began, okd = tally.sent_at.get((conv, mid), (0.0, 0.0))
                kill = min(tally.kills_at, key=lambda k: abs(k - began)) if tally.kills_at else 0.0
                first.append(
                    {
                        "conv": conv,
                        "mid": mid,
                        "user": user,
                        "cursor": cursor,
                        "resent": (conv, mid) in tally.resent,
                        "sent_vs_kill": round(began - kill, 3),
                        "ok_vs_kill": round(okd - kill, 3),
                        "next_mid": m_next,
                        "next_got_vs_kill": round(t_next - kill, 3),
                    }
                )
        return out
    finally:
        await redis.aclose()


def _schedule(kills: int, stalls: int) -> list[str]:
    """Kills and stalls alternating (kills first), the surplus of either at the end."""
    out: list[str] = []
    for i in range(max(kills, stalls)):
        out += (["kill"] if i < kills else []) + (["stall"] if i < stalls else [])
    return out


async def _stall_redis(data_dir: Path, seconds: float) -> bool:
    """SIGSTOP the server's embedded redis-server for `seconds`, then SIGCONT."""
    pid = recorded_pid(data_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    return True


async def run_chaos(
    *,
    clients: int = 10,
    duration: float = 10.0,
    kills: int = 2,
    rate: float = 5.0,
    stalls: int = 0,
    stall_seconds: float = 3.0,
    data_dir: Path | None = None,
    seed: int = 1,
) -> dict[str, object]:
    rng = random.Random(seed)
    tmp = tempfile.TemporaryDirectory(prefix="chinwag-chaos-") if data_dir is None else None
    data = data_dir or Path(tmp.name)  # type: ignore[union-attr]
    server = ServerProcess(data, extra_args=SERVER_ARGS)
    server.start()
    users = [f"u{i:03d}" for i in range(clients)]
    tally = Tally()
    sessions: list[ReconnectingClient] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        setup = ChatClient("127.0.0.1", server.port)
        await setup.connect()
        await asyncio.gather(*(setup.register(u, PASSWORD) for u in users))
        await setup.close()
        for u in users:
            client = ReconnectingClient("127.0.0.1", server.port, backoff_base=0.1, backoff_cap=1.0, rand=rng.random)
            await client.start(username=u, password=PASSWORD)
            sessions.append(client)
        last_event = [time.monotonic()]
        pending: list[asyncio.Future[object]] = []
        start = time.monotonic()
        stop_at = start + duration
        for u, client in zip(users, sessions, strict=True):
            tasks.append(asyncio.create_task(_receiver(u, client, tally, last_event)))
            tasks.append(asyncio.create_task(_sender(u, client, users, tally, stop_at, rate, rng, pending)))
        killed = stalled = 0
        events = _schedule(kills, stalls)
        for k, event in enumerate(events):
            await asyncio.sleep(max(0.0, start + duration * (k + 1) / (len(events) + 1) - time.monotonic()))
            if event == "stall":
                stalled += await _stall_redis(data, stall_seconds)
                continue
            tally.kills_at.append(time.monotonic())
            server.kill()
            killed += 1
            await asyncio.sleep(0.3)
            await asyncio.to_thread(server.start)
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        # every queued send either gets its ok (perhaps after a resend) or a definitive error
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 60)
        # then every recipient catches up (or the deadline says it never will)
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            if all(c.state == "connected" for c in sessions) and not tally.missing():
                break
            await asyncio.sleep(0.2)
        detail = await _explain(data, tally)
    finally:
        for task in tasks:
            task.cancel()
        for client in sessions:
            with contextlib.suppress(Exception):
                await client.close()
        status = server.stop()
        gaps = _gaps_filled(server.log_path)
        if tmp is not None:
            tmp.cleanup()
    deliveries_expected = sum(len(r) for r in tally.acked.values())
    lost = len(tally.missing())
    unexpected = sum(1 for got in tally.received.values() for key in got if key not in tally.acked)
    delivered = sum(len(g) for g in tally.received.values())
    return {
        "workload": "chaos",
        "clients": clients,
        "duration_s": duration,
        "kills": killed,
        "redis_stalls": stalled,
        "stall_s": stall_seconds if stalled else 0.0,
        "ack_latency_max_s": round(tally.ack_latency_max, 3),
        "sent": tally.sent,
        "acked": len(tally.acked),
        "rejected": tally.rejected,
        "deliveries_expected": deliveries_expected,
        "delivered": delivered,
        "lost": lost,
        "unexpected": unexpected,
        "duplicated_after_dedupe": tally.duplicates,
        "server_exit_status": status,
        "lost_detail": detail,
        # entries stored but not heard live, each read from Redis by the node's gap repair (every run of the node)
        "gaps_filled": len(gaps),
        "gap_entries_read": sum(gaps),
    }


def _gaps_filled(log_path: Path) -> list[int]:
    """The entries each gap repair read, from the node's log (all its runs)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    return [int(n) for n in re.findall(r"filled a gap in \S+: (\d+) entries", text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--stalls", type=int, default=3, help="times the embedded Redis is frozen")
    parser.add_argument("--stall-seconds", type=float, default=3.0, help="how long each freeze lasts")
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second per client")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(
        run_chaos(
            clients=args.clients,
            duration=args.duration,
            kills=args.kills,
            rate=args.rate,
            stalls=args.stalls,
            stall_seconds=args.stall_seconds,
            seed=args.seed,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
