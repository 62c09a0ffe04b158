"""Half-open TLS handshakes against a real chinwag-server: what do they cost?

Starts `chinwag-server` with TLS (certificates made on the fly with
trustme), opens N plain TCP connections to its port from one or more
loopback addresses (127.0.0.2, 127.0.0.3, ...) that never finish the TLS
handshake (half send nothing, half send the first part of a ClientHello),
and reports the server's RSS and open sockets before and during the attack,
how many attacking sockets the server has closed after a few seconds, and
whether an honest TLS user (from 127.0.0.1) registers and logs in
while it lasts. One JSON line on stdout.

    python -m bench.handshakes --connections 10000 --addresses 1
    python -m bench.handshakes --connections 5000 -- --tls-handshake-timeout 2
    python -m bench.handshakes --connections 15000 --addresses 15 --hold 7
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.server.process import FAST_ARGON2, ServerProcess, flags

PASSWORD = "handshake-bench-pw"


# --- the server's side, read from /proc -------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_sockets(pid: int) -> int:
    """How many sockets the process holds (its listening socket and Redis
    connections included)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
    return count


def raise_fd_limit() -> int:
    """Soft open-files limit up to the hard one (a server started after
    inherits it); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- certificates -------------------------------------------------------------------------


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(ca, cert chain, key) PEM files for 127.0.0.1, made with trustme."""
    import trustme  # a test dependency: only the benchmark and tests need it

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "chain.pem", directory / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    with cert_path.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    return ca_path, cert_path, key_path


# --- the attacker ---------------------------------------------------------------------------


def client_hello() -> bytes:
    """The bytes a real TLS client sends first."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    sslobj = context.wrap_bio(incoming, outgoing, server_side=False)
    with contextlib.suppress(ssl.SSLWantReadError):
        sslobj.do_handshake()
    return outgoing.read()


async def half_open(
    port: int, count: int, addresses: list[str], partial_every: int = 2, batch: int = 200
) -> list[socket.socket]:
    """`count` TCP connections to `port`, dealt round-robin over the source
    `addresses`; every `partial_every`-th one then sends half a ClientHello,
    the rest send nothing. None ever finishes the handshake. A connection the
    server refuses at once still counts (it shows up as closed)."""
    loop = asyncio.get_running_loop()
    fragment = client_hello()[:40]
    socks: list[socket.socket] = []

    async def one(i: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((addresses[i % len(addresses)], 0))
        socks.append(sock)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 10)
            if partial_every and i % partial_every == 0:
                sock.send(fragment)
        except (OSError, TimeoutError):
            pass  # refused or reset: the server's choice, seen as closed below

    for start in range(0, count, batch):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + batch))))
    return socks


def still_open(sock: socket.socket) -> bool:
    """False once the server has closed or reset this connection."""
    try:
        while True:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
            if not data:
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def count_open(socks: list[socket.socket]) -> int:
    return sum(still_open(sock) for sock in socks)


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def attacker_addresses(count: int) -> list[str]:
    """127.0.0.2, 127.0.0.3, ...: 127.0.0.1 is left to the honest user."""
    return [f"127.0.0.{i}" for i in range(2, count + 2)]


async def honest_login(port: int, ca: Path, name: str) -> float:
    """Register and log in over TLS (from 127.0.0.1, the address the kernel
    picks for a loopback connection); returns the seconds it took."""
    started = time.perf_counter()
    client = ChatClient("127.0.0.1", port, tls=True, ca=str(ca), connect_timeout=10)
    try:
        await asyncio.wait_for(client.connect(), 15)
        await asyncio.wait_for(client.register(name, PASSWORD), 15)
        await asyncio.wait_for(client.login(name, PASSWORD), 15)
    finally:
        await client.close()
    return time.perf_counter() - started


# --- the run -----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = raise_fd_limit()
    if args.connections + 200 > limit:
        raise SystemExit(f"--connections {args.connections} needs more than the open-files limit ({limit})")
    with tempfile.TemporaryDirectory(prefix="cw-handshakes-") as tmp:
        directory = Path(tmp)
        ca, cert, key = make_certificates(directory)
        server = ServerProcess(
            directory / "data",
            extra_args=[
                "--tls-cert",
                str(cert),
                "--tls-key",
                str(key),
                "--log-level",
                "ERROR",
                *flags(FAST_ARGON2),
                *args.server_args,
            ],
        )
        server.start()
        try:
            await asyncio.sleep(0.5)
            rss_before, sockets_before = rss_kib(server.pid), open_sockets(server.pid)
            attackers = attacker_addresses(args.addresses)
            started = time.perf_counter()
            socks = await half_open(server.port, args.connections, attackers)
            opened_s = time.perf_counter() - started
            await asyncio.sleep(0.5)
            rss_during, sockets_during = rss_kib(server.pid), open_sockets(server.pid)
            open_after_connect = count_open(socks)
            login_s: float | None
            try:
                login_s = await honest_login(server.port, ca, "honest")
            except Exception as exc:  # reported, not raised: this is what the run measures
                print(f"honest login failed: {exc!r}", flush=True, file=sys.stderr)
                login_s = None
            await asyncio.sleep(max(0.0, args.hold - (time.perf_counter() - started - opened_s)))
            rss_held, sockets_held = rss_kib(server.pid), open_sockets(server.pid)
            open_after_hold = count_open(socks)
            close_all(socks)
        finally:
            server.stop()
    return {
        "bench": "handshakes",
        "connections": args.connections,
        "addresses": args.addresses,
        "server_args": " ".join(args.server_args),
        "connect_s": round(opened_s, 2),
        "server_rss_mib": {
            "before": round(rss_before / 1024, 1),
            "during": round(rss_during / 1024, 1),
            f"after_{args.hold:g}s": round(rss_held / 1024, 1),
        },
        "server_sockets": {"before": sockets_before, "during": sockets_during, f"after_{args.hold:g}s": sockets_held},
        "attack_sockets_open": {"after_connect": open_after_connect, f"after_{args.hold:g}s": open_after_hold},
        "honest_login_s": None if login_s is None else round(login_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handshakes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000, help="half-open connections to open")
    parser.add_argument("--addresses", type=int, default=1, help="source addresses 127.0.0.2 onwards")
    parser.add_argument(
        "--hold",
        type=float,
        default=7.0,
        help="seconds after the last connect to look again (past the handshake timeout)",
    )
    parser.add_argument("server_args", nargs="*", help="extra chinwag-server flags (after --)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
