"""A session outcome that arrives after its connection has gone."""

from __future__ import annotations

import asyncio

from chinwag.server.app import ChatServer
from chinwag.server.connection import State

from ..support.settings import PASSWORD
from ..support.raw import RawClient


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
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (conn._worker is not None or not server.passwords.verifications) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert server.passwords.verifications == 1, "the login ran to its end"
    assert conn._worker is None
    assert conn.state is State.CLOSED
    assert "alice" not in server.hub.by_user, "a closed connection stayed registered for delivery"
    assert not server.hub.by_token
