"""ReconnectingClient against a real server that goes away and comes back."""

from __future__ import annotations

import asyncio

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ServerError
from chinwag.protocol.messages import Message
from chinwag.protocol.reconnect import (
    BACKOFF_CAP_S,
    ConnectionStateEvent,
    ReconnectingClient,
    backoff_delay,
)

from ..support.events import drain
from ..support.settings import PASSWORD


async def _state(client: ReconnectingClient, state: str, timeout: float = 10.0) -> ConnectionStateEvent:
    async def wait() -> ConnectionStateEvent:
        while True:
            event = await client.next_event()
            if isinstance(event, ConnectionStateEvent) and event.state == state:
                return event

    return await asyncio.wait_for(wait(), timeout)


def test_backoff_grows_with_jitter_and_caps() -> None:
    assert backoff_delay(0, 0.5, 30, lambda: 0.0) == 0.25
    assert backoff_delay(0, 0.5, 30, lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 30, lambda: 1.0) == 4.0
    assert backoff_delay(20, 0.5, 30, lambda: 1.0) == 30.0
    # the default cap: the longest wait a user sees between two attempts
    assert backoff_delay(50, 0.5, BACKOFF_CAP_S, lambda: 1.0) == BACKOFF_CAP_S == 10.0


async def test_retry_now_ends_the_backoff_wait(make_server, connect) -> None:
    first = await make_server()
    port = first.port
    setup = await connect(first)
    await setup.register("alice", PASSWORD)
    await setup.close()
    # a backoff no test would wait out: only retry_now can reconnect in time
    alice = ReconnectingClient("127.0.0.1", port, backoff_base=600, backoff_cap=600)
    assert not alice.retry_now(), "not waiting to retry before it ever connected"
    await alice.start(username="alice", password=PASSWORD)
    assert not alice.retry_now(), "nothing to retry while connected"
    await first.stop()
    waiting = await _state(alice, "reconnecting")
    assert waiting.retry_in is not None and waiting.retry_in >= 300
    await make_server(port=port)
    assert alice.retry_now()
    await _state(alice, "connected", timeout=10)
    await alice.send("#lobby", "back at once")
    await alice.close()


async def test_sends_queued_while_down_arrive_exactly_once(make_server, connect) -> None:
    first = await make_server()
    port = first.port
    setup = await connect(first)
    await setup.register("alice", PASSWORD)
    await setup.register("bob", PASSWORD)
    await setup.close()

    alice = ReconnectingClient("127.0.0.1", port, backoff_base=0.05, backoff_cap=0.2)
    await alice.start(username="alice", password=PASSWORD)
    before = await alice.send("@bob", "before the restart")

    await first.stop()
    await _state(alice, "reconnecting")
    queued = [alice.send_nowait("@bob", f"while down {i}")[1] for i in range(3)]
    await asyncio.sleep(0.1)
    assert not any(f.done() for f in queued)

    await make_server(port=port)
    await _state(alice, "connected")
    sent = [await asyncio.wait_for(f, 10) for f in queued]
    assert len({s.mid for s in sent}) == 3

    bob = ChatClient("127.0.0.1", port)
    await bob.connect()
    session = await bob.login("bob", PASSWORD)
    assert session.unread == {"@alice": 4}
    texts = [e.text for e in await drain(bob) if isinstance(e, Message)]
    assert texts == ["before the restart", "while down 0", "while down 1", "while down 2"]
    assert before.mid not in {s.mid for s in sent}
    await bob.close()
    await alice.close()


async def test_resend_with_same_cmid_is_stored_once(make_server, connect) -> None:
    server = await make_server()
    setup = await connect(server)
    await setup.register("alice", PASSWORD)
    await setup.register("bob", PASSWORD)
    alice = ReconnectingClient("127.0.0.1", server.port)
    await alice.start(username="alice", password=PASSWORD)
    one = await alice.send("@bob", "hi", cmid="fixed-1")
    two = await alice.send("@bob", "hi", cmid="fixed-1")
    assert one == two
    await setup.login("bob", PASSWORD)
    history, _ = await setup.history("@alice")
    assert [m.mid for m in history] == [one.mid]
    await alice.close()


async def test_definitive_error_rejects_the_send(server, connect) -> None:
    setup = await connect()
    await setup.register("alice", PASSWORD)
    alice = ReconnectingClient("127.0.0.1", server.port)
    await alice.start(username="alice", password=PASSWORD)
    try:
        await alice.send("@nobody", "hello?")
    except ServerError as exc:
        assert exc.code == "no_such_user"
    else:
        raise AssertionError("send to an unknown user must fail")
    await alice.close()
