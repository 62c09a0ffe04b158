"""Hostile clients against a legitimate pair: does anyone else suffer?

Alice sends Bob direct messages at a steady rate for a while with nobody
else around, then again while other connections send random bytes, mutated
frames, frames with wrong field types, huge declared lengths, a slowloris
(one byte at a time), connection churn, and floods of valid sends and typing
from a logged-in user. Prints one JSON line with Bob's latency (p50/p99),
losses and duplicates in both phases, and the server's RSS.

    python -m bench.hostile --seconds 10 --rate 15 --attackers 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed, ServerError
from chinwag.protocol.frames import encode_frame
from chinwag.protocol.messages import Message
from chinwag.server.process import FAST_ARGON2, ServerProcess, flags

PASSWORD = "hostile-bench-pw"
SERVER_ARGS = ["--log-level", "WARNING", *flags(FAST_ARGON2), "--registrations-per-address", "100000"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def legit_phase(port: int, seconds: float, rate: float) -> dict[str, Any]:
    alice, bob = ChatClient("127.0.0.1", port), ChatClient("127.0.0.1", port)
    await alice.connect()
    await bob.connect()
    await alice.login("alice", PASSWORD)
    await bob.login("bob", PASSWORD)
    with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
        while True:
            await bob.next_event(timeout=0.3)  # old replay, presence
    latencies: list[float] = []
    seen: set[str] = set()
    duplicates = 0
    acked: set[str] = set()

    async def receive() -> None:
        nonlocal duplicates
        while True:
            event = await bob.next_event()
            if isinstance(event, Message) and event.sender == "alice":
                if event.mid in seen:
                    duplicates += 1
                seen.add(event.mid)
                latencies.append((time.perf_counter() - float(event.text.split()[1])) * 1000)

    receiver = asyncio.create_task(receive())
    end = time.perf_counter() + seconds
    interval = 1.0 / rate
    next_at = time.perf_counter()
    i = 0
    while time.perf_counter() < end:
        i += 1
        sent = await alice.send("@bob", f"{i} {time.perf_counter()!r}")
        acked.add(sent.mid)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.sleep(1.0)
    receiver.cancel()
    await alice.close()
    await bob.close()
    return {
        "sent": i,
        "acked": len(acked),
        "received": len(seen),
        "lost": len(acked - seen),
        "duplicates": duplicates,
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


async def _raw(port: int, payload: bytes, *, hello: bool = True, trickle: float = 0.0) -> None:
    with contextlib.suppress(OSError, asyncio.TimeoutError, TimeoutError):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        try:
            if hello:
                writer.write(encode_frame({"type": "hello", "id": 1, "version": 1}))
            if trickle:
                for byte in payload:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(trickle)
            else:
                writer.write(payload)
                await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(reader.read(65536), 0.2)
        finally:
            writer.close()


async def attacker(port: int, stop_at: float, rng: random.Random, counts: dict[str, int]) -> None:
    valid = encode_frame({"type": "send", "id": 2, "to": "@bob", "text": "hi"})
    while time.perf_counter() < stop_at:
        kind = rng.randrange(6)
        if kind == 0:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        elif kind == 1:
            buf = bytearray(valid)
            for _ in range(3):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            payload = bytes(buf)
        elif kind == 2:
            payload = encode_frame({"type": "send", "id": "x", "to": 5, "text": b"bin"}) + encode_frame(
                {"type": rng.choice(["login", "history", "join"]), "id": 3, "username": [1]}
            )
        elif kind == 3:
            payload = (2**31).to_bytes(4, "big") + b"\x81"
        elif kind == 4:
            counts["slowloris"] += 1
            await _raw(port, encode_frame({"type": "ping", "id": 9})[:5], trickle=0.2)
            continue
        else:
            payload = b""
        counts["connections"] += 1
        await _raw(port, payload, hello=kind != 5)


async def flooder(port: int, stop_at: float, counts: dict[str, int]) -> None:
    client = ChatClient("127.0.0.1", port)
    await client.connect()
    await client.login("mallory", PASSWORD)
    while time.perf_counter() < stop_at:
        futures = [client.request_nowait("send", to="#lobby", text="spam " * 50) for _ in range(50)]
        for _ in range(20):
            client.typing("@bob")
        for future in futures:
            try:
                await future
                counts["flood_accepted"] += 1
            except ServerError as exc:
                counts["flood_" + exc.code] = counts.get("flood_" + exc.code, 0) + 1
            except ConnectionClosed:
                return
        await asyncio.sleep(0.01)
    await client.close()


async def run(seconds: float, rate: float, attackers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chinwag-hostile-") as tmp:
        server = ServerProcess(Path(tmp), extra_args=SERVER_ARGS)
        server.start()
        try:
            setup = ChatClient("127.0.0.1", server.port)
            await setup.connect()
            for name in ("alice", "bob", "mallory"):
                await setup.register(name, PASSWORD)
            await setup.close()
            rss_start = rss_kib(server.pid)
            quiet = await legit_phase(server.port, seconds, rate)
            counts = {"connections": 0, "slowloris": 0, "flood_accepted": 0}
            stop_at = time.perf_counter() + seconds + 1.5
            rng = random.Random(1)
            hostile = [
                asyncio.create_task(attacker(server.port, stop_at, random.Random(rng.random()), counts))
                for _ in range(attackers)
            ]
            hostile.append(asyncio.create_task(flooder(server.port, stop_at, counts)))
            await asyncio.sleep(0.5)
            attacked = await legit_phase(server.port, seconds, rate)
            rss_peak = rss_kib(server.pid)
            await asyncio.gather(*hostile, return_exceptions=True)
            await asyncio.sleep(1.0)
            rss_end = rss_kib(server.pid)
        finally:
            status = server.stop()
            log = (Path(tmp) / "server.log").read_text(errors="replace")
    return {
        "workload": "hostile",
        "seconds": seconds,
        "rate": rate,
        "attackers": attackers,
        "quiet": quiet,
        "under_attack": attacked,
        "hostile": counts,
        "server_rss_kib": {"start": rss_start, "during": rss_peak, "after": rss_end},
        "tracebacks_in_log": log.count("Traceback"),
        "errors_in_log": log.count(" ERROR "),
        "server_exit_status": status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=15.0, help="alice's messages per second (the default send limit is 20)"
    )
    parser.add_argument("--attackers", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.seconds, args.rate, args.attackers))))


if __name__ == "__main__":
    main()
