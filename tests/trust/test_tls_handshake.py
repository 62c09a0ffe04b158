"""TLS handshakes that never finish: plain TCP connects to the TLS port that
send nothing, or half a ClientHello. Each counts against the per-address
cap from accept (the excess is reset), is aborted after
`tls_handshake_timeout` (or the pre-login timeout, if shorter), and at most
`max_tls_handshakes` are in progress at once, the oldest making way; an
honest TLS user logs in throughout. The in-process tests run on the test's
event loop; one runs a real `chinwag-server` subprocess (on the loop its
CLI installs, uvloop) and watches its memory and sockets in /proc.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from pathlib import Path

import pytest

from bench.handshakes import (
    client_hello,
    count_open,
    half_open,
    open_sockets,
    raise_fd_limit,
    rss_kib,
)
from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer
from chinwag.server.process import FAST_ARGON2, ServerProcess
from chinwag.server.tls import TlsListener

from ..support.settings import PASSWORD
from ..support.waits import eventually, live_connections
from .test_tls import Pems, make_pems


@pytest.fixture
def pems(tmp_path: Path) -> Pems:
    return make_pems(tmp_path, "127.0.0.1")


def listener(server: ChatServer) -> TlsListener:
    tls = server._server
    assert isinstance(tls, TlsListener)
    return tls


def places(server: ChatServer, address: str) -> int:
    """The places `address` holds under the per-address cap."""
    return server._per_ip.get(address, 0)


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


async def honest_user(port: int, pems: Pems, name: str) -> None:
    """Register and log in over TLS from 127.0.0.1 (the attackers use other
    addresses), within a bounded time."""
    client = ChatClient("127.0.0.1", port, tls=True, ca=str(pems.ca), connect_timeout=10)
    try:
        await asyncio.wait_for(client.connect(), 15)
        await asyncio.wait_for(client.register(name, PASSWORD), 15)
        session = await asyncio.wait_for(client.login(name, PASSWORD), 15)
        assert session.user.username == name
        assert client._transport.get_extra_info("ssl_object") is not None
    finally:
        await client.close()


async def test_stalled_handshakes_count_against_the_per_address_cap(make_server, pems, caplog) -> None:
    caplog.set_level(logging.INFO, logger="chinwag")
    cap = 50
    server = await make_server(
        tls_cert=pems.cert, tls_key=pems.key, max_connections_per_address=cap, tls_handshake_timeout=30
    )
    socks = await half_open(server.port, 1000, ["127.0.0.2"])
    try:
        # the first `cap` are held, the rest reset at accept
        assert await eventually(lambda: count_open(socks) == cap, 10), count_open(socks)
        assert places(server, "127.0.0.2") == cap
        assert len(listener(server).handshakes) == cap
        assert live_connections(server) == 0  # none got as far as a Connection
        await honest_user(server.port, pems, "honest")
        assert count_open(socks) == cap
    finally:
        close_all(socks)
    # a client that gives up frees its place
    assert await eventually(lambda: not listener(server).handshakes and places(server, "127.0.0.2") == 0, 5)
    refusals = [r for r in caplog.records if "over the per-address cap" in r.getMessage()]
    assert 1 <= len(refusals) < 100  # logged, but not once per refused connection
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_stalled_handshake_is_closed_after_the_timeout(make_server, pems, caplog) -> None:
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key, tls_handshake_timeout=0.5)
    socks = await half_open(server.port, 40, ["127.0.0.2", "127.0.0.3"])
    try:
        assert await eventually(lambda: len(listener(server).handshakes) == 40, 5)  # held, not refused
        assert await eventually(lambda: count_open(socks) == 0, 5), count_open(socks)
        assert await eventually(lambda: not listener(server).handshakes, 2)
        assert places(server, "127.0.0.2") == places(server, "127.0.0.3") == 0
        await honest_user(server.port, pems, "after")  # a normal handshake is unaffected
    finally:
        close_all(socks)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.records


async def test_the_preauth_timeout_bounds_the_handshake_too(make_server, pems) -> None:
    """With a pre-login timeout shorter than the handshake timeout, a
    stalled handshake goes when the pre-login time is up, and so does a
    TLS connection that finished its handshake but never logs in."""
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key, tls_handshake_timeout=30, preauth_timeout=1)
    socks = await half_open(server.port, 10, ["127.0.0.2"])
    idle = ChatClient("127.0.0.1", server.port, tls=True, ca=str(pems.ca), connect_timeout=5)
    try:
        await asyncio.wait_for(idle.connect(), 8)  # handshake and hello, never a login
        assert live_connections(server) == 1
        assert await eventually(lambda: count_open(socks) == 0, 5), count_open(socks)
        assert await eventually(lambda: live_connections(server) == 0, 5)
        # the server has closed it; the client hears of it a loop turn or more later
        assert await eventually(lambda: not idle.connected, 5)
    finally:
        close_all(socks)
        await idle.close()
    assert not listener(server).handshakes


async def test_handshakes_from_many_addresses_are_bounded_and_the_oldest_make_way(make_server, pems) -> None:
    limit = 40
    server = await make_server(
        tls_cert=pems.cert,
        tls_key=pems.key,
        max_connections_per_address=30,
        max_tls_handshakes=limit,
        tls_handshake_timeout=30,
    )
    attackers = [f"127.0.0.{i}" for i in range(2, 12)]
    held = max_held = 0

    async def watch() -> None:
        nonlocal max_held
        while True:
            max_held = max(max_held, len(listener(server).handshakes))
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    socks = await half_open(server.port, 600, attackers, batch=50)
    try:
        assert await eventually(lambda: count_open(socks) == limit, 10), count_open(socks)
        held = len(listener(server).handshakes)
        # the places of the dropped ones were given back
        assert sum(places(server, a) for a in attackers) == held == limit
        # an honest handshake pushes out the oldest stalled one and gets through
        await honest_user(server.port, pems, "honest")
        assert count_open(socks) == limit - 1
    finally:
        watcher.cancel()
        close_all(socks)
    assert max_held <= limit
    assert await eventually(lambda: sum(places(server, a) for a in attackers) == 0, 5)


async def test_a_partial_client_hello_is_not_a_connection(make_server, pems) -> None:
    """Half a ClientHello, then nothing: the handshake is in progress (not a
    Connection, not logged in) and goes at the timeout; the rest of the
    ClientHello after that finds the connection closed."""
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key, tls_handshake_timeout=0.5)
    hello = client_hello()
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind(("127.0.0.2", 0))
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", server.port)), 5)
        await loop.sock_sendall(sock, hello[: len(hello) // 2])
        assert await eventually(lambda: len(listener(server).handshakes) == 1, 3)
        assert live_connections(server) == 0
        assert await eventually(lambda: count_open([sock]) == 0, 5)
        assert places(server, "127.0.0.2") == 0
    finally:
        sock.close()


# --- a real server process -------------------------------------------------------------------


async def test_thousands_of_half_open_handshakes_against_a_server_process(tmp_path: Path) -> None:
    """3,500 half-open handshakes from four addresses (2,000 from one): the
    server holds at most the caps, its memory stays bounded, an honest user
    logs in meanwhile, and every stalled handshake is gone after the
    timeout."""
    cap, limit, timeout = 200, 500, 2.0
    soft = raise_fd_limit()
    scale = min(1.0, (soft - 500) / (2 * 3500))  # client and server share the machine's fds
    one, others = int(2000 * scale), int(500 * scale)
    assert one > cap and others > cap // 2, f"open-files limit {soft} is too low for this test"
    certs = make_pems(tmp_path, "127.0.0.1")
    server = ServerProcess(
        tmp_path / "data",
        settings=FAST_ARGON2,
        extra_args=[
            "--tls-cert",
            str(certs.cert),
            "--tls-key",
            str(certs.key),
            "--max-connections-per-address",
            str(cap),
            "--max-tls-handshakes",
            str(limit),
            "--tls-handshake-timeout",
            str(timeout),
        ],
    )
    server.start()
    socks: list[socket.socket] = []
    try:
        maps = await asyncio.to_thread(Path(f"/proc/{server.pid}/maps").read_text)
        assert "uvloop" in maps  # the loop it really runs
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 2 * (one + 3 * others)
        await honest_user(server.port, certs, "warmup")  # argon2's memory, Redis connections
        rss_before, sockets_before = rss_kib(server.pid), open_sockets(server.pid)

        socks += await half_open(server.port, one, ["127.0.0.2"])
        socks += await half_open(server.port, 3 * others, ["127.0.0.3", "127.0.0.4", "127.0.0.5"])
        most = min(limit, cap + 3 * min(cap, others))  # `cap` per address, `limit` in all
        assert await eventually(lambda: count_open(socks) <= most, 5), count_open(socks)
        assert await eventually(lambda: open_sockets(server.pid) - sockets_before <= most, 3)
        rss_during = rss_kib(server.pid)
        await honest_user(server.port, certs, "honest")
        assert rss_during - rss_before < 100 * 1024, (rss_before, rss_during)
        # past the timeout, every stalled handshake is gone
        assert await eventually(lambda: count_open(socks) == 0, timeout + 5), count_open(socks)
        assert await eventually(lambda: open_sockets(server.pid) <= sockets_before, 3)
        await honest_user(server.port, certs, "after")
    finally:
        close_all(socks)
        status = server.stop()
    assert status == 0
    log = server.output()
    assert "Traceback" not in log, log[-3000:]


async def test_the_server_raises_its_open_files_limit(make_server) -> None:
    """A soft limit of 1,024 would cap the server near a thousand connections
    whatever its caps say: it raises the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(soft, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        await make_server()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard > low or soft == hard == low
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
