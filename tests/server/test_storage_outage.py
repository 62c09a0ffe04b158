"""`internal`: what a client hears when Redis goes away under the server, and
that the server recovers when it comes back. Uses a private embedded Redis
so the shared one is never stopped."""

from __future__ import annotations

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis

from ..support.events import collect, error_of, full_history
from ..support.settings import PASSWORD, fast_settings


async def test_redis_outage_answers_internal_and_recovers(tmp_path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    url = await redis.start()
    server = ChatServer(fast_settings(), url)
    await server.start()
    clients: list[ChatClient] = []
    try:
        for name in ("alice", "bob"):
            client = ChatClient("127.0.0.1", server.port)
            await client.connect()
            await client.register(name, PASSWORD)
            await client.login(name, PASSWORD)
            clients.append(client)
        alice, bob = clients
        before = await alice.send("@bob", "before the outage")

        await redis.stop()
        error = await error_of(alice.send("@bob", "during the outage"), "internal")
        assert "Traceback" not in error.message
        await error_of(alice.history("@bob"), "internal")
        await alice.ping()  # the connection stays; requests that need no storage work

        url_again = await redis.start()  # same data directory: the append-only file is replayed
        assert url_again == url
        after = await alice.send("@bob", "after the outage")
        history = await full_history(bob, "@alice")
        assert [m.mid for m in history] == [before.mid, after.mid]
        got = await collect(bob, 2)
        assert [m.mid for m in got] == [before.mid, after.mid]
    finally:
        for client in clients:
            await client.close()
        await server.stop()
        await redis.stop()
