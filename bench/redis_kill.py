"""Redis SIGKILL under a running server: how long until it serves again, and
is anything acknowledged lost?

A few senders send direct messages back to back (each send resent with the
same `cmid` after `internal` or a broken connection, as a client would)
while the server's embedded redis-server is SIGKILLed K times; the server's
supervisor restarts it on the same data. After each kill a probe logs in
afresh and sends, every 20 ms, until that works: the time from the kill to
the probe's `ok` is "serving again". At the end: is every acknowledged
message in history exactly once?

    python -m bench.redis_kill --kills 10 --senders 4

Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed, ServerError
from chinwag.server.process import ServerProcess

from .servers import FAULT_RUN_ARGS

PASSWORD = "redis-kill-bench-pw"
SERVER_ARGS = [
    *FAULT_RUN_ARGS,
    "--redis-max-deaths",
    "1000",
]


async def _session(port: int, name: str) -> ChatClient:
    while True:
        client = ChatClient("127.0.0.1", port, connect_timeout=2)
        try:
            await client.connect()
            await client.login(name, PASSWORD)
            return client
        except (ServerError, ConnectionClosed, OSError):
            await client.close()
            await asyncio.sleep(0.05)


async def _probe(port: int, name: str) -> None:
    """A fresh connection, login and send, retried until all three work."""
    while True:
        client = ChatClient("127.0.0.1", port, connect_timeout=2)
        try:
            await client.connect()
            await client.login(name, PASSWORD)
            await client.send("@sink", "probe")
            return
        except (ServerError, ConnectionClosed, OSError):
            await asyncio.sleep(0.02)
        finally:
            await client.close()


async def _sender(
    port: int, name: str, to: str, acked: dict[str, str], refused: list[int], stop: asyncio.Event
) -> None:
    client = await _session(port, name)
    seq = 0
    try:
        while not stop.is_set():
            seq += 1
            text, cmid = f"{name} {seq}", uuid.uuid4().hex
            while True:  # the same cmid until it is acknowledged: stored once
                try:
                    sent = await asyncio.wait_for(client.send(to, text, cmid), 10)
                    acked[text] = sent.mid
                    break
                except ServerError:
                    refused[0] += 1
                    await asyncio.sleep(0.05)
                except (TimeoutError, ConnectionClosed, OSError):
                    await client.close()
                    client = await _session(port, name)
    finally:
        await client.close()


async def run(kills: int = 10, senders: int = 4, interval: float = 2.0) -> dict[str, object]:
    tmp = tempfile.mkdtemp(prefix="cw-rk-", dir="/tmp")  # short: Redis on a unix socket
    data = Path(tmp)
    server = ServerProcess(data, extra_args=SERVER_ARGS)
    server.start()
    names = [f"s{i}" for i in range(senders)] + ["probe", "sink"]
    acked: dict[str, str] = {}
    refused = [0]
    recoveries: list[float] = []
    stop = asyncio.Event()
    try:
        setup = ChatClient("127.0.0.1", server.port)
        await setup.connect()
        for name in names:
            await setup.register(name, PASSWORD)
        await setup.close()
        tasks = [asyncio.create_task(_sender(server.port, n, "@sink", acked, refused, stop)) for n in names[:senders]]
        await asyncio.sleep(interval)
        for _ in range(kills):
            pid = server.redis_pid()
            assert pid is not None, "the server's embedded Redis wrote no pid"
            killed_at = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.005)  # let the death be seen: the probe measures recovery
            await asyncio.wait_for(_probe(server.port, "probe"), 30)
            recoveries.append(time.monotonic() - killed_at)
            await asyncio.sleep(interval)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        reader = await _session(server.port, "sink")
        seen: dict[str, list[str]] = {}
        for name in names[:senders]:
            before = None
            while True:
                messages, more = await reader.history(f"@{name}", before=before, limit=200)
                for m in messages:
                    seen.setdefault(m.text, []).append(m.mid)
                if not more or not messages:
                    break
                before = messages[0].mid
        await reader.close()
    finally:
        status = server.stop()
        log = await asyncio.to_thread((data / "server.log").read_text, errors="replace")
        aof_bytes = await asyncio.to_thread(_aof_bytes, data)
        shutil.rmtree(tmp, ignore_errors=True)
    lost = sum(1 for text, mid in acked.items() if mid not in seen.get(text, []))
    duplicated = sum(len(mids) - 1 for mids in seen.values() if len(mids) > 1)
    return {
        "workload": "redis_kill",
        "kills": len(recoveries),
        "senders": senders,
        "acked": len(acked),
        "refused_then_resent": refused[0],
        "lost": lost,
        "duplicated": duplicated,
        "aof_bytes_at_end": aof_bytes,
        "serving_again_s": {
            "min": round(min(recoveries), 3),
            "median": round(statistics.median(recoveries), 3),
            "max": round(max(recoveries), 3),
        },
        "restart_warnings": log.count("WARNING chinwag.server.embedded_redis"),
        "server_exit_status": status,
    }


def _aof_bytes(data: Path) -> int:
    """The size of Redis's append-only files under `data`, the cost of durability."""
    return sum(f.stat().st_size for f in data.rglob("appendonly*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds of traffic between kills")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.kills, args.senders, args.interval))))


if __name__ == "__main__":
    main()
