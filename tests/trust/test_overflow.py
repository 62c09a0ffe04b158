"""A client that stops reading: its bounded outgoing queue overflows, it gets
`bye overflow` and is dropped by the server; everyone else gets every
message; and at its next login it gets everything it missed (unread counts
for all of it, replay of the newest 500 per conversation)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.frames import encode_frame
from chinwag.protocol.messages import ByeEvent, Message
from chinwag.server.app import ChatServer
from chinwag.server.connection import Connection, State

from ..support.events import collect
from ..support.raw import Closed, RawClient
from ..support.settings import PASSWORD
from ..support.waits import eventually

LIMIT = 64 * 1024
BIG = "\u20ac" * 3_000  # 3,000 code points, 9 kB of UTF-8


def connection_of(server: ChatServer, username: str) -> Connection:
    [conn] = [c for c in server.connections if c.username == username]
    return conn


async def open_slow_reader(server: ChatServer, name: str) -> RawClient:
    """Log in on a raw socket with a tiny receive window, then never read again."""
    slow = await RawClient.open(server.port, rcvbuf=4096)
    await slow.hello()
    await slow.register(name)
    await slow.login(name)
    return slow


async def flood(
    flooder: ChatClient,
    sent: dict[str, list[tuple[str, str]]],
    counter: Any,
    rounds: int,
    per_round: int = 10,
    text: str = BIG,
    dm_to: str = "@slowpoke",
    until: Any = None,
) -> int:
    """Pipelined sends to the lobby and DMs to `dm_to`, `per_round` at a time;
    records (mid, text) per conversation in `sent`; stops early when `until()`."""
    for done in range(1, rounds + 1):
        pending = []
        for _ in range(per_round):
            body = f"L{next(counter):05d} {text}"
            pending.append(("#lobby", body, flooder.request_nowait("send", to="#lobby", text=body)))
        body = f"D{next(counter):05d} {text[:500]}"
        pending.append((dm_to, body, flooder.request_nowait("send", to=dm_to, text=body)))
        replies = await asyncio.wait_for(asyncio.gather(*(p[2] for p in pending)), 10)
        for (conv, body, _), reply in zip(pending, replies, strict=True):
            sent[conv].append((reply["mid"], body))
        if until is not None and until():
            return done
    return rounds


def message_frames(frames: list[dict[str, Any]], conv: str) -> list[tuple[str, str]]:
    return [(f["mid"], f["text"]) for f in frames if f.get("type") == "message" and f.get("conv") == conv]


async def test_slow_reader_is_dropped_with_bye_overflow_while_others_get_everything(make_server, user) -> None:
    server = await make_server(outgoing_limit=LIMIT, send_rate=10_000, send_burst=10_000)
    flooder = await user("flooder", to=server)
    reader = await user("reader", to=server)
    slow = await open_slow_reader(server, "slowpoke")
    try:
        slow_conn = connection_of(server, "slowpoke")
        sent: dict[str, list[tuple[str, str]]] = {"#lobby": [], "@slowpoke": []}
        counter = itertools.count()
        rounds = await flood(flooder, sent, counter, rounds=60, until=lambda: slow_conn.state is State.CLOSED)
        assert slow_conn.state is State.CLOSED, f"not dropped after {rounds} rounds"
        dropped_after = len(sent["#lobby"])
        await flood(flooder, sent, counter, rounds=3)  # the flood goes on without it

        # the slow socket: what the server managed to send, in order, then
        # `bye overflow`, then the server closes it
        frames = await slow.until_closed(timeout=8)
        assert slow.eof
        assert frames, "nothing at all arrived on the slow connection"
        assert frames[-1] == {"type": "bye", "reason": "overflow"}, frames[-3:]
        got = message_frames(frames, "#lobby")
        assert got == sent["#lobby"][: len(got)]
        assert len(got) <= dropped_after  # what was queued before the drop drains, nothing after
        got_dm = message_frames(frames, "@flooder")
        assert got_dm == [(mid, text) for mid, text in sent["@slowpoke"]][: len(got_dm)]
        assert await eventually(lambda: slow_conn not in server.connections, 5)

        # the reading user got every lobby message, exactly once, in order
        received = await collect(reader, len(sent["#lobby"]), timeout=15, conv="#lobby")
        assert [(m.mid, m.text) for m in received] == sent["#lobby"]
        assert reader.connected and flooder.connected
        await asyncio.wait_for(reader.ping(), 2)
    finally:
        slow.close()


async def test_dropped_reader_gets_everything_it_missed_at_next_login(make_server, user) -> None:
    server = await make_server(outgoing_limit=LIMIT, send_rate=10_000, send_burst=10_000)
    flooder = await user("flooder", to=server)
    slow = await open_slow_reader(server, "slowpoke")
    try:
        slow_conn = connection_of(server, "slowpoke")
        sent: dict[str, list[tuple[str, str]]] = {"#lobby": [], "@slowpoke": []}
        counter = itertools.count()
        await flood(flooder, sent, counter, rounds=60, until=lambda: slow_conn.state is State.CLOSED)
        assert slow_conn.state is State.CLOSED
        await flood(flooder, sent, counter, rounds=2)
        await slow.until_closed(timeout=8)
    finally:
        slow.close()
    assert len(sent["#lobby"]) <= 500  # all of it fits in the replay

    # it never acked anything, so all of it is still owed; a second attempt
    # shows whether a failed first one was a one-off or a loop
    total = len(sent["#lobby"]) + len(sent["@slowpoke"])
    expected_unread = {"#lobby": len(sent["#lobby"]), "@flooder": len(sent["@slowpoke"])}
    attempts = [await login_and_replay(server, "slowpoke", total)]
    unread, messages, byes = attempts[0]
    assert unread == expected_unread
    if byes:
        attempts.append(await login_and_replay(server, "slowpoke", total))
    assert not byes, (
        f"dropped at login ({byes!r}): attempt 1 got {len(attempts[0][1])} of {total} replayed "
        f"messages, attempt 2 got {len(attempts[1][1])} (the same first ones: "
        f"{attempts[0][1][:3] == attempts[1][1][:3]}) and {attempts[1][2]!r}"
    )
    assert [(m.mid, m.text) for m in messages if m.conv == "#lobby"] == sent["#lobby"]
    assert [(m.mid, m.text) for m in messages if m.conv == "@flooder"] == sent["@slowpoke"]


async def login_and_replay(
    server: ChatServer, name: str, expected: int, token: str | None = None
) -> tuple[dict[str, int], list[Message], list[Any]]:
    """Log in (or resume) and read the replay: (unread, messages, how it
    ended early: bye events or the ConnectionClosed)."""
    client = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    try:
        await asyncio.wait_for(client.connect(), 5)
        if token is None:
            session = await asyncio.wait_for(client.login(name, PASSWORD), 5)
        else:
            session = await asyncio.wait_for(client.resume(token), 5)
        messages: list[Message] = []
        byes: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 8
        while len(messages) < expected and not byes:
            try:
                event = await client.next_event(timeout=max(0.01, deadline - loop.time()))
            except ConnectionClosed as exc:
                byes.append(exc)
                break
            except TimeoutError:
                byes.append("nothing more arrived within 8 s")
                break
            if isinstance(event, Message):
                messages.append(event)
            elif isinstance(event, ByeEvent):
                byes.append(event)
        if not byes and client.connected:
            await asyncio.wait_for(client.ping(), 2)
        return session.unread, messages, byes
    finally:
        await client.close()


async def test_offline_backlog_bigger_than_the_default_outgoing_limit_is_replayed(make_server, user) -> None:
    """With the default outgoing_limit (4 MiB), 400 long messages (12 kB each,
    within max_text) missed while offline are well under the 500 replay cap."""
    server = await make_server(send_rate=10_000, send_burst=10_000)
    assert server.settings.outgoing_limit == 4 * 1024 * 1024
    away = await user("away", to=server)
    token = away.session.token
    await away.close()
    sender = await user("sender", to=server)
    long_text = "\u20ac" * (server.settings.max_text - 10)
    sent: list[tuple[str, str]] = []
    for start in range(0, 400, 25):
        futures = [(f"{i:04d} {long_text}", None) for i in range(start, start + 25)]
        futures = [(text, sender.request_nowait("send", to="#lobby", text=text)) for text, _ in futures]
        for text, future in futures:
            sent.append(((await asyncio.wait_for(future, 10))["mid"], text))
    assert sum(len(t.encode()) for _, t in sent) > server.settings.outgoing_limit
    unread, messages, byes = await login_and_replay(server, "away", len(sent), token=token)
    assert unread == {"#lobby": 400}
    assert not byes, f"dropped at login ({byes!r}) after {len(messages)} of 400 replayed messages"
    assert [(m.mid, m.text) for m in messages] == sent


async def test_replay_at_login_is_capped_at_500_per_conversation_with_full_unread(make_server, user) -> None:
    server = await make_server(send_rate=10_000, send_burst=10_000)
    away = await user("away", to=server)
    await away.send("#lobby", "my own, before")  # own messages are replayed but never counted
    token = away.session.token
    await away.close()
    sender = await user("sender", to=server)
    lobby: list[tuple[str, str]] = []
    dms: list[tuple[str, str]] = []
    for start in range(0, 520, 40):
        futures = [
            (i, sender.request_nowait("send", to="#lobby", text=f"lobby {i}"))
            for i in range(start, min(start + 40, 520))
        ]
        for i, future in futures:
            lobby.append(((await asyncio.wait_for(future, 10))["mid"], f"lobby {i}"))
    for i in range(30):
        dms.append(((await sender.send("@away", f"dm {i}")).mid, f"dm {i}"))

    back = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    try:
        await asyncio.wait_for(back.connect(), 5)
        session = await asyncio.wait_for(back.resume(token), 5)
        assert session.unread == {"#lobby": 520, "@sender": 30}
        messages = await collect(back, 530, timeout=10)
        assert [(m.mid, m.text) for m in messages if m.conv == "#lobby"] == lobby[-500:]
        assert [(m.mid, m.text) for m in messages if m.conv == "@sender"] == dms
        # older ones remain reachable with history
        older, more = await back.history("#lobby", before=lobby[-500][0], limit=200)
        assert [m.text for m in older] == ["my own, before"] + [t for _, t in lobby[:20]]
        assert not more
    finally:
        await back.close()


async def test_bye_overflow_reaches_a_slow_reader_that_keeps_writing(make_server, user) -> None:
    """A client whose reading stalls while it still writes (keepalives, acks):
    after the drop, what it reads must still end with `bye overflow`, not a
    reset that throws away the frames already sent."""
    server = await make_server(outgoing_limit=LIMIT, send_rate=10_000, send_burst=10_000)
    flooder = await user("flooder", to=server)
    slow = await open_slow_reader(server, "slowpoke")
    try:
        slow_conn = connection_of(server, "slowpoke")

        async def keep_writing() -> None:
            for _ in range(300):
                if not await slow.try_send_bytes(encode_frame({"type": "pong"}), timeout=1):
                    return
                await asyncio.sleep(0.01)

        writer = asyncio.create_task(keep_writing())
        sent: dict[str, list[tuple[str, str]]] = {"#lobby": [], "@slowpoke": []}
        await flood(flooder, sent, itertools.count(), rounds=60, until=lambda: slow_conn.state is State.CLOSED)
        assert slow_conn.state is State.CLOSED
        await asyncio.sleep(0.1)  # a few more keepalives after the server gave up on it
        writer.cancel()
        try:
            frames = await slow.until_closed(timeout=8)
        except Closed:
            frames = []
        last = (slow.frames or frames or [{}])[-1]
        assert not slow.reset, (
            f"connection reset after {slow.received} bytes; the last frame read "
            f"was {last.get('type')} {last.get('mid', '')}, no bye"
        )
        assert frames and frames[-1] == {"type": "bye", "reason": "overflow"}, frames[-2:]
    finally:
        slow.close()


def held_for(conn: Connection) -> int:
    """What the server holds for one connection: the writer's backlog plus the
    live messages held back during a login replay."""
    assert conn.writer is not None
    return conn.writer.backlog + sum(len(frame) for _, _, frame in conn._replay_buffer or ())


async def test_a_client_that_logs_in_while_its_lobby_is_busy_and_does_not_read_is_bounded(make_server, user) -> None:
    """Live messages held back during a login replay count against the
    outgoing limit: a client that logs in and never reads gets `bye
    overflow` once the limit is reached, instead of a pile that grows as
    long as the lobby is busy."""
    limit = 1024 * 1024  # well above what one paced replay step puts in the transport
    server = await make_server(outgoing_limit=limit, send_rate=10_000, send_burst=10_000)
    away = await user("slowpoke", to=server)
    await away.close()
    flooder = await user("flooder", to=server)
    # an offline backlog bigger than any kernel socket buffer (500 x 12 kB):
    # the replay to a client that does not read stalls
    longest = "\u20ac" * (server.settings.max_text - 10)
    offline: dict[str, list[tuple[str, str]]] = {"#lobby": [], "@slowpoke": []}
    counter = itertools.count()
    await flood(flooder, offline, counter, rounds=50, text=longest)
    slow = await RawClient.open(server.port, rcvbuf=4096)
    try:
        await slow.hello()
        await slow.login("slowpoke")  # reads the reply and whatever came with it, then stops
        conn = connection_of(server, "slowpoke")
        assert conn._replay_buffer is not None, "the replay did not stall; make the backlog bigger"
        # the lobby stays busy; the server must not hold more than the limit for it
        most = 0
        live: dict[str, list[tuple[str, str]]] = {"#lobby": [], "@slowpoke": []}
        for _ in range(80):  # 3.6 MB of live messages, if nothing stopped it
            await flood(flooder, live, counter, rounds=1, per_round=5)
            most = max(most, held_for(conn))
            if conn.state is State.CLOSED:
                break
        assert most <= limit * 5 // 4, f"held {most} bytes for a client that does not read"
        assert conn.state is State.CLOSED, f"not dropped; holding {held_for(conn)} bytes"
        assert await eventually(lambda: conn not in server.connections, 5)
        # when it finally reads: what the server managed to send, then `bye overflow`
        frames = await slow.until_closed(timeout=15)
        assert not slow.reset
        assert frames[-1] == {"type": "bye", "reason": "overflow"}, frames[-2:]
        got = message_frames(slow.frames + frames, "#lobby")
        assert got == offline["#lobby"][: len(got)]  # in order, nothing live before the replay's end
    finally:
        slow.close()
    # nothing was acked: the next login owes all of it
    lobby = offline["#lobby"] + live["#lobby"]
    dms = offline["@slowpoke"] + live["@slowpoke"]
    unread, messages, byes = await login_and_replay(server, "slowpoke", 500 + len(dms))
    assert unread == {"#lobby": len(lobby), "@flooder": len(dms)}
    assert not byes, byes
    assert [(m.mid, m.text) for m in messages if m.conv == "#lobby"] == lobby[-500:]
    assert [(m.mid, m.text) for m in messages if m.conv == "@flooder"] == dms


async def slow_read_to_the_end(sock: Any, keep_writing: bool) -> tuple[list[dict[str, Any]], bool]:
    """Read what comes, pausing now and then (writing pongs meanwhile, if asked)
    until the server closes; returns (frames, whether it ended in a reset)."""
    from chinwag.protocol.frames import FrameDecoder

    loop = asyncio.get_running_loop()
    decoder = FrameDecoder(2**24)
    frames: list[dict[str, Any]] = []
    reads = 0
    deadline = loop.time() + 20
    while loop.time() < deadline:
        if keep_writing and reads % 8 == 0:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(loop.sock_sendall(sock, encode_frame({"type": "pong"})), 1)
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 32768), 5)
        except (ConnectionResetError, BrokenPipeError):
            return frames, True
        if not data:
            return frames, False
        decoder.receive_data(data)
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
        reads += 1
        if reads % 8 == 0:
            await asyncio.sleep(0.01)
    raise AssertionError("the server neither closed nor reset within 20 s")


async def test_a_dropped_client_reads_its_bye_overflow_every_time(make_server, user, monkeypatch) -> None:
    """20 connections of one user stop reading and are dropped together; each
    then reads its backlog slowly (half of them writing all the while), for
    longer than the close linger: every one must read `bye overflow` as its
    last frame and then a clean close, never a reset."""
    from chinwag.server import connection as connection_module

    monkeypatch.setattr(connection_module, "LINGER_S", 0.2)
    server = await make_server(outgoing_limit=LIMIT, send_rate=10_000, send_burst=10_000)
    flooder = await user("flooder", to=server)
    slow = await open_slow_reader(server, "slowpoke")
    slows = [slow]
    try:
        for _ in range(19):
            more = await RawClient.open(server.port, rcvbuf=4096)
            slows.append(more)
            await more.hello()
            await more.login("slowpoke")
        conns = [c for c in server.connections if c.username == "slowpoke"]
        assert len(conns) == 20
        sent: dict[str, list[tuple[str, str]]] = {"#lobby": [], "@slowpoke": []}
        await flood(
            flooder, sent, itertools.count(), rounds=80, until=lambda: all(c.state is State.CLOSED for c in conns)
        )
        assert all(c.state is State.CLOSED for c in conns)
        results = await asyncio.gather(
            *(slow_read_to_the_end(s.sock, keep_writing=i % 2 == 1) for i, s in enumerate(slows))
        )
        for i, (frames, reset) in enumerate(results):
            assert not reset, f"connection {i} was reset after {len(frames)} frames; no bye"
            assert frames and frames[-1] == {"type": "bye", "reason": "overflow"}, (i, frames[-2:])
    finally:
        for s in slows:
            s.close()
