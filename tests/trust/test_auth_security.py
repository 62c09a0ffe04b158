"""Accounts are safe: tokens are 256-bit, random, stored hashed, expire and
are revoked on logout; resume never hashes a password; argon2id with the
configured parameters, upgraded on login; login and registration throttling;
authorization (the sender is the session's user, DMs and rooms are private to
their members); and no password or token ever reaches a log record."""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re
import secrets
import string
from typing import Any

import redis.asyncio as aioredis

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed
from chinwag.protocol.messages import ByeEvent, ErrorEvent, Message, TypingEvent
from chinwag.server.app import ChatServer

from ..support.events import collect, drain, error_of, settled
from ..support.settings import PASSWORD

URLSAFE = set(string.ascii_letters + string.digits + "-_")


async def redis_contents(url: str) -> list[tuple[bytes, list[bytes]]]:
    """Every key in Redis with every string it holds (values, hash fields,
    members, stream fields)."""
    client = aioredis.Redis.from_url(url, protocol=2)
    out: list[tuple[bytes, list[bytes]]] = []
    try:
        async for key in client.scan_iter(count=500):
            kind = (await client.type(key)).decode()
            values: list[bytes] = []
            if kind == "string":
                values = [await client.get(key)]
            elif kind == "hash":
                for field, value in (await client.hgetall(key)).items():
                    values += [field, value]
            elif kind == "set":
                values = list(await client.smembers(key))
            elif kind == "zset":
                values = [member for member, _ in await client.zrange(key, 0, -1, withscores=True)]
            elif kind == "list":
                values = list(await client.lrange(key, 0, -1))
            elif kind == "stream":
                for _, fields in await client.xrange(key):
                    for field, value in fields.items():
                        values += [field, value]
            out.append((key, values))
    finally:
        await client.aclose()
    return out


async def stored_password_hashes(url: str) -> list[str]:
    return [v.decode() for _, values in await redis_contents(url) for v in values if v.startswith(b"$argon2")]


def argon2_params(encoded: str) -> dict[str, int]:
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", encoded)
    assert match, encoded
    m, t, p = (int(x) for x in match.groups())
    return {"m": m, "t": t, "p": p}


class CallCounter:
    """Counts calls to the password service of a live server (a wrapper, not a
    mock: the real methods still run)."""

    def __init__(self, server: ChatServer) -> None:
        self.calls: dict[str, int] = {"hash": 0, "verify": 0, "_verify": 0}
        service = server.passwords
        for name in ("hash", "verify", "_verify"):
            setattr(service, name, self._wrap(name, getattr(service, name)))

    def _wrap(self, name: str, func: Any) -> Any:
        if asyncio.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_counting(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return await func(*args, **kwargs)

            return async_counting

        @functools.wraps(func)
        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return func(*args, **kwargs)

        return counting

    @property
    def total(self) -> int:
        return sum(self.calls.values())


async def client_for(server: ChatServer) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    await asyncio.wait_for(client.connect(), 5)
    return client


# --- tokens ------------------------------------------------------------------------------


async def test_tokens_are_256_bit_random_and_stored_hashed(make_server, connect, clean_redis) -> None:
    server = await make_server()
    first = await connect(to=server)
    await first.register("alice", PASSWORD)
    tokens = []
    for _ in range(4):
        client = await connect(to=server)
        tokens.append((await client.login("alice", PASSWORD)).token)
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert len(token) >= 43 and set(token) <= URLSAFE, token
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 32

    contents = await redis_contents(clean_redis)
    assert contents
    for key, values in contents:
        for token in tokens:
            assert token.encode() not in key, key
            assert not any(token.encode() in v for v in values), key
        assert not any(PASSWORD.encode() in v for v in values), key
        assert PASSWORD.encode() not in key


async def test_logout_revokes_only_its_own_token(make_server, connect) -> None:
    server = await make_server()
    a = await connect(to=server)
    await a.register("alice", PASSWORD)
    token = (await a.login("alice", PASSWORD)).token
    other = await connect(to=server)
    other_token = (await other.login("alice", PASSWORD)).token

    await a.logout()
    events = await events_until_closed(a)
    assert events[-1] == ByeEvent("logout"), events
    assert not a.connected

    # the user's connections with another token stay open
    await asyncio.wait_for(other.ping(), 2)

    again = await connect(to=server)
    err = await error_of(again.resume(token), "bad_credentials")
    assert "log in" in err.message
    assert again.connected  # a refused resume is an answer, not a disconnect
    fresh = await connect(to=server)
    assert (await fresh.resume(other_token)).user.username == "alice"


async def test_logout_ends_every_connection_of_its_token_on_every_node(make_server, connect) -> None:
    """A connection that resumed with a token does not outlive its logout,
    on this node or another; other tokens' connections are untouched."""
    first = await make_server()
    second = await make_server()
    a = await connect(to=first)
    await a.register("alice", PASSWORD)
    token = (await a.login("alice", PASSWORD)).token
    same_node = await connect(to=first)
    await same_node.resume(token)
    other_node = await connect(to=second)
    await other_node.resume(token)
    other_token = await connect(to=second)
    await other_token.login("alice", PASSWORD)
    bystander = await connect(to=second)
    await bystander.register("bob", PASSWORD)
    await bystander.login("bob", PASSWORD)

    await a.logout()
    for client in (a, same_node, other_node):
        events = await events_until_closed(client)
        assert events and events[-1] == ByeEvent("logout"), events
        assert not client.connected
    await asyncio.wait_for(other_token.ping(), 2)
    await asyncio.wait_for(bystander.ping(), 2)
    assert not first.hub.by_token and len(second.hub.by_token) == 2


async def events_until_closed(client: ChatClient, timeout: float = 3.0) -> list[Any]:
    events: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            events.append(await client.next_event(timeout=max(0.01, deadline - loop.time())))
        except ConnectionClosed:
            return events


async def test_tokens_expire_after_their_ttl_and_slide_on_use(make_server, connect) -> None:
    server = await make_server(token_ttl=1)
    a = await connect(to=server)
    await a.register("alice", PASSWORD)
    token = (await a.login("alice", PASSWORD)).token
    await asyncio.sleep(0.6)
    b = await connect(to=server)
    await b.resume(token)  # used within its TTL: still valid, and refreshed
    await asyncio.sleep(0.6)
    c = await connect(to=server)
    await c.resume(token)  # 1.2 s after login: alive only because resume slid it
    await asyncio.sleep(1.6)
    d = await connect(to=server)
    await error_of(d.resume(token), "bad_credentials")


async def test_resume_never_hashes_a_password(make_server, connect) -> None:
    server = await make_server()
    a = await connect(to=server)
    await a.register("alice", PASSWORD)
    token = (await a.login("alice", PASSWORD)).token
    counter = CallCounter(server)
    for _ in range(3):
        b = await connect(to=server)
        await b.resume(token)
    c = await connect(to=server)
    await error_of(c.resume(secrets.token_urlsafe(32)), "bad_credentials")
    assert counter.total == 0, counter.calls

    d = await connect(to=server)  # the wrapper sees a real login
    await d.login("alice", PASSWORD)
    assert counter.calls["verify"] == 1


# --- password hashing ---------------------------------------------------------------------


async def test_password_hash_is_argon2id_with_the_configured_parameters(make_server, connect, clean_redis) -> None:
    server = await make_server(argon2_time_cost=2, argon2_memory_kib=19_456, argon2_parallelism=1)
    a = await connect(to=server)
    await a.register("alice", PASSWORD)
    hashes = await stored_password_hashes(clean_redis)
    assert len(hashes) == 1
    assert hashes[0].startswith("$argon2id$")
    assert argon2_params(hashes[0]) == {"m": 19_456, "t": 2, "p": 1}
    # OWASP's minimum for argon2id is m=19 MiB, t=2, p=1; the defaults are above it
    from chinwag.server.settings import Settings

    defaults = Settings()
    assert defaults.argon2_memory_kib >= 19_456 and defaults.argon2_time_cost >= 2
    assert defaults.argon2_parallelism >= 1


async def test_login_rehashes_when_the_parameters_change(make_server, connect, clean_redis) -> None:
    old = await make_server(argon2_time_cost=1, argon2_memory_kib=8_192, argon2_parallelism=1)
    a = await connect(to=old)
    await a.register("alice", PASSWORD)
    await a.close()
    await old.stop()
    [before] = await stored_password_hashes(clean_redis)
    assert argon2_params(before) == {"m": 8_192, "t": 1, "p": 1}

    new = await make_server(argon2_time_cost=2, argon2_memory_kib=19_456, argon2_parallelism=2)
    wrong = await client_for(new)
    await error_of(wrong.login("alice", "not the password"), "bad_credentials")
    await wrong.close()
    assert await stored_password_hashes(clean_redis) == [before]  # a failed login changes nothing

    b = await client_for(new)
    await b.login("alice", PASSWORD)
    await b.close()
    [after] = await stored_password_hashes(clean_redis)
    assert argon2_params(after) == {"m": 19_456, "t": 2, "p": 2}

    counter = CallCounter(new)
    c = await client_for(new)
    await c.login("alice", PASSWORD)  # the new hash verifies, and is not redone
    await c.close()
    assert counter.calls["hash"] == 0
    assert await stored_password_hashes(clean_redis) == [after]


# --- throttling ------------------------------------------------------------------------------


async def test_login_throttled_per_username(make_server, connect) -> None:
    server = await make_server(login_failures_per_user=3, login_failures_per_address=10, login_window=60)
    setup = await connect(to=server)
    await setup.register("alice", PASSWORD)
    await setup.register("bob", PASSWORD)
    guesser = await connect(to=server)
    for i in range(3):
        await error_of(guesser.login("alice", f"guess number {i}"), "bad_credentials")
    err = await error_of(guesser.login("alice", "guess number 3"), "throttled")
    assert err.retry_after is not None and 0 < err.retry_after <= 60
    # while the window lasts, even the right password is refused...
    owner = await connect(to=server)
    err = await error_of(owner.login("alice", PASSWORD), "throttled")
    assert err.retry_after is not None and err.retry_after > 0
    # ...on every node: the counts live in Redis
    other_node = await make_server(login_failures_per_user=3, login_failures_per_address=10, login_window=60)
    elsewhere = await connect(to=other_node)
    await error_of(elsewhere.login("ALICE", PASSWORD), "throttled")
    # another user from the same address is not affected...
    bob = await connect(to=server)
    assert (await bob.login("bob", PASSWORD)).user.username == "bob"
    assert guesser.connected and owner.connected
    # ...until the address itself reaches its limit (3 failures so far; throttled
    # attempts are refused before they are counted)
    for i in range(7):
        await error_of(guesser.login(f"ghost{i}", "wrong password"), "bad_credentials")
    late = await connect(to=server)
    err = await error_of(late.login("bob", PASSWORD), "throttled")
    assert err.retry_after is not None and 0 < err.retry_after <= 60


async def test_login_throttled_per_address(make_server, connect) -> None:
    server = await make_server(login_failures_per_user=100, login_failures_per_address=4, login_window=60)
    setup = await connect(to=server)
    await setup.register("alice", PASSWORD)
    guesser = await connect(to=server)
    for name in ("ghost1", "ghost2", "ghost3", "alice"):
        await error_of(guesser.login(name, "wrong password"), "bad_credentials")
    err = await error_of(guesser.login("ghost5", "wrong password"), "throttled")
    assert err.retry_after is not None and 0 < err.retry_after <= 60
    owner = await connect(to=server)  # same address (127.0.0.1), right password
    await error_of(owner.login("alice", PASSWORD), "throttled")


async def test_throttle_lifts_after_retry_after(make_server, connect) -> None:
    """A burst of guesses does not lock the real owner out for long: after
    waiting the `retry_after` the server gave, the right password works."""
    server = await make_server(login_failures_per_user=2, login_failures_per_address=100, login_window=2)
    setup = await connect(to=server)
    await setup.register("alice", PASSWORD)
    guesser = await connect(to=server)
    loop = asyncio.get_running_loop()
    await error_of(guesser.login("alice", "wrong password 1"), "bad_credentials")
    first_failure = loop.time()  # the window started no later than this
    await error_of(guesser.login("alice", "wrong password 2"), "bad_credentials")
    await asyncio.sleep(max(0.0, first_failure + 0.7 - loop.time()))
    owner = await connect(to=server)
    err = await error_of(owner.login("alice", PASSWORD), "throttled")
    assert err.retry_after is not None and err.retry_after > 0
    await asyncio.sleep(float(err.retry_after) + 0.05)
    session = await asyncio.wait_for(owner.login("alice", PASSWORD), 5)
    assert session.user.username == "alice"


async def test_registration_is_rate_limited_per_address(make_server, connect) -> None:
    server = await make_server(registrations_per_address=2, registration_window=60)
    client = await connect(to=server)
    await client.register("first", PASSWORD)
    await client.register("second", PASSWORD)
    err = await error_of(client.register("third", PASSWORD), "throttled")
    assert err.retry_after is not None and 0 < err.retry_after <= 60
    assert client.connected
    await client.login("first", PASSWORD)  # logging in is not registration


# --- authorization ---------------------------------------------------------------------------


async def test_a_frames_own_from_field_is_ignored(make_server, user, raw) -> None:
    server = await make_server()
    bob = await user("bob", to=server)
    carol = await user("carol", to=server)
    conn = await raw(server.port)
    await conn.hello()
    await conn.register("alice")
    await conn.login("alice")
    for to in ("#lobby", "@carol"):
        reply = await conn.request("send", to=to, text=f"forged to {to}", **{"from": "bob"})
        assert reply["type"] == "ok", reply
    got = await collect(bob, 1, conv="#lobby")
    assert (got[0].sender, got[0].text) == ("alice", "forged to #lobby")
    got = await collect(carol, 1, conv="@alice")
    assert (got[0].sender, got[0].text) == ("alice", "forged to @carol")
    assert not [m for m in await collect_quiet(carol) if m.conv == "@bob"]
    history, _ = await carol.history("#lobby")
    assert [(m.sender, m.text) for m in history] == [("alice", "forged to #lobby")]
    history, _ = await carol.history("@bob")
    assert history == []


async def collect_quiet(client: ChatClient, quiet: float = 0.3) -> list[Message]:
    return [e for e in await drain(client, quiet) if isinstance(e, Message)]


async def test_nobody_reads_a_dm_they_are_not_part_of(make_server, user, raw) -> None:
    server = await make_server()
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    carol = await user("carol", to=server)
    await alice.send("@bob", "for bob only")
    await bob.send("@alice", "for alice only")
    await collect(bob, 2, conv="@alice")
    assert not [m for m in await collect_quiet(carol) if "only" in m.text]
    for conv in ("@alice", "@bob"):
        history, more = await carol.history(conv)
        assert history == [] and not more
    # the internal id of the alice/bob conversation is not an address
    conn = await raw(server.port)
    await conn.hello()
    await conn.login("carol")
    for conv in ("@alice:bob", "@bob:alice", "alice:bob", "@alice bob", "@ALICE:BOB"):
        reply = await conn.request("history", conv=conv)
        assert reply["type"] == "error" and reply["code"] == "bad_request", (conv, reply)
        reply = await conn.request("send", to=conv, text="x")
        assert reply["type"] == "error" and reply["code"] == "bad_request", (conv, reply)
    # nor does carol's login replay leak it
    later = await user("carol", to=server)
    assert later.session is not None and not [c for c in later.session.unread if c != "#lobby"]
    assert not [m for m in await collect_quiet(later) if "only" in m.text]


async def test_room_history_needs_membership(make_server, user) -> None:
    server = await make_server()
    alice = await user("alice", to=server)
    bob = await user("bob", to=server)
    await alice.join("secret")
    await alice.send("#secret", "classified")
    await error_of(bob.history("#secret"), "forbidden")
    await error_of(bob.send("#secret", "let me in"), "not_member")
    await error_of(bob.history("#nosuchroom"), "no_such_room")
    await error_of(bob.history("@nosuchuser"), "no_such_user")
    bob.typing("#secret")
    events = await settled(bob)
    assert [e.code for e in events if isinstance(e, ErrorEvent)] == ["not_member"]
    alice_events = await settled(alice)
    assert not [e for e in alice_events if isinstance(e, TypingEvent)]
    assert not [e for e in events if isinstance(e, Message) and e.conv == "#secret"]

    await alice.leave("secret")
    await error_of(alice.history("#secret"), "forbidden")
    await error_of(alice.send("#secret", "still here?"), "not_member")
    await error_of(alice.leave("lobby"), "forbidden")


# --- logs ----------------------------------------------------------------------------------------


async def test_passwords_and_tokens_never_reach_the_logs(make_server, connect, raw, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="chinwag")
    password = "s3cret-Pa55word-" + secrets.token_hex(4)
    wrong = "wr0ng-Pa55word-" + secrets.token_hex(4)
    bogus_token = secrets.token_urlsafe(32)
    server = await make_server(login_failures_per_user_address=2)
    a = await connect(to=server)
    await a.register("alice", password, display_name="Alice")
    token = (await a.login("alice", password)).token
    b = await connect(to=server)
    await b.resume(token)
    await b.send("#lobby", "hello")
    await b.send("@alice", "note to self")
    await b.history("#lobby")
    await a.logout()
    c = await connect(to=server)
    await error_of(c.resume(token), "bad_credentials")
    await error_of(c.resume(bogus_token), "bad_credentials")
    await error_of(c.login("alice", wrong), "bad_credentials")
    await error_of(c.login("alice", wrong), "bad_credentials")
    await error_of(c.login("alice", password), "throttled")
    await error_of(c.login(password, password), "bad_credentials")  # a password typed as a name
    await error_of(c.register("al", password[:5]), "weak_password")
    # bad frames that carry secrets
    conn = await raw(server.port)
    await conn.hello()
    await conn.send({"type": "login", "id": 7, "username": 5, "password": password})
    await conn.send({"type": password, "id": 8, "token": token})
    await conn.send_bytes(b"\x00\x00\x00\x20" + password.encode()[:16] + token.encode()[:16])
    await conn.until_closed(timeout=3)
    assert not b.connected  # a's logout ended b too: it resumed a's token
    await asyncio.sleep(0.2)

    assert caplog.records, "no log records captured at all"
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        text = formatter.format(record) + repr(record.args) + repr(record.__dict__.get("extra", ""))
        for secret in (password, wrong, token, bogus_token, password[:16], token[:16]):
            assert secret not in text, f"{secret!r} in log record: {text!r}"
