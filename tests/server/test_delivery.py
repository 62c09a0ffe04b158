"""Delivery: offline messages replayed at login with `unread`, acks, the
replay cap, the live-vs-replay race, and `bye overflow`."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict

from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.messages import ByeEvent, Message, PresenceEvent

from ..support.events import (
    collect,
    full_history,
    next_of,
    settled_messages,
)
from ..support.raw import Closed, RawClient
from ..support.settings import PASSWORD

FAST_SENDS = {"send_rate": 100_000, "send_burst": 100_000}


def by_conv(msgs: list[Message]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for m in msgs:
        out[m.conv].append(m.mid)
    return dict(out)


async def send_many(client, to: str, texts: list[str], window: int = 50) -> list[str]:
    mids: list[str] = []
    for start in range(0, len(texts), window):
        replies = await asyncio.gather(
            *(client.request_nowait("send", to=to, text=t) for t in texts[start : start + window])
        )
        mids += [r["mid"] for r in replies]
    return mids


async def events_until_quiet(client, quiet: float) -> tuple[list, str | None]:
    """Events until quiet, and why the connection closed if it did."""
    events = []
    while True:
        try:
            events.append(await client.next_event(timeout=quiet))
        except TimeoutError:
            return events, None
        except ConnectionClosed as exc:
            return events, exc.reason


async def test_offline_scenario_from_the_issue(user) -> None:
    alice = await user("alice")
    carol = await user("carol")
    bob = await user("bob")
    await bob.logout()
    assert (await next_of(bob, ByeEvent)).reason == "logout"

    dms = [await alice.send("@bob", f"dm {i}") for i in range(3)]
    lobby = await carol.send("#lobby", "lobby news")

    bob = await user("bob")
    assert bob.session.unread == {"@alice": 3, "#lobby": 1}
    got = await settled_messages(bob)  # reading them acks them (the client auto-acks)
    assert len(got) == 4
    assert by_conv(got) == {"@alice": [d.mid for d in dms], "#lobby": [lobby.mid]}
    assert [(m.sender, m.text) for m in got if m.conv == "@alice"] == [
        ("alice", "dm 0"),
        ("alice", "dm 1"),
        ("alice", "dm 2"),
    ]
    assert [(m.sender, m.text) for m in got if m.conv == "#lobby"] == [("carol", "lobby news")]
    await bob.ping()  # the acks took effect before this reply

    again = await user("bob")
    assert again.session.unread == {}
    assert not await settled_messages(again)
    # Nothing was lost from history by acking.
    assert [m.mid for m in await full_history(again, "@alice")] == [d.mid for d in dms]


async def test_offline_messages_stay_until_acked(user) -> None:
    alice = await user("alice")
    await user("bob")
    sent = [await alice.send("@bob", f"m{i}") for i in range(2)]
    for _ in range(2):  # logging in without reading (no ack) replays them again
        bob = await user("bob", auto_ack=False)
        assert bob.session.unread == {"@alice": 2}
        assert [m.mid for m in await settled_messages(bob)] == [s.mid for s in sent]
        await bob.close()


async def test_explicit_ack_with_auto_ack_off(user) -> None:
    alice = await user("alice")
    await user("bob")
    sent = [await alice.send("@bob", f"m{i}") for i in range(3)]
    bob = await user("bob", auto_ack=False)
    got = await collect(bob, 3)
    bob.ack("@alice", got[-1].mid)
    await bob.ping()
    again = await user("bob")
    assert again.session.unread == {}
    assert not await settled_messages(again)
    assert [m.mid for m in got] == [s.mid for s in sent]


async def test_own_messages_are_replayed_but_not_counted(user) -> None:
    alice = await user("alice", auto_ack=False)
    bob = await user("bob")
    mine = [await alice.send("@bob", f"from alice {i}") for i in range(2)]
    theirs = await bob.send("@alice", "from bob")
    lobby = await alice.send("#lobby", "alice in the lobby")
    await alice.close()  # never read anything: nothing acked

    alice2 = await user("alice")
    assert alice2.session.unread == {"@bob": 1}, "own messages are never counted"
    got = await settled_messages(alice2)
    assert by_conv(got) == {"@bob": [mine[0].mid, mine[1].mid, theirs.mid], "#lobby": [lobby.mid]}
    assert {m.conv for m in got} == {"@bob", "#lobby"}


async def test_replay_is_capped_at_500_per_conversation_while_unread_counts_all(make_server, user) -> None:
    srv = await make_server(**FAST_SENDS)
    alice = await user("alice", to=srv)
    bob = await user("bob", to=srv)
    await bob.close()
    mids = await send_many(alice, "@bob", [f"n{i}" for i in range(520)])
    lobby = await alice.send("#lobby", "and one in the lobby")

    bob = await user("bob", to=srv)
    assert bob.session.unread == {"@alice": 520, "#lobby": 1}
    got = await collect(bob, 501, timeout=15)
    assert not await settled_messages(bob)
    assert by_conv(got) == {"@alice": mids[-500:], "#lobby": [lobby.mid]}, "the newest 500, oldest first"
    # The older ones are still reachable with history.
    assert [m.mid for m in await full_history(bob, "@alice")] == mids
    await bob.ping()
    again = await user("bob", to=srv)
    assert again.session.unread == {}


async def test_live_messages_during_login_neither_lost_nor_duplicated(make_server, user, connect) -> None:
    """While bob logs in over and over (resume, so logins are quick), alice and
    carol send without pause; every bob connection must see, exactly once and
    in order, every message after his (unmoving) cursor."""
    srv = await make_server(**FAST_SENDS)
    alice = await user("alice", to=srv)
    carol = await user("carol", to=srv)
    first = await user("bob", to=srv, auto_ack=False)
    token = first.session.token
    await first.close()

    stop = asyncio.Event()

    async def stream(client, to: str, prefix: str) -> int:
        n = 0
        while not stop.is_set() and n < 400:
            await client.send(to, f"{prefix}{n}")
            n += 1
        return n

    senders = [asyncio.create_task(stream(alice, "@bob", "a")), asyncio.create_task(stream(carol, "#lobby", "c"))]
    bobs = []
    for _ in range(8):
        await asyncio.sleep(0.02)
        client = await connect(to=srv, auto_ack=False)
        await client.resume(token)
        bobs.append(client)
    stop.set()
    await asyncio.gather(*senders)

    dm_history = [m.mid for m in await full_history(alice, "@bob")]
    lobby_history = [m.mid for m in await full_history(alice, "#lobby")]
    assert 0 < len(dm_history) < 500 and 0 < len(lobby_history) < 500
    expected = len(dm_history) + len(lobby_history)
    received = await asyncio.gather(*(collect(c, expected, timeout=10) for c in bobs))
    for i, (client, got) in enumerate(zip(bobs, received, strict=True)):
        assert not await settled_messages(client), f"bob connection {i}: extra messages"
        seen = by_conv(got)
        assert seen.get("@alice", []) == dm_history, f"bob connection {i}: DM gap, duplicate or reorder"
        assert seen.get("#lobby", []) == lobby_history, f"bob connection {i}: lobby gap, duplicate or reorder"


async def test_live_messages_during_password_login(make_server, user) -> None:
    srv = await make_server(**FAST_SENDS)
    alice = await user("alice", to=srv)
    await user("bob", to=srv, auto_ack=False)
    stop = asyncio.Event()

    async def stream() -> None:
        n = 0
        while not stop.is_set() and n < 450:
            await alice.send("@bob", f"x{n}")
            n += 1

    task = asyncio.create_task(stream())
    await asyncio.sleep(0.05)
    bob = await user("bob", to=srv, auto_ack=False)
    await asyncio.sleep(0.05)
    stop.set()
    await task
    history = [m.mid for m in await full_history(alice, "@bob")]
    got = await collect(bob, len(history))
    assert [m.mid for m in got] == history
    assert not await settled_messages(bob)


async def test_first_dm_sent_while_the_receiver_logs_in(make_server, user, connect) -> None:
    """A conversation that did not exist when bob's login started must still
    reach him live."""
    srv = await make_server(**FAST_SENDS)
    senders = [await user(f"s{i}", to=srv) for i in range(6)]
    bob = await user("bob", to=srv, auto_ack=False)
    token = bob.session.token
    await bob.close()
    clients = []

    async def resume_once() -> None:
        client = await connect(to=srv, auto_ack=False)
        await client.resume(token)
        clients.append(client)

    await asyncio.gather(
        *(s.send("@bob", f"first from s{i}") for i, s in enumerate(senders)), *(resume_once() for _ in range(4))
    )
    for client in clients:
        got = await collect(client, 6)
        assert sorted(m.conv for m in got) == [f"@s{i}" for i in range(6)]
        assert not await settled_messages(client)


async def test_replay_and_live_are_in_order_per_conversation_after_reconnect(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    early = [await alice.send("@bob", f"early {i}") for i in range(3)]
    assert [m.mid for m in await collect(bob, 3)] == [s.mid for s in early]
    await bob.ping()
    await bob.close()
    offline = [await alice.send("@bob", f"offline {i}") for i in range(3)]
    bob = await user("bob")
    live = [await alice.send("@bob", f"live {i}") for i in range(3)]
    got = await collect(bob, 6)
    assert [m.mid for m in got] == [s.mid for s in offline + live]
    assert not await settled_messages(bob)


async def test_replay_of_a_big_backlog_to_a_prompt_reader_is_not_overflow(make_server, user) -> None:
    """A client that reads as fast as it can must get its whole backlog at
    login (≤ 500 per conversation), not `bye overflow` because the server
    queued the entire replay in one go."""
    srv = await make_server(**FAST_SENDS)  # default outgoing_limit (4 MiB)
    alice = await user("alice", to=srv)
    await user("bob", to=srv)
    big = "😀" * 3990  # 16 KB of UTF-8
    mids = await send_many(alice, "@bob", [f"{i:03d}:{big}" for i in range(300)], window=20)
    bob = await user("bob", to=srv)
    assert bob.session.unread == {"@alice": 300}
    events, closed = await events_until_quiet(bob, quiet=1.0)
    got = [m.mid for m in events if isinstance(m, Message)]
    byes = [e.reason for e in events if isinstance(e, ByeEvent)]
    assert (closed, byes) == (None, []), (
        f"the server dropped a prompt reader after {len(got)} of 300 messages: {closed} {byes}"
    )
    assert got == mids


async def test_overflow_drops_a_stalled_reader_and_loses_nothing(make_server, user, connect) -> None:
    srv = await make_server(outgoing_limit=16_384, **FAST_SENDS)
    # Same Redis, roomy limits, for the re-login (so that this test does not
    # depend on how the replay itself is paced).
    other = await make_server(outgoing_limit=64 * 2**20, **FAST_SENDS)
    alice = await user("alice", to=srv)
    watcher = await user("carol", to=srv)
    await (await connect(to=srv)).register("bob", PASSWORD)  # registered, not connected

    # Bob's raw connection never reads; a small receive buffer makes the
    # server's queue grow quickly.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    stalled = await RawClient.wrap(sock, streams=True)
    await stalled.hello()
    await stalled.login("bob", PASSWORD)
    ev = await next_of(watcher, PresenceEvent)
    assert (ev.user.username, ev.online) == ("bob", True)

    # 320 messages of 16 KB: more than the kernel's socket buffers (at most
    # 4 MiB here) and the server's 16 KiB limit can hold.
    mids = await send_many(alice, "@bob", ["😀" * 4000] * 320, window=20)
    frames = []
    try:
        while True:
            frames.append(await stalled.recv(timeout=5))
    except Closed:
        pass
    stalled.close()
    assert frames and frames[-1] == {"type": "bye", "reason": "overflow"}, frames[-1:]
    delivered = [f["mid"] for f in frames if f["type"] == "message"]
    assert 0 < len(delivered) < len(mids) and delivered == mids[: len(delivered)]
    ev = await next_of(watcher, PresenceEvent)
    assert (ev.user.username, ev.online) == ("bob", False)

    # Nothing is lost: everything comes back at the next login.
    bob = await connect(to=other)
    await bob.login("bob", PASSWORD)
    assert bob.session.unread == {"@alice": len(mids)}
    got = await collect(bob, len(mids), timeout=10)
    assert [m.mid for m in got] == mids
