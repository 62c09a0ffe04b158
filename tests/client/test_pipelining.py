"""The outbox pipelines its sends: many on the wire at once, in order,
each stored once, again with the same cmid after a connection is cut, and
in order past `rate_limited` refusals. A relay between the real client and
the real server shows what was on the wire."""

from __future__ import annotations

import asyncio
import logging

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.protocol.reconnect import ReconnectingClient

from ..support.events import next_of
from ..support.settings import PASSWORD
from .relay import Relay

FAST = {"backoff_base": 0.02, "backoff_cap": 0.1}


async def _setup(make_server, **settings):
    server = await make_server(**settings)
    setup = ChatClient("127.0.0.1", server.port)
    await setup.connect()
    for name in ("alice", "bob"):
        await setup.register(name, PASSWORD)
    await setup.login("bob", PASSWORD)
    return server, setup


async def test_sends_are_on_the_wire_together_before_any_answer(make_server) -> None:
    server, bob = await _setup(make_server)
    relay = await Relay(server.port).start()
    alice = ReconnectingClient("127.0.0.1", relay.port, **FAST)
    await alice.start(username="alice", password=PASSWORD)
    relay.hold()  # no answer reaches alice until every send is out
    futures = [alice.send_nowait("@bob", f"m{i}")[1] for i in range(20)]
    await relay.until(lambda: len(relay.sent("send")) == 20, "20 sends in flight at once")
    assert not any(f.done() for f in futures)
    relay.leg.release()
    sent = await asyncio.wait_for(asyncio.gather(*futures), 10)
    history, _ = await bob.history("@alice")
    assert [m.text for m in history] == [f"m{i}" for i in range(20)]
    assert [m.mid for m in history] == [s.mid for s in sent]
    assert alice.pending_sends() == 0
    await alice.close()
    await bob.close()
    await relay.stop()


async def test_unanswered_sends_go_again_in_order_with_their_cmids(make_server) -> None:
    server, bob = await _setup(make_server)
    relay = await Relay(server.port).start()
    alice = ReconnectingClient("127.0.0.1", relay.port, **FAST)
    await alice.start(username="alice", password=PASSWORD)
    relay.hold()
    futures = [alice.send_nowait("@bob", f"m{i}")[1] for i in range(10)]
    # The server stored all ten and answered; alice never hears it.
    await relay.until(lambda: relay.held_replies >= 10, "the server's ten answers")
    first = [f["cmid"] for f in relay.sent("send")]
    relay.leg.cut()
    sent = await asyncio.wait_for(asyncio.gather(*futures), 10)
    again = [f["cmid"] for f in relay.sent("send")][10:]
    assert again == first  # the same cmids, in the same order
    history, _ = await bob.history("@alice")
    assert [m.text for m in history] == [f"m{i}" for i in range(10)]  # each stored once
    assert [m.mid for m in history] == [s.mid for s in sent]
    await alice.close()
    await bob.close()
    await relay.stop()


async def test_rate_limited_sends_keep_their_order(make_server) -> None:
    # A token per 200 ms: sends refused together cannot be taken apart by a refill.
    server, bob = await _setup(make_server, send_rate=5.0, send_burst=4)
    alice = ReconnectingClient("127.0.0.1", server.port, **FAST)
    await alice.start(username="alice", password=PASSWORD)
    futures = [alice.send_nowait("@bob", f"m{i}")[1] for i in range(10)]
    sent = await asyncio.wait_for(asyncio.gather(*futures), 20)
    history, _ = await bob.history("@alice")
    assert [m.text for m in history] == [f"m{i}" for i in range(10)]
    assert [m.mid for m in history] == [s.mid for s in sent]
    await alice.close()
    await bob.close()


async def test_a_malformed_event_is_logged_and_skipped(make_server, caplog) -> None:
    server, bob = await _setup(make_server)
    relay = await Relay(server.port).start()
    alice = ChatClient("127.0.0.1", relay.port)
    await alice.connect()
    await alice.login("alice", PASSWORD)
    caplog.set_level(logging.WARNING, logger="chinwag.protocol.client")
    relay.inject({"type": "message", "conv": "@bob", "mid": "1-0"})  # no from, text or ts
    relay.inject({"type": "typing", "conv": "no sigil", "from": "bob"})
    await bob.send("@alice", "after the bad ones")
    got = await next_of(alice, Message)
    assert got.text == "after the bad ones"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'message'" in w and "malformed" in w for w in warnings), warnings
    assert any("'typing'" in w and "malformed" in w for w in warnings), warnings
    await alice.close()
    await bob.close()
    await relay.stop()
