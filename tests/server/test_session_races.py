"""A session outcome that arrives after its connection has gone."""

from __future__ import annotations

import asyncio
import gc

import pytest

from chinwag.server.app import ChatServer
from chinwag.server.connection import State

from ..support.raw import RawClient
from ..support.settings import PASSWORD
from ..support.waits import eventually


async def test_a_login_finishing_after_the_client_left_does_not_authenticate_it(server: ChatServer) -> None:
    """The client sends `login` and hangs up while the password is checked:
    the late success must not reopen the closed connection nor leave it
    registered for delivery (the session refuses the outcome after close)."""
    setup = await RawClient.open(server.port)
    await setup.hello()
    assert (await setup.request("register", username="alice", password=PASSWORD))["type"] == "ok"
    setup.close()

    client = await RawClient.open(server.port)
    await client.hello()
    [conn] = list(server.connections)
    await client.send({"type": "login", "id": client.next_id(), "username": "alice", "password": PASSWORD})
    client.close()  # gone before the (thread-pool) password check is over
    await eventually(lambda: conn.worker is None and server.passwords.verifications > 0)
    assert server.passwords.verifications == 1, "the login ran to its end"
    assert conn.worker is None
    assert conn.state is State.CLOSED
    assert "alice" not in server.hub.by_user, "a closed connection stayed registered for delivery"
    assert not server.hub.by_token


async def test_the_last_ack_of_a_closed_connection_leaves_no_unretrieved_failure(
    server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An `ack` notification is answered by no reply, so its cursor write is
    only awaited before the connection's next reply. When the client leaves
    right after it and the write fails (here: storage gone), the failure
    is logged as a warning, never left for asyncio's "Future exception was
    never retrieved" (an ERROR, at some later garbage collection)."""
    client = await RawClient.open(server.port)
    await client.hello()
    await client.register("alice")
    await client.login("alice")
    sent = await client.ok("send", to="@alice", text="to myself")
    await client.barrier()
    await server.store.close()  # every later Redis call fails
    await client.send({"type": "ack", "conv": "@alice", "upto": sent["mid"]})
    client.close()
    await eventually(lambda: not server.connections)
    await asyncio.sleep(0.1)
    gc.collect()
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()], caplog.records
    assert any("cursor update for alice failed" in r.getMessage() for r in caplog.records), caplog.records
