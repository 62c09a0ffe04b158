"""Search on several nodes (on one Redis and on a Redis Cluster): each node
has its own index, fed from the bus, so each answers over every message,
whichever node stored it, edited it or deleted it; a node that was down
catches up; a new node builds its index from Redis."""

from __future__ import annotations

from pathlib import Path

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer

from ..search.helpers import CONTRACT_S, found, next_millisecond, search_client, texts_of


async def _login(server: ChatServer, name: str, *, register: bool = False) -> ChatClient:
    return await search_client(server.port, name, register=register)


async def test_every_node_finds_every_message(make_server, tmp_path: Path) -> None:
    a = await make_server(search_dir=str(tmp_path / "a"))
    b = await make_server(search_dir=str(tmp_path / "b"))
    alice = await _login(a, "alice", register=True)
    bob = await _login(b, "bob", register=True)
    await bob.join("ops")
    await alice.join("ops")

    sent = await alice.send("#ops", "rollout of the green build")
    await found(bob, "rollout", "rollout of the green build", timeout=CONTRACT_S)  # stored on a, found on b
    dm = await bob.send("@alice", "rollback plan, just in case")
    await found(alice, "roll", "rollback plan, just in case", "rollout of the green build", timeout=CONTRACT_S)

    await bob.edit("@alice", dm.mid, "no rollback needed")  # edited on b
    assert texts_of(await alice.search("plan")) == []  # a's answer checks the current text
    await found(alice, "needed", "no rollback needed", timeout=CONTRACT_S)
    await alice.delete("#ops", sent.mid)  # deleted on a
    assert texts_of(await bob.search("rollout")) == []  # b's too, at once
    await found(bob, "roll", "no rollback needed")
    await alice.close()
    await bob.close()


async def test_a_node_that_was_down_catches_up_and_a_new_node_builds(make_server, tmp_path: Path) -> None:
    a_dir = str(tmp_path / "a")
    a = await make_server(search_dir=a_dir)
    b = await make_server(search_dir=str(tmp_path / "b"))
    alice = await _login(b, "alice", register=True)
    await alice.send("#lobby", "before the outage")
    reader = await _login(a, "alice")
    await found(reader, "outage", "before the outage")
    await reader.close()
    await a.stop()

    await alice.send("#lobby", "during the outage")
    await next_millisecond()
    await alice.send("@alice", "outage notes to self")
    a = await make_server(search_dir=a_dir)
    reader = await _login(a, "alice")
    await found(reader, "outage", "outage notes to self", "during the outage", "before the outage")

    c = await make_server(search_dir=str(tmp_path / "c"))  # a new node: its index is built from Redis
    newcomer = await _login(c, "alice")
    await found(newcomer, "outage", "outage notes to self", "during the outage", "before the outage")
    for client in (alice, reader, newcomer):
        await client.close()
