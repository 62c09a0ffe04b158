"""TLS: certificates made on the fly with trustme; the real client works end
to end over TLS; plain TCP to the TLS port, and TLS without the CA (or to a
name the certificate does not cover), fail cleanly and leave nothing behind."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.frames import encode_frame

from ..support.events import collect
from ..support.settings import PASSWORD
from ..support.waits import eventually, live_connections


@dataclass
class Pems:
    ca: Path
    cert: Path
    key: Path


def make_pems(directory: Path, *identities: str) -> Pems:
    ca = trustme.CA()
    leaf = ca.issue_cert(*identities)
    pems = Pems(directory / "ca.pem", directory / "server-chain.pem", directory / "server-key.pem")
    ca.cert_pem.write_to_path(str(pems.ca))
    leaf.private_key_pem.write_to_path(str(pems.key))
    with pems.cert.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    return pems


@pytest.fixture
def pems(tmp_path: Path) -> Pems:
    return make_pems(tmp_path, "127.0.0.1", "::1")


async def tls_client(port: int, **kwargs) -> ChatClient:
    client = ChatClient("127.0.0.1", port, connect_timeout=5, **kwargs)
    await asyncio.wait_for(client.connect(), 8)
    return client


async def test_chat_over_tls_end_to_end(make_server, pems) -> None:
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key)
    alice = await tls_client(server.port, tls=True, ca=str(pems.ca))
    bob = await tls_client(server.port, tls=True, ca=str(pems.ca))
    try:
        await alice.register("alice", PASSWORD)
        await bob.register("bob", PASSWORD)
        await alice.login("alice", PASSWORD)
        await bob.login("bob", PASSWORD)
        sent = await alice.send("@bob", "over tls")
        got = await collect(bob, 1, conv="@alice")
        assert (got[0].mid, got[0].text, got[0].sender) == (sent.mid, "over tls", "alice")
        assert alice._transport.get_extra_info("ssl_object") is not None
        # a token issued over TLS resumes over TLS
        carol = await tls_client(server.port, tls=True, ca=str(pems.ca))
        assert (await carol.resume(alice.session.token)).user.username == "alice"
        await carol.close()
    finally:
        await alice.close()
        await bob.close()


async def test_plain_tcp_to_the_tls_port_fails_cleanly(make_server, pems, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="chinwag")
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key)
    loop = asyncio.get_running_loop()

    # a raw plain-text hello: the server's TLS layer rejects it and closes
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), 5)
    writer.write(encode_frame({"type": "hello", "id": 1, "version": 1}))
    await writer.drain()
    data = b""
    try:
        for _ in range(100):
            chunk = await asyncio.wait_for(reader.read(4096), 5)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    writer.close()
    assert b"hello" not in data and b"max_frame" not in data  # no chinwag reply in clear

    # the real client without TLS: a clean ConnectionClosed, not a hang
    start = loop.time()
    plain = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(plain.connect(), 8)
    await plain.close()
    assert loop.time() - start < 6

    # nothing leaked, and TLS clients still get in
    assert await eventually(lambda: live_connections(server) == 0, 3)
    good = await tls_client(server.port, tls=True, ca=str(pems.ca))
    await good.ping()
    await good.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.records


async def test_tls_without_the_ca_fails_verification(make_server, pems) -> None:
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key)
    untrusting = ChatClient("127.0.0.1", server.port, tls=True, connect_timeout=5)
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(untrusting.connect(), 8)
    assert "certificate" in str(info.value).lower() or "verif" in str(info.value).lower(), info.value
    await untrusting.close()

    # a different CA is no better than none
    other_dir = pems.ca.parent / "other"
    other_dir.mkdir()
    other = make_pems(other_dir, "127.0.0.1")
    wrong_ca = ChatClient("127.0.0.1", server.port, tls=True, ca=str(other.ca), connect_timeout=5)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(wrong_ca.connect(), 8)
    await wrong_ca.close()
    assert await eventually(lambda: live_connections(server) == 0, 3)


async def test_tls_certificate_for_another_name_is_refused(make_server, tmp_path) -> None:
    pems = make_pems(tmp_path, "chat.example.org")
    server = await make_server(tls_cert=pems.cert, tls_key=pems.key)
    client = ChatClient("127.0.0.1", server.port, tls=True, ca=str(pems.ca), connect_timeout=5)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(client.connect(), 8)
    await client.close()


async def test_tls_client_to_a_plain_server_fails_cleanly(make_server, pems) -> None:
    server = await make_server()
    client = ChatClient("127.0.0.1", server.port, tls=True, ca=str(pems.ca), connect_timeout=3)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(client.connect(), 8)
    await client.close()
    assert await eventually(lambda: live_connections(server) == 0, 3)
