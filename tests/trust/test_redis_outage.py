"""Redis goes away and comes back: requests in between fail fast with
`internal` saying storage is unavailable, connections stay open, and the
server recovers by itself within seconds of Redis returning: sends work,
acknowledged messages are all there, and live delivery (local and across
nodes through the Redis bus) resumes."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ServerError
from chinwag.protocol.messages import Message
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis

from ..support.events import collect, drain
from ..support.settings import PASSWORD, fast_settings

FAST = 3.0  # "fails fast": well under the client's patience


@dataclass
class OwnRedis:
    data_dir: Path
    redis: EmbeddedRedis
    url: str

    async def stop(self) -> None:
        await self.redis.stop()

    async def restart(self) -> str:
        self.redis = EmbeddedRedis(self.data_dir)
        return await self.redis.start()


@pytest.fixture
async def own_redis() -> AsyncIterator[OwnRedis]:
    # a short path, so the embedded Redis listens on a unix socket whose
    # address survives a restart on the same data directory
    data_dir = Path(tempfile.mkdtemp(prefix="cw-outage-", dir="/tmp"))
    redis = EmbeddedRedis(data_dir)
    url = await redis.start()
    own = OwnRedis(data_dir, redis, url)
    try:
        yield own
    finally:
        await own.redis.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def nodes(own_redis: OwnRedis) -> AsyncIterator[Callable[..., Awaitable[ChatServer]]]:
    started: list[ChatServer] = []

    async def start(**overrides: Any) -> ChatServer:
        server = ChatServer(fast_settings(**overrides), own_redis.url)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await asyncio.wait_for(server.stop(), 15)


async def logged_in(server: ChatServer, name: str, register: bool = True) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    await asyncio.wait_for(client.connect(), 5)
    if register:
        await asyncio.wait_for(client.register(name, PASSWORD), 5)
    await asyncio.wait_for(client.login(name, PASSWORD), 5)
    return client


async def fails_fast_as_unavailable(request: Awaitable[Any]) -> ServerError:
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        result = await asyncio.wait_for(request, FAST + 2)
    except ServerError as exc:
        elapsed = loop.time() - start
        assert exc.code == "internal", exc
        text = exc.message.lower()
        assert "storage" in text and "unavailable" in text, exc.message
        assert elapsed < FAST, f"took {elapsed:.2f} s to fail"
        return exc
    raise AssertionError(f"succeeded while Redis was down: {result!r}")


async def retry_until_ok(attempt: Callable[[], Awaitable[Any]], within: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Exception | None = None
    for _ in range(200):
        if loop.time() >= deadline:
            break
        try:
            return await asyncio.wait_for(attempt(), FAST + 2)
        except ServerError as exc:
            last = exc
            await asyncio.sleep(0.1)
    raise AssertionError(f"still failing {within} s after Redis came back: {last}")


async def test_redis_outage_fails_fast_keeps_clients_and_recovers(own_redis, nodes, caplog) -> None:
    caplog.set_level(logging.INFO)
    assert own_redis.url.startswith("unix://")
    node_a = await nodes()
    node_b = await nodes()
    alice = await logged_in(node_a, "alice")
    carol = await logged_in(node_a, "carol")
    bob = await logged_in(node_b, "bob")  # another node: live delivery goes over the Redis bus

    before = [await alice.send("#lobby", f"before {i}") for i in range(5)]
    before_dm = await alice.send("@bob", "dm before")
    got = await collect(bob, 5, conv="#lobby")
    assert [m.mid for m in got] == [s.mid for s in before]
    await collect(bob, 1, conv="@alice")
    carol_before = [e for e in await drain(carol, 0.3) if isinstance(e, Message)]
    alice_before = [e for e in await drain(alice, 0.1) if isinstance(e, Message)]
    assert [m.mid for m in carol_before] == [s.mid for s in before]
    assert [m.mid for m in alice_before] == [s.mid for s in before] + [before_dm.mid]

    await own_redis.stop()

    await fails_fast_as_unavailable(alice.send("#lobby", "during"))
    await fails_fast_as_unavailable(alice.send("@bob", "dm during"))
    await fails_fast_as_unavailable(bob.send("#lobby", "during, from b"))
    await fails_fast_as_unavailable(alice.history("#lobby"))
    await fails_fast_as_unavailable(bob.history("@alice"))
    await fails_fast_as_unavailable(carol.who())
    await fails_fast_as_unavailable(carol.rooms())
    newcomer = ChatClient("127.0.0.1", node_a.port, connect_timeout=5)
    await asyncio.wait_for(newcomer.connect(), 5)  # hello needs no Redis
    await fails_fast_as_unavailable(newcomer.login("alice", PASSWORD))
    await newcomer.close()

    for client in (alice, bob, carol):  # still connected; ping needs no Redis
        assert client.connected
        await asyncio.wait_for(client.ping(), FAST)
    await asyncio.sleep(1.2)  # let the housekeeping and bus reader notice too
    for client in (alice, bob, carol):
        assert client.connected
        await asyncio.wait_for(client.ping(), FAST)

    loop = asyncio.get_running_loop()
    url = await own_redis.restart()
    assert url == own_redis.url
    back_at = loop.time()

    after = await retry_until_ok(lambda: alice.send("#lobby", "after 0"), within=8)
    assert loop.time() - back_at < 8

    # acknowledged before the outage: all still there, nothing else
    history, _ = await alice.history("#lobby")
    assert [m.mid for m in history] == [s.mid for s in before] + [after.mid]
    dm_history, _ = await bob.history("@alice")
    assert [m.mid for m in dm_history] == [before_dm.mid]
    names = {u.username for u in await carol.who()}
    assert names == {"alice", "bob", "carol"}

    # live delivery: the same node at once, the other node once its bus is back
    got = await collect(carol, 1, conv="#lobby")
    assert got[0].mid == after.mid
    sent = [after.mid]
    live_at_bob: list[Message] = []
    deadline = loop.time() + 10
    for i in range(1, 60):
        if loop.time() >= deadline:
            break
        sent.append((await alice.send("#lobby", f"after {i}")).mid)
        try:
            event = await bob.next_event(timeout=0.3)
        except TimeoutError:
            continue
        if isinstance(event, Message):
            live_at_bob.append(event)
            break
    assert live_at_bob, "bob (other node) never received a live message after Redis came back"
    await asyncio.sleep(0.3)
    live_at_bob += [e for e in await drain(bob, 0.3) if isinstance(e, Message)]
    mids = [m.mid for m in live_at_bob]
    assert len(mids) == len(set(mids)) and set(mids) <= set(sent)
    assert mids == sorted(mids, key=lambda m: tuple(int(x) for x in m.split("-")))
    assert sent[-1] in mids  # once the bus is back, it stays caught up

    # bob's node delivers bob's sends, and the bus carries them to node A
    await drain(alice, 0.2)
    from_b = await retry_until_ok(lambda: bob.send("@alice", "dm after"), within=5)
    got = await collect(alice, 1, conv="@bob", timeout=5)
    assert got[0].mid == from_b.mid

    for client in (alice, bob, carol):
        await client.close()
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not problems, [r.getMessage() for r in problems]


async def test_who_is_right_after_someone_leaves_during_the_outage(own_redis, nodes) -> None:
    """A client that disconnects while Redis is down must not stay 'online'
    forever once Redis is back (here the node heartbeats every second, so
    any repair riding on housekeeping has had three chances)."""
    node = await nodes(heartbeat_interval=1.0)
    alice = await logged_in(node, "alice")
    carol = await logged_in(node, "carol")
    await own_redis.stop()
    await carol.close()
    await asyncio.sleep(0.3)
    await own_redis.restart()
    names = await retry_until_ok(lambda: alice.who(), within=8)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3  # allow the server a few seconds to repair presence
    while {u.username for u in names} != {"alice"} and loop.time() < deadline:
        await asyncio.sleep(0.5)
        names = await asyncio.wait_for(alice.who(), FAST)
    assert {u.username for u in names} == {"alice"}, f"still online: {names}"
    await alice.close()
