"""Restart persistence with the real `chinwag-server` process and its
embedded Redis: users, tokens, rooms, history and offline messages survive a
stop (SIGTERM) or a crash (SIGKILL) and a start on the same data directory."""

from __future__ import annotations

import signal
from collections import defaultdict

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.messages import ByeEvent

from ..support.events import settled_messages
from ..support.processes import pid_alive
from ..support.settings import PASSWORD


async def client_for(server, **kwargs) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, **kwargs)
    await client.connect()
    return client


async def history_mids(client: ChatClient, conv: str) -> list[str]:
    page, more = await client.history(conv, limit=200)
    assert not more
    return [m.mid for m in page]


async def test_sigterm_restart_keeps_everything(spawn, tmp_path) -> None:
    data = tmp_path / "data"
    first = await spawn(data)
    alice = await client_for(first)
    await alice.register("alice", PASSWORD, "Alice")
    reg = await client_for(first)
    await reg.register("bob", PASSWORD, "Bob")
    await reg.close()
    session = await alice.login("alice", PASSWORD)
    dms = [await alice.send("@bob", f"dm {i}", cmid=f"c{i}") for i in range(3)]
    lobby = await alice.send("#lobby", "lobby post")
    await alice.join("dev")
    room = await alice.send("#dev", "dev post")
    redis_pid = first.redis_pid()
    assert redis_pid is not None and pid_alive(redis_pid)

    status = await first.stop_async(signal.SIGTERM, timeout=10)
    assert status == 0, first.output()
    assert "Traceback" not in first.output()
    assert not pid_alive(redis_pid), "the embedded redis-server must stop with the server"
    events = []
    try:
        while True:
            events.append(await alice.next_event(timeout=2))
    except ConnectionClosed:
        pass
    assert [e.reason for e in events if isinstance(e, ByeEvent)] == ["shutdown"]
    await alice.close()

    second = await spawn(data)
    bob = await client_for(second)
    got = await bob.login("bob", PASSWORD)
    assert got.user.display_name == "Bob"
    assert got.unread == {"@alice": 3, "#lobby": 1}
    replay = await settled_messages(bob)
    per_conv = defaultdict(list)
    for m in replay:
        per_conv[m.conv].append((m.mid, m.text, m.cmid))
    assert per_conv == {
        "@alice": [(d.mid, f"dm {i}", f"c{i}") for i, d in enumerate(dms)],
        "#lobby": [(lobby.mid, "lobby post", None)],
    }
    assert await history_mids(bob, "@alice") == [d.mid for d in dms]

    # Alice's token, rooms and history survived too.
    alice2 = await client_for(second)
    resumed = await alice2.resume(session.token)
    assert resumed.user.display_name == "Alice"
    assert {r["name"]: r["joined"] for r in await alice2.rooms()} == {"lobby": True, "dev": True}
    assert await history_mids(alice2, "#dev") == [room.mid]
    # cmid records survived: a resend after the restart is still a duplicate.
    again = await alice2.send("@bob", "dm 0", cmid="c0")
    assert (again.mid, again.ts) == (dms[0].mid, dms[0].ts)
    for client in (bob, alice2):
        await client.close()
    assert await second.stop_async() == 0


async def test_sigkill_loses_nothing_acknowledged(spawn, tmp_path) -> None:
    data = tmp_path / "data"
    first = await spawn(data)
    alice = await client_for(first)
    await alice.register("alice", PASSWORD)
    await alice.register("bob", PASSWORD)
    await alice.login("alice", PASSWORD)
    sent = [await alice.send("@bob", f"m{i}") for i in range(50)]
    await first.stop_async(signal.SIGKILL)
    await alice.close()

    second = await spawn(data)  # also stops a redis-server the killed run left behind
    bob = await client_for(second)
    session = await bob.login("bob", PASSWORD)
    assert session.unread == {"@alice": 50}
    assert [m.mid for m in await settled_messages(bob)] == [s.mid for s in sent]
    await bob.close()
    assert await second.stop_async() == 0


async def test_environment_variables_configure_the_server(spawn) -> None:
    server = await spawn(env={"CHINWAG_MAX_TEXT": "123"})
    client = await client_for(server)
    assert client.server_info["max_text"] == 123
    await client.close()
    assert await server.stop_async() == 0
