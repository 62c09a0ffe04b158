"""chinwag-server under an init system: READY=1 to systemd's notify socket
once it listens (STOPPING=1 on the way out), and SIGHUP reopening the log
file logrotate moved and reloading a renewed TLS certificate, with no
connection dropped."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from pathlib import Path

from chinwag.protocol.client import ChatClient
from chinwag.server.service import sd_notify

from ..support.processes import console_server
from ..support.settings import PASSWORD
from ..support.waits import eventually
from ..trust.test_tls import make_pems


def test_sd_notify_sends_one_datagram_and_never_fails(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert sock.recv(100) == b"READY=1"
    assert not sd_notify("READY=1", {}), "no systemd: nothing sent"
    assert not sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}), "a dead socket is harmless"
    assert not sd_notify("READY=1", {"NOTIFY_SOCKET": "relative"})


async def test_the_server_tells_systemd_it_is_ready_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    proc = console_server(tmp_path / "data", env={"NOTIFY_SOCKET": str(path)})
    await proc.start_async()
    loop = asyncio.get_running_loop()
    try:
        assert await asyncio.wait_for(loop.sock_recv(sock, 100), 10) == b"READY=1"
        proc.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        assert await asyncio.wait_for(loop.sock_recv(sock, 100), 10) == b"STOPPING=1"
    finally:
        sock.close()
        if proc.running:
            proc.kill()


def _certificate(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int.from_bytes(der[:64], "big")  # enough of the certificate to tell two apart


async def test_sighup_reopens_the_log_and_reloads_the_certificate_without_dropping_anyone(tmp_path: Path) -> None:
    for name in ("old", "new", "tls"):
        (tmp_path / name).mkdir()
    first = make_pems(tmp_path / "old", "127.0.0.1")
    live = tmp_path / "tls"
    cert, key = live / "fullchain.pem", live / "privkey.pem"
    cert.write_bytes(first.cert.read_bytes())
    key.write_bytes(first.key.read_bytes())
    log = tmp_path / "log" / "server.log"
    args = ["--tls-cert", str(cert), "--tls-key", str(key), "--log-file", str(log), "--log-level", "INFO"]
    proc = console_server(tmp_path / "data", extra_args=args)
    await proc.start_async()
    try:
        alice = ChatClient("127.0.0.1", proc.port, tls=True, ca=str(first.ca))
        await alice.connect()
        await alice.register("alice", PASSWORD)
        await alice.login("alice", PASSWORD)
        before = _certificate(proc.port, first.ca)
        assert "listening" in log.read_text()

        log.rename(log.with_suffix(".log.1"))  # logrotate
        second = make_pems(tmp_path / "new", "127.0.0.1")
        cert.write_bytes(second.cert.read_bytes())
        key.write_bytes(second.key.read_bytes())
        proc.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        assert await eventually(lambda: log.exists() and "TLS certificate reloaded" in log.read_text())
        assert _certificate(proc.port, second.ca) != before, "new handshakes get the renewed certificate"
        await alice.send("#lobby", "still here")  # the connection from before the reload lives on

        key.write_text("not a key")
        proc.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        assert await eventually(lambda: "NOT reloaded, the old one stays" in log.read_text())
        assert _certificate(proc.port, second.ca) != before, "still the last good one"
        assert proc.running
        await alice.close()
    finally:
        proc.kill()
