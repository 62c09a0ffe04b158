"""The lean RESP connection, and the batch engine on top of it, against a
real Redis that is stopped (SIGSTOP) and against a misbehaving Redis played
by a small asyncio server on loopback (late, short, unsolicited or garbage
replies). The rule under test: a reply is only ever given to the request
that asked for it; anything else fails, with a bound, and the next batch
gets a fresh connection."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import hiredis
import pytest

from chinwag.server import scripts
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.resp import RespConnection, RespError, RespSubscription
from chinwag.server.statuses import SendResult, SendStatus
from chinwag.server.store import StorageUnavailable, Store

from ..support.redis import own_redis
from ..support.waits import eventually

BOUND = 5.0  # hang guard for one step of a test (the connections under test use 0.5 s)


# --- a misbehaving Redis ---------------------------------------------------------------

Behaviour = Callable[[int, list[str]], Awaitable[bytes | None]]


def bulk(value: str) -> bytes:
    data = value.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def array(*items: bytes) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


NIL = b"$-1\r\n"


class FakeRedis:
    """A TCP server on 127.0.0.1 that reads RESP commands and answers each
    with what `behaviour(connection number, command)` returns (None: no
    answer). It records every command per connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.commands: list[list[list[str]]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.commands)
        self.commands.append([])
        self.writers.append(writer)
        self.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    words = [c.decode() for c in command]
                    self.commands[index].append(words)
                    answer = await self.behaviour(index, words)
                    if answer is not None:
                        writer.write(answer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.transport.abort()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=BOUND)


@pytest.fixture
async def fake() -> AsyncIterator[Callable[[Behaviour], Awaitable[tuple[FakeRedis, str]]]]:
    started: list[FakeRedis] = []

    async def factory(behaviour: Behaviour) -> tuple[FakeRedis, str]:
        server = FakeRedis(behaviour)
        started.append(server)
        return server, await server.start()

    yield factory
    for server in started:
        await server.stop()


def polite(words: list[str]) -> bytes:
    """What a healthy Redis says to the commands these tests use."""
    if words[0] == "PING":
        return b"+PONG\r\n"
    if words[0] == "ECHO":
        return bulk(words[1])
    return b"+OK\r\n"


async def echo(conn: RespConnection, *words: str) -> list[Any]:
    return await asyncio.wait_for(conn.execute([("ECHO", w) for w in words]), BOUND)


async def fails(awaitable: Awaitable[Any], error: type[Exception] = RespError) -> Exception:
    try:
        result = await asyncio.wait_for(awaitable, BOUND)
    except error as exc:
        return exc
    raise AssertionError(f"expected {error.__name__}, got {result!r}")


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# --- RespConnection against a fake Redis ---------------------------------------------------


async def test_late_replies_go_to_nobody(fake, caplog) -> None:
    """Connection 0 answers only after the client gave up on it; the client
    must not hand those replies to the next batch (sent on connection 1)."""
    release = asyncio.Event()

    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if index == 0 and words[0] == "ECHO":
            await release.wait()  # "stalled", then answers everything late
        return polite(words)

    server, url = await fake(behaviour)
    conn = RespConnection(url, timeout=0.5)
    late = asyncio.ensure_future(conn.execute([("ECHO", "old-1"), ("ECHO", "old-2")]))
    error = await fails(late)
    assert "did not answer" in str(error)
    second = asyncio.ensure_future(echo(conn, "new"))
    # the new batch is written on connection 1 ...
    assert await eventually(lambda: len(server.commands) >= 2 and ["ECHO", "new"] in server.commands[1])
    release.set()  # ... and connection 0 pours out its late replies
    assert await second == ["new"]
    assert await echo(conn, "again") == ["again"]
    assert [c[0] for c in server.commands[1]][:1] == ["PING"]  # a new connection proves itself first
    assert len(server.commands) == 2
    conn.close()
    assert not no_errors_logged(caplog)


async def test_short_reply_fails_the_batch_with_what_did_arrive(fake) -> None:
    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if index == 0 and words == ["ECHO", "b"]:
            return None  # answers a, never b or c
        if index == 0 and words == ["ECHO", "c"]:
            return None
        return polite(words)

    server, url = await fake(behaviour)
    conn = RespConnection(url, timeout=0.5)
    error = await fails(conn.execute([("ECHO", "a"), ("ECHO", "b"), ("ECHO", "c")]))
    assert isinstance(error, RespError) and error.replies == ["a"]
    assert await echo(conn, "d") == ["d"]  # on a new connection
    assert len(server.commands) == 2
    conn.close()


async def test_garbage_fails_at_once_without_a_traceback(fake, caplog) -> None:
    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if index == 0 and words[0] == "ECHO":
            return b"?this is not RESP\r\n"
        return polite(words)

    _, url = await fake(behaviour)
    conn = RespConnection(url, timeout=30.0)  # the garbage, not the timeout, ends it
    await fails(conn.execute([("ECHO", "x")]))
    assert not no_errors_logged(caplog)
    assert await echo(conn, "y") == ["y"]
    conn.close()


async def test_a_reply_nobody_asked_for_kills_only_that_connection(fake, caplog) -> None:
    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if index == 0 and words == ["ECHO", "x"]:
            return bulk("x") + bulk("unasked")  # one reply too many
        return polite(words)

    server, url = await fake(behaviour)
    conn = RespConnection(url, timeout=0.5)
    assert await echo(conn, "x") == ["x"]
    await asyncio.sleep(0.05)
    assert await echo(conn, "y") == ["y"]  # not "unasked": connection 0 was dropped
    assert len(server.commands) == 2
    conn.close()
    assert not no_errors_logged(caplog)


async def test_a_silent_new_connection_is_given_no_commands(fake) -> None:
    """A Redis that accepts but does not answer PING gets nothing else; the
    batch fails within the bound, so it certainly was not applied."""

    async def behaviour(index: int, words: list[str]) -> bytes | None:
        return None

    server, url = await fake(behaviour)
    conn = RespConnection(url, timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await fails(conn.execute([("SET", "k", "v")]))
    assert loop.time() - started < BOUND
    assert server.commands == [[["PING"]]]
    conn.close()


async def test_connection_closed_mid_batch(fake) -> None:
    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if index == 0 and words == ["ECHO", "b"]:
            server.writers[0].transport.abort()
            return None
        return polite(words)

    server, url = await fake(behaviour)
    conn = RespConnection(url, timeout=30.0)
    error = await fails(conn.execute([("ECHO", "a"), ("ECHO", "b")]))
    assert isinstance(error, RespError) and error.replies == ["a"]
    assert await echo(conn, "c") == ["c"]
    conn.close()


# --- RespConnection against a real Redis that stops ------------------------------------------


@pytest.fixture
async def stoppable() -> AsyncIterator[EmbeddedRedis]:
    async with own_redis("cw-resp-") as redis:
        yield redis


async def test_stopped_redis_times_out_and_its_late_replies_are_never_read(stoppable, caplog) -> None:
    assert stoppable.process is not None and stoppable.url
    conn = RespConnection(stoppable.url, timeout=1.0)
    assert await echo(conn, "warm") == ["warm"]
    os.kill(stoppable.process.pid, signal.SIGSTOP)
    try:
        late = conn.execute([("INCR", "counter"), ("ECHO", "old")])
        await fails(late)
        waiting = asyncio.ensure_future(echo(conn, "new"))  # a new connection, Redis still stopped
        await asyncio.sleep(0.3)
    finally:
        os.kill(stoppable.process.pid, signal.SIGCONT)
    # Redis wakes with both sockets readable; the old one's replies must not
    # reach the batch waiting on the new one.
    assert await waiting == ["new"]
    assert await echo(conn, "after") == ["after"]
    # the timed-out INCR ran after all (its bytes were in Redis's socket
    # buffer): a timeout means "unknown", which is why sends carry a cmid
    assert (await conn.execute([("GET", "counter")])) == ["1"]
    conn.close()
    assert not no_errors_logged(caplog)


# --- the batch engine (Store) --------------------------------------------------------------


def fake_store_redis(send_many: Callable[[int], bytes]) -> Behaviour:
    """Just enough Redis for Store: SCRIPT LOAD answers a sha, EVALSHA of
    SEND_MANY answers `send_many(number of messages)`: flat, four values a
    message (mid, status, conv, prev)."""

    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if words[0] == "SCRIPT":
            return bulk("0" * 40)
        if words[0] == "EVALSHA":
            return send_many(int(words[2]) // 5)  # SEND_MANY: 5 keys a message
        return polite(words)

    return behaviour


async def _sends(store: Store, count: int) -> list[Any]:
    futures = [store.send("@a:b" if i % 2 else "@a:c", "a", f"text {i}", None) for i in range(count)]
    return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), BOUND)


def flat_replies(n: int, conv: Callable[[int], str] = lambda i: "@a:c" if i % 2 == 0 else "@a:b") -> list[bytes]:
    """SEND_MANY's reply values for n new messages, as `_sends` sends them."""
    return [v for i in range(n) for v in (bulk(f"{i + 1}-0"), integer(0), bulk(conv(i)), NIL)]


async def _sends_all_refused(fake, send_many: Callable[[int], bytes]) -> None:
    _, url = await fake(fake_store_redis(send_many))
    store = Store(url)
    await asyncio.wait_for(store.start(), BOUND)
    results = await _sends(store, 2)
    assert all(isinstance(r, StorageUnavailable) for r in results), results
    await store.close()


async def test_a_short_script_reply_fails_exactly_the_unanswered_sends(fake) -> None:
    def send_many(n: int) -> bytes:  # one result fewer than messages
        return array(*flat_replies(n - 1))

    _, url = await fake(fake_store_redis(send_many))
    store = Store(url)
    await asyncio.wait_for(store.start(), BOUND)
    results = await _sends(store, 3)
    assert results[0] == SendResult("1-0", SendStatus.NEW, "@a:c")
    assert results[1] == SendResult("2-0", SendStatus.NEW, "@a:b")
    assert isinstance(results[2], StorageUnavailable)
    await store.close()


async def test_a_reply_for_another_conversation_is_not_accepted(fake) -> None:
    # every message claims it went to @a:z
    await _sends_all_refused(fake, lambda n: array(*flat_replies(n, lambda i: "@a:z")))


async def test_a_flat_reply_that_does_not_divide_into_messages_fails_them_all(fake) -> None:
    # one value short of n messages
    await _sends_all_refused(fake, lambda n: array(*flat_replies(n)[:-1]))


async def test_a_script_redis_keeps_forgetting_is_loaded_again_once_then_the_calls_fail(fake) -> None:
    """The one "script missing -> load and retry" path, for the batch and
    for a single call alike: one reload, one retry, then StorageUnavailable
    (never a loop of reloads)."""

    def send_many(n: int) -> bytes:  # every EVALSHA: Redis does not know the script
        return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"

    server, url = await fake(fake_store_redis(send_many))

    def loads() -> int:
        return sum(1 for commands in server.commands for c in commands if c[:2] == ["SCRIPT", "LOAD"])

    store = Store(url)
    await asyncio.wait_for(store.start(), BOUND)
    at_start = loads()
    assert at_start == len(scripts.SCRIPTS)
    results = await _sends(store, 2)
    assert all(isinstance(r, StorageUnavailable) for r in results), results
    assert loads() == 2 * at_start
    await fails(store.presence_change("node", "a", 1), StorageUnavailable)
    assert loads() == 3 * at_start
    await store.close()


async def test_stalled_redis_fails_store_calls_within_the_bound(stoppable) -> None:
    """redis-py's paths (login, history, presence) and the batch path alike:
    StorageUnavailable, not a hang; and all work again after SIGCONT."""
    assert stoppable.process is not None and stoppable.url
    store = Store(stoppable.url, timeout=0.5)
    await asyncio.wait_for(store.start(), BOUND)
    assert await asyncio.wait_for(store.send("@a:b", "a", "before", "c1"), BOUND)
    os.kill(stoppable.process.pid, signal.SIGSTOP)
    try:
        await fails(store.get_user("a"), StorageUnavailable)
        await fails(store.history("@a:b", None, 10), StorageUnavailable)
        await fails(store.presence_change("node", "a", 1), StorageUnavailable)
        await fails(store.send("@a:b", "a", "during", "c2"), StorageUnavailable)
    finally:
        os.kill(stoppable.process.pid, signal.SIGCONT)
    # the timed-out send may have been applied; its cmid makes the retry safe
    mid = (await asyncio.wait_for(store.send("@a:b", "a", "during", "c2"), BOUND)).mid
    messages, _ = await asyncio.wait_for(store.history("@a:b", None, 10), BOUND)
    assert [(m.text, m.cmid) for m in messages] == [("before", "c1"), ("during", "c2")]
    assert messages[1].mid == mid
    await store.close()


# --- RespSubscription: the node bus on a single Redis ----------------------------------------


class Heard:
    """What a subscription handed over, and a way to wait for a count."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self._changed = asyncio.Event()

    def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self._changed.set()

    async def count(self, n: int) -> list[bytes]:
        async with asyncio.timeout(BOUND):
            while len(self.payloads) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.payloads


async def test_a_subscription_hands_over_every_payload_as_published(redis_url: str) -> None:
    """Bytes as they were (not text: a bus payload is msgpack), in order,
    also when many arrive in one read."""
    heard = Heard()
    sub = await RespSubscription.open(redis_url, "cw-test:bus", heard, timeout=BOUND)
    publisher = RespConnection(redis_url, BOUND)
    try:
        payloads = [b"node|\xff\x00\xc1", b"", b"x" * 100_000, *(b"%d" % i for i in range(500))]
        replies = await publisher.execute([("PUBLISH", "cw-test:bus", p) for p in payloads])
        assert replies == [1] * len(payloads)
        assert await heard.count(len(payloads)) == payloads
    finally:
        sub.close()
        publisher.close()
    assert "closed" in str(await asyncio.wait_for(sub.wait(), BOUND))


async def test_a_killed_subscription_ends_and_says_why(redis_url: str) -> None:
    heard = Heard()
    sub = await RespSubscription.open(redis_url, "cw-test:killed", heard, timeout=BOUND)
    killer = RespConnection(redis_url, BOUND)
    try:
        await killer.execute([("CLIENT", "KILL", "TYPE", "pubsub")])
        error = await asyncio.wait_for(sub.wait(), BOUND)
        assert "lost" in str(error)
        assert heard.payloads == []
    finally:
        sub.close()
        killer.close()


def subscribing(confirm: bytes | None) -> Behaviour:
    async def behaviour(index: int, words: list[str]) -> bytes | None:
        if words[0] == "SUBSCRIBE":
            return confirm
        return polite(words)

    return behaviour


CONFIRMED = array(bulk("subscribe"), bulk("bus"), integer(1))


async def test_a_refused_subscription_fails_to_open_with_redis_words(fake) -> None:
    _, url = await fake(subscribing(b"-NOPERM this user has no permissions to access the 'bus' channel\r\n"))
    error = await fails(RespSubscription.open(url, "bus", Heard(), timeout=0.5))
    assert "NOPERM" in str(error)


async def test_a_redis_that_never_confirms_fails_to_open_within_the_bound(fake) -> None:
    server, url = await fake(subscribing(None))
    error = await fails(RespSubscription.open(url, "bus", Heard(), timeout=0.5))
    assert "did not confirm" in str(error)
    assert server.commands[0] == [["SUBSCRIBE", "bus"]]


async def test_auth_and_select_come_first_and_their_replies_are_not_messages(fake) -> None:
    server, url = await fake(subscribing(CONFIRMED + array(bulk("message"), bulk("bus"), bulk("hi"))))
    heard = Heard()
    sub = await RespSubscription.open(url.replace("//", "//me:secret@").replace("/0", "/3"), "bus", heard, timeout=0.5)
    try:
        assert await heard.count(1) == [b"hi"]
        assert server.commands[0] == [["AUTH", "me", "secret"], ["SELECT", "3"], ["SUBSCRIBE", "bus"]]
    finally:
        sub.close()


@pytest.mark.parametrize(
    ("after", "says"),
    [
        (b"\x00garbage\r\n", "not RESP"),
        (b"+OK\r\n", "does not expect"),
        (b"-ERR out of the blue\r\n", "refused"),
    ],
)
async def test_anything_but_a_message_ends_the_subscription(fake, after: bytes, says: str) -> None:
    """Without a traceback, and without handing anything over: what follows on
    that socket is nobody's."""
    message = array(bulk("message"), bulk("bus"), bulk("late"))
    _, url = await fake(subscribing(CONFIRMED + after + message))
    heard = Heard()
    sub = await RespSubscription.open(url, "bus", heard, timeout=0.5)
    error = await asyncio.wait_for(sub.wait(), BOUND)
    assert says in str(error)
    assert heard.payloads == []


async def test_a_message_split_over_many_reads_arrives_once_whole(fake) -> None:
    payload = "é" * 3000  # multi-byte characters cut mid-way too
    message = array(bulk("message"), bulk("bus"), bulk(payload))
    done = asyncio.Event()

    async def trickle(index: int, words: list[str]) -> bytes | None:
        if words[0] != "SUBSCRIBE":
            return polite(words)
        writer = server.writers[index]
        writer.write(CONFIRMED)
        for i in range(0, len(message), 7):
            writer.write(message[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0)
        done.set()
        return None

    server, url = await fake(trickle)
    heard = Heard()
    sub = await RespSubscription.open(url, "bus", heard, timeout=BOUND)
    try:
        await asyncio.wait_for(done.wait(), BOUND)
        assert await heard.count(1) == [payload.encode()]
    finally:
        sub.close()
