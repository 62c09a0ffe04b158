"""What an idle logged-in connection keeps: no request queue and no wait
object of its own once its requests are answered (they are most of a
connection's Python memory, and idle connections are most connections)."""

from __future__ import annotations

from chinwag.server.connection import Connection


async def test_an_idle_connection_holds_no_queue_and_no_event(make_server, user) -> None:
    server = await make_server()
    alice = await user("alice", to=server)
    await alice.send("#lobby", "hello")
    await alice.send("#lobby", "again")
    (conn,) = [c for c in server.connections if isinstance(c, Connection) and c.username == "alice"]
    assert conn._inbox is None and conn.worker is None
    assert not any(type(v).__name__ in ("Event", "deque") for v in vars(conn).values())
