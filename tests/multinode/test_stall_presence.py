"""Node liveness survives a Redis stall, and presence heals by itself.

Two nodes share one Redis of their own (it is SIGSTOPped, so not the
session's). While Redis is stopped no node can heartbeat; when it resumes,
every heartbeat is stale at once. Nodes must not take that for each other's
death: afterwards `who` on each node lists every connected user, and no
user is left looking offline (an offline event, if one was sent, is followed
by an online one). A node that finds itself reaped anyway rewrites its
users' presence from its connections."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import PresenceEvent
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis

from ..support.events import drain
from ..support.redis import own_redis
from ..support.settings import PASSWORD, fast_settings

TTL, BEAT = 2.0, 0.5


@pytest.fixture
async def stoppable_redis() -> AsyncIterator[EmbeddedRedis]:
    async with own_redis("cw-stall-") as redis:
        yield redis


@pytest.fixture
async def two_nodes(stoppable_redis: EmbeddedRedis) -> AsyncIterator[tuple[ChatServer, ChatServer]]:
    started: list[ChatServer] = []
    for _ in range(2):
        server = ChatServer(fast_settings(node_ttl=TTL, heartbeat_interval=BEAT), stoppable_redis.url)
        await server.start()
        started.append(server)
    try:
        yield started[0], started[1]
    finally:
        for server in started:
            await asyncio.wait_for(server.stop(), 20)


async def log_in(server: ChatServer, name: str) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    await asyncio.wait_for(client.connect(), 5)
    await asyncio.wait_for(client.register(name, PASSWORD), 5)
    await asyncio.wait_for(client.login(name, PASSWORD), 5)
    return client


async def everyone(nodes: tuple[ChatServer, ChatServer]) -> dict[str, ChatClient]:
    a, b = nodes
    clients = {
        "alice": await log_in(a, "alice"),
        "bob": await log_in(a, "bob"),
        "carol": await log_in(b, "carol"),
        "dave": await log_in(b, "dave"),
    }
    await asyncio.sleep(0.3)
    for client in clients.values():
        await drain(client, 0.1)
    return clients


def last_presence(events: list[Any]) -> dict[str, bool]:
    """The last presence event each user was the subject of."""
    out: dict[str, bool] = {}
    for event in events:
        if isinstance(event, PresenceEvent):
            out[event.user.username] = event.online
    return out


async def check_all_online(clients: dict[str, ChatClient]) -> None:
    names = set(clients)
    for me, client in clients.items():
        seen = {u.username for u in await asyncio.wait_for(client.who(), 5)}
        assert seen == names, f"{me}'s node says only {sorted(seen)} are online"
    for me, client in clients.items():
        last = last_presence(await drain(client, 0.3))
        stale = [name for name, online in last.items() if not online]
        assert not stale, f"{me} was last told that {stale} went offline, and nothing since"


@pytest.mark.parametrize("stall", [2 * TTL, 3.5 * TTL], ids=["stall-4s", "stall-7s-past-socket-timeout"])
async def test_a_redis_stall_longer_than_the_node_ttl_kills_no_node(
    stoppable_redis: EmbeddedRedis, two_nodes: tuple[ChatServer, ChatServer], stall: float
) -> None:
    clients = await everyone(two_nodes)
    try:
        process = stoppable_redis.process
        assert process is not None
        process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(stall)
        process.send_signal(signal.SIGCONT)
        # long enough for a node to reap the other (twice the TTL) and to repair
        await asyncio.sleep(2 * TTL + 1)
        await check_all_online(clients)
    finally:
        for client in clients.values():
            await client.close()


async def test_a_node_reaped_while_alive_puts_its_users_back_online(two_nodes: tuple[ChatServer, ChatServer]) -> None:
    a, b = two_nodes
    clients = await everyone(two_nodes)
    try:
        # a peer's mistaken judgement: node B's share of presence is removed
        gone = await a.store.reap_node(b.node_id)
        assert sorted(gone) == ["carol", "dave"]
        # within a few heartbeats B notices it is no longer listed and repairs
        await asyncio.sleep(4 * BEAT + 1)
        await check_all_online(clients)
        assert b.presence.repairs >= 2  # the one at start, and this one
    finally:
        for client in clients.values():
            await client.close()
