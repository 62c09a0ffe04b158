"""Session flow: register, login, resume, logout, the stage rules, login
throttling, and the server-initiated events of a connection's life (ping, bye)."""

from __future__ import annotations

import asyncio

import pytest

from chinwag.protocol.errors import ConnectionClosed, ServerError
from chinwag.protocol.messages import ByeEvent, Message, PresenceEvent

from ..support.events import (
    error_of,
    full_history,
    next_of,
    settled,
)
from ..support.fakeclock import install_clock, tick
from ..support.raw import RawClient
from ..support.settings import PASSWORD
from ..support.waits import eventually

BAD_CREDENTIALS_MESSAGE = "unknown user or wrong password; register first if you are new"


# --- register ------------------------------------------------------------------------


async def test_register_returns_the_user_and_does_not_log_in(connect) -> None:
    client = await connect()
    user = await client.register("alice", PASSWORD, display_name="Alice Liddell")
    assert (user.username, user.display_name) == ("alice", "Alice Liddell")
    await error_of(client.who(), "not_authenticated")
    session = await client.login("alice", PASSWORD)
    assert session.user.display_name == "Alice Liddell"


async def test_register_without_display_name_uses_the_username(connect) -> None:
    client = await connect()
    user = await client.register("bob", PASSWORD)
    assert (user.username, user.display_name) == ("bob", "bob")


async def test_username_is_case_insensitive(connect) -> None:
    client = await connect()
    user = await client.register("Alice", PASSWORD)
    assert user.username == "alice"
    await error_of(client.register("ALICE", PASSWORD), "user_exists")
    session = await client.login("ALiCe", PASSWORD)
    assert session.user.username == "alice"


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "x" * 33,
        "1abc",
        "_abc",
        "-abc",
        ".abc",
        "ab cd",
        "ab:cd",
        "ab@cd",
        "ab#cd",
        "al/ice",
        "",
        "caf\u00e9",
        "\u00e9cole",
        "ab\x00c",
        "\u212aate",
        "\u0130stanbul",
    ],
    ids=lambda n: repr(n),
)
async def test_invalid_usernames_are_refused(connect, name: str) -> None:
    client = await connect()
    error = await error_of(client.register(name, PASSWORD), "invalid_username")
    assert error.message


@pytest.mark.parametrize("name", ["ab", "a" * 32, "a1", "a_b.c-d", "zz9"])
async def test_valid_usernames_are_accepted(connect, name: str) -> None:
    client = await connect()
    assert (await client.register(name, PASSWORD)).username == name


async def test_non_ascii_lookalike_cannot_take_over_an_account(connect) -> None:
    """KELVIN SIGN lower-cases to 'k': it must not reach Kate's account."""
    client = await connect()
    await client.register("kate", PASSWORD)
    await error_of(client.register("\u212aate", "another password"), "invalid_username")
    await error_of(client.login("\u212aate", PASSWORD), "bad_credentials")


async def test_user_exists(connect) -> None:
    client = await connect()
    await client.register("alice", PASSWORD)
    error = await error_of(client.register("alice", "some other password"), "user_exists")
    assert "alice" in error.message
    # The original password still works: the refused registration changed nothing.
    await client.login("alice", PASSWORD)


@pytest.mark.parametrize("password", ["", "1234567", "x" * 1025], ids=["empty", "7-chars", "1025-chars"])
async def test_weak_password(connect, password: str) -> None:
    client = await connect()
    await error_of(client.register("alice", password), "weak_password")
    await error_of(client.login("alice", password or "x"), "bad_credentials")  # not created


@pytest.mark.parametrize(
    "password", ["12345678", "p" * 1024, "пароль-пароль"], ids=["8-chars", "1024-chars", "unicode"]
)
async def test_password_length_bounds_accepted(connect, password: str) -> None:
    client = await connect()
    await client.register("alice", password)
    assert (await client.login("alice", password)).user.username == "alice"


# --- login -----------------------------------------------------------------------------


async def test_login_reply(connect) -> None:
    client = await connect()
    await client.register("alice", PASSWORD, "Alice")
    reply = await client.request("login", username="alice", password=PASSWORD)
    assert reply["type"] == "ok"
    assert reply["user"] == {"username": "alice", "display_name": "Alice"}
    assert isinstance(reply["token"], str) and len(reply["token"]) >= 16
    assert reply["unread"] == {}


async def test_each_login_gets_its_own_token(connect) -> None:
    client = await connect()
    await client.register("alice", PASSWORD)
    first = await client.login("alice", PASSWORD)
    other = await connect()
    second = await other.login("alice", PASSWORD)
    assert first.token != second.token


@pytest.mark.parametrize(
    "username,password",
    [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("NOBODY", PASSWORD),
        ("1-not-a-valid-name", PASSWORD),
        ("x", PASSWORD),
        ("alice", ""),
    ],
    ids=["wrong-password", "unknown-user", "unknown-upper", "invalid-name", "too-short", "empty-password"],
)
async def test_bad_credentials_same_answer_for_unknown_user_and_wrong_password(
    connect, username: str, password: str
) -> None:
    client = await connect()
    await client.register("alice", PASSWORD)
    error = await error_of(client.login(username, password), "bad_credentials")
    assert error.message == BAD_CREDENTIALS_MESSAGE
    # Still unauthenticated, and the connection is usable.
    await error_of(client.who(), "not_authenticated")
    await client.login("alice", PASSWORD)


async def test_login_throttled_after_repeated_failures(make_server, connect) -> None:
    srv = await make_server(login_failures_per_user=3)
    client = await connect(to=srv)
    await client.register("alice", PASSWORD)
    for _ in range(3):
        await error_of(client.login("alice", "wrong password"), "bad_credentials")
    error = await error_of(client.login("alice", "wrong password"), "throttled")
    assert isinstance(error.retry_after, (int, float)) and 0 < error.retry_after <= 300
    # Even the right password is refused while throttled, on any connection.
    error = await error_of(client.login("alice", PASSWORD), "throttled")
    assert error.retry_after and error.retry_after > 0
    other = await connect(to=srv)
    await error_of(other.login("alice", PASSWORD), "throttled")
    # Other users are not affected.
    await other.register("bob", PASSWORD)
    assert (await other.login("bob", PASSWORD)).user.username == "bob"


async def test_successful_login_resets_the_failure_count(make_server, connect) -> None:
    srv = await make_server(login_failures_per_user=3)
    client = await connect(to=srv)
    await client.register("alice", PASSWORD)
    for _ in range(2):
        await error_of(client.login("alice", "wrong password"), "bad_credentials")
    await (await connect(to=srv)).login("alice", PASSWORD)
    for _ in range(2):
        await error_of(client.login("alice", "wrong password"), "bad_credentials")
    await client.login("alice", PASSWORD)


async def test_throttled_login_window_expires(make_server, connect) -> None:
    srv = await make_server(login_failures_per_user=2, login_window=1)
    client = await connect(to=srv)
    await client.register("alice", PASSWORD)
    for _ in range(2):
        await error_of(client.login("alice", "nope nope"), "bad_credentials")
    error = await error_of(client.login("alice", PASSWORD), "throttled")
    assert 0 < error.retry_after <= 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + error.retry_after + 1.5
    while True:  # the window is kept by Redis with 1 s resolution
        await asyncio.sleep(0.25)
        try:
            assert (await client.login("alice", PASSWORD)).user.username == "alice"
            break
        except ServerError as exc:
            assert exc.code == "throttled" and loop.time() < deadline, exc


# --- resume ----------------------------------------------------------------------------


async def test_resume_returns_the_same_token_and_session(connect) -> None:
    first = await connect()
    await first.register("alice", PASSWORD, "Alice")
    session = await first.login("alice", PASSWORD)
    second = await connect()
    resumed = await second.resume(session.token)
    assert resumed.token == session.token
    assert (resumed.user.username, resumed.user.display_name) == ("alice", "Alice")
    assert resumed.unread == {}
    assert [u.username for u in await second.who()] == ["alice"]


async def test_resume_with_unknown_token_is_bad_credentials(connect) -> None:
    client = await connect()
    await error_of(client.resume("not-a-token"), "bad_credentials")
    await error_of(client.resume(""), "bad_credentials")
    await error_of(client.who(), "not_authenticated")


async def test_resume_delivers_offline_messages(user, connect) -> None:
    bob = await user("bob")
    token = bob.session.token
    await bob.close()
    alice = await user("alice")
    sent = await alice.send("@bob", "while you were out")
    again = await connect()
    session = await again.resume(token)
    assert session.unread == {"@alice": 1}
    got = await next_of(again, Message)
    assert (got.mid, got.conv, got.text) == (sent.mid, "@alice", "while you were out")


# --- logout -----------------------------------------------------------------------------


async def test_logout_revokes_token_sends_bye_and_closes(user, connect) -> None:
    alice = await user("alice")
    token = alice.session.token
    await alice.logout()
    bye = await next_of(alice, ByeEvent)
    assert bye.reason == "logout"
    with pytest.raises(ConnectionClosed):
        await alice.next_event(timeout=2)
    later = await connect()
    await error_of(later.resume(token), "bad_credentials")
    assert (await later.login("alice", PASSWORD)).user.username == "alice"


async def test_logout_raw_order_ok_then_bye_then_close(raw) -> None:
    conn = await raw()
    assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"
    await conn.login("alice", PASSWORD)
    await conn.send({"type": "logout", "id": 50})
    frames = await conn.until_closed()
    kinds = [(f["type"], f.get("re"), f.get("reason")) for f in frames]
    assert kinds[-2:] == [("ok", 50, None), ("bye", None, "logout")], frames


async def test_logout_revokes_only_this_connections_token(user, connect) -> None:
    phone = await user("alice")
    laptop = await user("alice")
    phone_token, laptop_token = phone.session.token, laptop.session.token
    await phone.logout()
    assert (await next_of(phone, ByeEvent)).reason == "logout"
    # The laptop stays logged in and its token still resumes.
    assert [u.username for u in await laptop.who()] == ["alice"]
    fresh = await connect()
    assert (await fresh.resume(laptop_token)).token == laptop_token
    await error_of((await connect()).resume(phone_token), "bad_credentials")


async def test_logout_of_a_resumed_session_revokes_the_resumed_token(user, connect) -> None:
    alice = await user("alice")
    token = alice.session.token
    resumed = await connect()
    await resumed.resume(token)
    await resumed.logout()
    assert (await next_of(resumed, ByeEvent)).reason == "logout"
    await error_of((await connect()).resume(token), "bad_credentials")


# --- stage rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,fields",
    [
        ("who", {}),
        ("users", {}),
        ("send", {"to": "#lobby", "text": "hi"}),
        ("history", {"conv": "#lobby"}),
        ("join", {"room": "dev"}),
        ("leave", {"room": "dev"}),
        ("rooms", {}),
        ("logout", {}),
    ],
)
async def test_not_authenticated(raw, kind: str, fields: dict) -> None:
    conn = await raw()
    reply = await conn.request(kind, **fields)
    assert (reply["type"], reply["code"]) == ("error", "not_authenticated"), reply
    assert (await conn.request("ping"))["type"] == "ok"


async def test_notifications_before_login_do_nothing(raw, user) -> None:
    bob = await user("bob")
    conn = await raw()
    await conn.send({"type": "typing", "to": "@bob"})
    await conn.send({"type": "ack", "conv": "#lobby", "upto": "1-0"})
    frames = await conn.barrier()
    assert all(f["type"] == "error" and f.get("code") == "not_authenticated" for f in frames), frames
    assert not [e for e in await settled(bob) if not isinstance(e, PresenceEvent)]


@pytest.mark.parametrize(
    "kind,fields",
    [
        ("register", {"username": "carol", "password": PASSWORD}),
        ("login", {"username": "alice", "password": PASSWORD}),
        ("resume", {"token": "whatever"}),
    ],
)
async def test_already_authenticated(raw, kind: str, fields: dict) -> None:
    conn = await raw()
    assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"
    await conn.login("alice", PASSWORD)
    reply = await conn.request(kind, **fields)
    assert (reply["type"], reply["code"]) == ("error", "already_authenticated"), reply
    who = await conn.request("who")
    assert [u["username"] for u in who["users"]] == ["alice"]
    if kind == "register":  # nothing was created
        users = await conn.request("users")
        assert [u["username"] for u in users["users"]] == ["alice"]


# --- ping, idle, shutdown ---------------------------------------------------------------


async def test_ping_request_at_every_stage(raw) -> None:
    conn = await raw(hello=False)
    await conn.send({"type": "ping", "id": 1})
    assert await conn.reply(1) == {"type": "ok", "re": 1}
    await conn.hello()
    assert (await conn.request("ping"))["type"] == "ok"
    assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"
    await conn.login("alice", PASSWORD)
    reply = await conn.request("ping")
    assert reply["type"] == "ok" and set(reply) == {"type", "re"}


async def test_server_pings_a_silent_connection_and_pong_keeps_it(make_server) -> None:
    srv = await make_server(ping_interval=0.3, idle_timeout=1.2)
    clock = install_clock(srv)
    conn = await RawClient.open(srv.port)
    try:
        await conn.hello()
        assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"
        await conn.login("alice", PASSWORD)
        [held] = list(srv.connections)
        end = clock() + 2.3  # past idle_timeout: only the pongs keep it open
        pings = 0
        while clock() < end:
            tick(srv, clock, 0.35)  # silent for longer than ping_interval
            frame = await conn.recv()
            assert frame == {"type": "ping"}, frame
            pings += 1
            await conn.send({"type": "pong"})
            assert await eventually(lambda: not held.pinged, 5.0, step=0.005)  # the server has heard the pong
        assert pings >= 2
        assert (await conn.request("ping"))["type"] == "ok"
    finally:
        conn.close()


async def test_silent_connection_gets_bye_idle(make_server) -> None:
    srv = await make_server(ping_interval=0.3, idle_timeout=0.5)
    clock = install_clock(srv)
    conn = await RawClient.open(srv.port)
    try:
        await conn.hello()
        assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"
        await conn.login("alice", PASSWORD)
        tick(srv, clock, 0.4)  # past ping_interval: pinged
        tick(srv, clock, 0.2)  # past idle_timeout, never answered: bye
        frames = await conn.until_closed(timeout=4)
        assert frames and frames[-1] == {"type": "bye", "reason": "idle"}, frames
        assert set(map(str, frames[:-1])) <= {str({"type": "ping"})}, frames
    finally:
        conn.close()


async def test_unauthenticated_connection_closed_after_preauth_timeout(make_server) -> None:
    srv = await make_server(preauth_timeout=0.5)
    clock = install_clock(srv)
    conn = await RawClient.open(srv.port)
    try:
        await conn.hello()
        for _ in range(3):  # being chatty does not help: only logging in does
            assert (await conn.request("ping"))["type"] == "ok"
            tick(srv, clock, 0.2)
        frames = await conn.until_closed(timeout=4)
        assert frames and frames[-1] == {"type": "bye", "reason": "idle"}, frames
    finally:
        conn.close()


async def test_shutdown_says_bye_and_data_survives(make_server, connect, user) -> None:
    srv = await make_server()
    alice = await user("alice", to=srv)
    bob = await user("bob", to=srv)
    sent = await alice.send("@bob", "before shutdown")
    assert (await next_of(bob, Message)).mid == sent.mid
    await srv.stop()
    for client in (alice, bob):
        bye = await next_of(client, ByeEvent)
        assert bye.reason == "shutdown"
    again = await make_server()
    bob2 = await user("bob", to=again)
    assert [m.text for m in await full_history(bob2, "@alice")] == ["before shutdown"]
