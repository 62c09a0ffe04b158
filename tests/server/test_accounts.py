"""Accounts on one node: the registration policy and invitation codes,
disabled accounts, the sessions list and revoke, the password change
(PROTOCOL-EXTENSIONS.md "people" and "Registration policy")."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as async_redis

from chinwag.server import accounts, keys
from chinwag.server import hub as hub_module
from chinwag.server import store as store_module
from chinwag.server.store import Store, hash_token, invite_hash, session_id

from ..support.events import closed_after_bye, error_of
from ..support.settings import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def store(clean_redis: str):
    s = Store(clean_redis)
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def rds(clean_redis: str):
    client = async_redis.Redis.from_url(clean_redis, decode_responses=True)
    yield client
    await client.aclose()


# --- registration policy ----------------------------------------------------------------


async def test_hello_says_the_registration_policy_and_open_ignores_a_code(make_server, connect) -> None:
    server = await make_server()
    client = await connect(server)
    assert client.server_info["registration"] == "open" and client.registration == "open"
    await client.register("alice", PASSWORD, invite="whatever")  # ignored: anyone may register
    for policy in ("invite", "closed"):
        other = await connect(await make_server(registration=policy))
        assert other.server_info["registration"] == policy == other.registration


async def test_closed_registration_is_forbidden_and_stores_nothing(make_server, connect, store) -> None:
    client = await connect(await make_server(registration="closed"))
    err = await error_of(client.register("alice", PASSWORD), "forbidden")
    assert err.message == "registration is closed on this server"
    await error_of(client.register("bob", PASSWORD, invite="any"), "forbidden")
    assert not await store.user_exists("alice")
    assert not await store.user_exists("bob")


async def test_invite_registration_needs_a_known_code_with_uses_left(make_server, connect, store) -> None:
    client = await connect(await make_server(registration="invite"))
    missing = await error_of(client.register("alice", PASSWORD), "forbidden")
    assert missing.message == "registration needs an invitation code; ask an admin"
    unknown = await error_of(client.register("alice", PASSWORD, invite="not-a-code"), "forbidden")
    assert unknown.message.startswith("registration needs an invitation code; ask an admin")
    future = int(time.time() * 1000) + 3_600_000
    await store.create_invite("two-uses", 2, future)
    assert (await client.register("alice", PASSWORD, invite="two-uses")).username == "alice"
    assert (await client.register("bob", PASSWORD, invite="two-uses")).username == "bob"
    used_up = await error_of(client.register("carol", PASSWORD, invite="two-uses"), "forbidden")
    assert "used up" in used_up.message and used_up.message.startswith("registration needs an invitation code")
    assert not await store.user_exists("carol")
    [record] = await store.invites()
    assert (record.uses, record.left) == (2, 0)
    login = await connect(client_name="x")
    assert (await login.login("alice", PASSWORD)).user.username == "alice"


async def test_an_expired_code_is_refused(make_server, connect, store) -> None:
    client = await connect(await make_server(registration="invite"))
    await store.create_invite("stale", 5, int(time.time() * 1000) - 1)  # an explicit expiry, passed
    err = await error_of(client.register("alice", PASSWORD, invite="stale"), "forbidden")
    assert "expired" in err.message and err.message.startswith("registration needs an invitation code")
    assert not await store.user_exists("alice")
    assert (await store.invites())[0].left == 5


async def test_a_taken_name_costs_no_use_of_the_code(make_server, connect, store) -> None:
    client = await connect(await make_server(registration="invite"))
    await store.create_invite("one-use", 1, int(time.time() * 1000) + 60_000)
    await client.register("alice", PASSWORD, invite="one-use")
    await store.create_invite("another", 1, int(time.time() * 1000) + 60_000)
    await error_of(client.register("alice", PASSWORD, invite="another"), "user_exists")
    left = {r.hash: r.left for r in await store.invites()}
    assert left == {invite_hash("one-use"): 0, invite_hash("another"): 1}


async def test_a_use_taken_is_given_back_when_the_user_is_not_created(make_server, connect, store) -> None:
    """Two registrations of one name race with two codes: the loser's code
    keeps its use (given back after create_user found the name taken)."""
    server = await make_server(registration="invite")
    future = int(time.time() * 1000) + 60_000
    await store.create_invite("code-a", 1, future)
    await store.create_invite("code-b", 1, future)
    a, b = await connect(server), await connect(server)
    results = await asyncio.gather(
        a.register("alice", PASSWORD, invite="code-a"),
        b.register("alice", PASSWORD, invite="code-b"),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert sorted(r.left for r in await store.invites()) == [0, 1]


async def test_concurrent_registrations_share_a_last_use_once(make_server, connect, store) -> None:
    server = await make_server(registration="invite")
    await store.create_invite("last", 1, int(time.time() * 1000) + 60_000)
    clients = [await connect(server) for _ in range(6)]
    results = await asyncio.gather(
        *(c.register(f"user{i}", PASSWORD, invite="last") for i, c in enumerate(clients)), return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(getattr(r, "code", "forbidden") == "forbidden" for r in results if isinstance(r, BaseException))


async def test_invitation_codes_are_stored_hashed(store, rds) -> None:
    await store.create_invite("sekrit-code", 1, int(time.time() * 1000) + 60_000)
    for key in await rds.keys("*"):
        assert "sekrit-code" not in key
        kind = await rds.type(key)
        values = await rds.hgetall(key) if kind == "hash" else await rds.zrange(key, 0, -1)
        assert "sekrit-code" not in json.dumps(values)


async def test_revoking_an_invite_by_code_or_id_prefix(store) -> None:
    future = int(time.time() * 1000) + 60_000
    a = await store.create_invite("code-a", 1, future)
    b = await store.create_invite("code-b", 1, future)
    assert [r.id for r in await store.revoke_invite("code-a")] == [a.id]
    assert [r.id for r in await store.revoke_invite(b.id[:6])] == [b.id]
    assert await store.invites() == []
    assert await store.revoke_invite("nothing") == []


# --- disabled accounts -------------------------------------------------------------------


async def test_a_disabled_account_cannot_log_in_or_resume(user, connect, store) -> None:
    alice = await user("alice")
    token = alice.session.token
    assert await store.set_disabled("alice", True)
    late = await connect()
    err = await error_of(late.login("alice", PASSWORD), "forbidden")
    assert err.message == accounts.DISABLED == "this account is disabled"
    await error_of(late.resume(token), "forbidden")
    await error_of(late.login("alice", "a wrong password"), "bad_credentials")  # said only with the password
    assert await store.set_disabled("alice", False)
    assert (await late.resume(token)).user.username == "alice"
    assert not await store.set_disabled("nobody", True)
    assert await store.users_info(["nobody"]) == {}  # no profile made for a missing user


async def test_disabling_ends_the_live_connections_on_this_node(make_server, user, store) -> None:
    server = await make_server()
    phone = await user("alice", to=server)
    laptop = await user("alice", to=server)
    bob = await user("bob", to=server)
    await store.set_disabled("alice", True)
    server.hub.disabled("alice")
    await closed_after_bye(phone, "disabled")
    await closed_after_bye(laptop, "disabled")
    await bob.ping()


# --- sessions ----------------------------------------------------------------------------


async def test_sessions_lists_each_login_with_its_client_and_marks_the_current(user) -> None:
    phone = await user("alice", client_name="phone app/1.0")
    laptop = await user("alice", client_name="laptop\x1b[31m")
    listed = await phone.sessions()
    assert len(listed) == 2
    by_client = {s.client: s for s in listed}
    assert set(by_client) == {"phone app/1.0", "laptop[31m"}  # the escape character dropped
    assert by_client["phone app/1.0"].current and not by_client["laptop[31m"].current
    assert [s.current for s in await laptop.sessions()].count(True) == 1
    for s in listed:
        assert s.id not in (phone.session.token, laptop.session.token)
        assert s.created > 0 and s.last_used >= s.created
    assert by_client["phone app/1.0"].id == session_id(phone.session.token)


async def test_a_session_id_gives_no_access(user, connect) -> None:
    alice = await user("alice")
    [mine] = await alice.sessions()
    other = await connect()
    await error_of(other.resume(mine.id), "bad_credentials")
    await error_of(other.resume(hash_token(alice.session.token)), "bad_credentials")


async def test_resume_updates_last_used(user, connect, rds) -> None:
    alice = await user("alice")
    token = alice.session.token
    sid = session_id(token)
    key = keys.sessions("alice")
    entry = json.loads(await rds.hget(key, sid))
    await rds.hset(key, sid, json.dumps({**entry, "lu": "1000", "cr": "1000"}))
    again = await connect()
    await again.resume(token)
    [now] = [s for s in await again.sessions() if s.id == sid]
    assert now.created == 1000 and now.last_used > 1000


async def test_expired_tokens_are_pruned_from_the_index_on_read(user, rds) -> None:
    phone = await user("alice")
    laptop = await user("alice")
    await rds.delete(keys.token(hash_token(laptop.session.token)))  # as its TTL would
    assert [s.id for s in await phone.sessions()] == [session_id(phone.session.token)]
    assert await rds.hkeys(keys.sessions("alice")) == [session_id(phone.session.token)]


async def test_logout_removes_its_session(user, rds) -> None:
    phone = await user("alice")
    laptop = await user("alice")
    await laptop.logout()
    assert [s.id for s in await phone.sessions()] == [session_id(phone.session.token)]
    assert await rds.hlen(keys.sessions("alice")) == 1


async def test_revoke_ends_another_session_and_unknown_ids_are_bad_requests(user, connect) -> None:
    phone = await user("alice")
    laptop = await user("alice")
    token = laptop.session.token
    await phone.revoke(session_id(token))
    await closed_after_bye(laptop, "revoked")
    await error_of((await connect()).resume(token), "bad_credentials")
    err = await error_of(phone.revoke(session_id(token)), "bad_request")
    assert "sessions" in err.message
    await error_of(phone.revoke("0" * 20), "bad_request")
    bob = await user("bob")
    await error_of(bob.revoke(session_id(phone.session.token)), "bad_request")  # not his to revoke
    await phone.ping()


async def test_revoking_the_current_session_answers_then_says_bye(user, connect) -> None:
    alice = await user("alice")
    token = alice.session.token
    await alice.revoke(session_id(token))
    await closed_after_bye(alice, "revoked")
    await error_of((await connect()).resume(token), "bad_credentials")


async def test_a_token_from_before_the_index_is_listed_at_resume_until_a_revocation(user, connect, store, rds) -> None:
    alice = await user("alice")
    legacy = "a-token-from-an-older-server-0123456789"
    await store.store_token(legacy, "alice", 3600)  # as a server without session indexes did
    old = await connect()
    assert (await old.resume(legacy)).user.username == "alice"
    assert session_id(legacy) in {s.id for s in await alice.sessions()}
    other = "another-old-token-never-resumed-987654"
    await store.store_token(other, "alice", 3600)
    await alice.change_password(PASSWORD, NEW_PASSWORD)  # revokes the others
    await closed_after_bye(old, "revoked")
    await error_of((await connect()).resume(other), "bad_credentials")
    assert await rds.get(keys.token(hash_token(other))) is None


async def test_the_least_recently_used_sessions_end_past_the_most_kept(user, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "SESSIONS_PRUNE_AT", 2)
    monkeypatch.setattr(store_module, "SESSIONS_MAX", 3)
    first = await user("alice")
    others = [await user("alice") for _ in range(3)]
    await closed_after_bye(first, "revoked")
    assert len(await others[-1].sessions()) == 3


# --- password ---------------------------------------------------------------------------


async def test_password_change_revokes_the_other_sessions_and_keeps_this_one(user, connect) -> None:
    phone = await user("alice")
    laptop = await user("alice")
    laptop_token = laptop.session.token
    await phone.change_password(PASSWORD, NEW_PASSWORD)
    await closed_after_bye(laptop, "revoked")
    await phone.ping()
    assert [s.current for s in await phone.sessions()] == [True]
    later = await connect()
    await error_of(later.resume(laptop_token), "bad_credentials")
    await error_of(later.login("alice", PASSWORD), "bad_credentials")
    assert (await later.login("alice", NEW_PASSWORD)).user.username == "alice"


async def test_password_change_can_keep_the_other_sessions(user) -> None:
    phone = await user("alice")
    laptop = await user("alice")
    await phone.change_password(PASSWORD, NEW_PASSWORD, revoke_others=False)
    await laptop.ping()
    assert len(await laptop.sessions()) == 2


async def test_password_change_refuses_a_wrong_old_and_a_weak_new(user, connect) -> None:
    alice = await user("alice")
    err = await error_of(alice.change_password("not my password", NEW_PASSWORD), "bad_credentials")
    assert err.message
    await error_of(alice.change_password(PASSWORD, "short"), "weak_password")
    other = await connect()
    assert (await other.login("alice", PASSWORD)).user.username == "alice"  # unchanged


async def test_wrong_old_passwords_count_like_failed_logins(make_server, user) -> None:
    """A stolen session cannot guess the password faster than a login can:
    past the free failures the same growing delay applies."""
    server = await make_server(login_failures_per_user_address=2, login_delay_base=30.0)
    alice = await user("alice", to=server)
    for _ in range(2):
        await error_of(alice.change_password("guess one", NEW_PASSWORD), "bad_credentials")
    err = await error_of(alice.change_password("guess three", NEW_PASSWORD), "throttled")
    assert err.retry_after and err.retry_after > 0


# --- races: a change that lands while a login or resume is under way ---------------------


async def test_a_disable_while_a_login_reads_the_account_refuses_it(make_server, connect, store, monkeypatch) -> None:
    server = await make_server()
    await (await connect(server)).register("alice", PASSWORD)
    original = server.store.login_state

    async def disabled_meanwhile(name: str):
        await store.set_disabled(name, True)
        server.hub.disabled(name)  # its event comes before the connection is in the hub
        return await original(name)

    monkeypatch.setattr(server.store, "login_state", disabled_meanwhile)
    err = await error_of((await connect(server)).login("alice", PASSWORD), "forbidden")
    assert err.message == "this account is disabled"


async def test_a_revoke_while_a_resume_reads_the_account_refuses_it(make_server, user, connect, monkeypatch) -> None:
    server = await make_server()
    alice = await user("alice", to=server)
    token = alice.session.token
    await alice.close()
    original = server.store.resume_state

    async def revoked_meanwhile(name: str, *args):
        found = await original(name, *args)  # the session was still good when read
        record = await server.store.revoke_session(name, session_id(token))
        assert record is not None
        server.hub.revoked(record.token_hash)  # its event comes before the connection is in the hub
        return found

    monkeypatch.setattr(server.store, "resume_state", revoked_meanwhile)
    await error_of((await connect(server)).resume(token), "bad_credentials")


async def test_a_password_change_while_a_login_checks_the_old_one_adds_no_session(
    make_server, user, connect, store, monkeypatch
) -> None:
    server = await make_server()
    phone = await user("alice", to=server)
    original = server.passwords.verify

    async def changed_meanwhile(stored, password, *, priority=False):
        result = await original(stored, password, priority=priority)
        await store.revoke_sessions("alice", keep=session_id(phone.session.token))
        return result

    monkeypatch.setattr(server.passwords, "verify", changed_meanwhile)
    await error_of((await connect(server)).login("alice", PASSWORD), "bad_credentials")
    monkeypatch.undo()
    assert [s.id for s in await phone.sessions()] == [session_id(phone.session.token)]


async def test_the_hub_forgets_ended_sessions_after_a_minute(server, monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(hub_module.time, "monotonic", lambda: clock[0])
    hub = server.hub
    hub._disabled_local("alice")
    hub.revoked(hash_token("tok-1"))
    assert hub.ended_since("alice", "tok-0", 999.0) == "disabled"
    assert hub.ended_since("bob", "tok-1", 999.0) == "revoked"
    assert hub.ended_since("alice", "tok-1", 1000.5) is None  # both before `since`
    clock[0] += hub_module.ENDED_MEMORY_S + 1
    hub._disabled_local("carol")
    assert hub.ended_since("alice", "tok-1", 0.0) is None
    assert set(hub._ended) == {"u:carol"}


async def test_a_long_client_name_is_cut(user) -> None:
    alice = await user("alice", client_name="x" * 5000)
    [session] = await alice.sessions()
    assert session.client == "x" * accounts.CLIENT_NAME_MAX
