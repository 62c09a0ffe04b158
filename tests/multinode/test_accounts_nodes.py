"""Accounts across two nodes (on one Redis and on a Redis Cluster): a
disabled account, a revoked session, a password change end connections on
every node at once, and what chinwag-admin publishes reaches them too."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chinwag.admin import cli
from chinwag.server.hub import bus_payload, disabled_event, revoked_event
from chinwag.server.store import Store, session_id

from ..support.events import closed_after_bye, error_of
from ..support.settings import PASSWORD


@pytest.fixture
async def store(clean_redis: str):
    s = Store(clean_redis)
    await s.start()
    yield s
    await s.close()


async def test_a_disabled_account_is_closed_on_every_node(make_server, user, connect, store) -> None:
    a, b = await make_server(), await make_server()
    on_a = await user("alice", to=a)
    on_b = await user("alice", to=b)
    bob = await user("bob", to=b)
    await store.set_disabled("alice", True)
    a.hub.disabled("alice")
    await closed_after_bye(on_a, "disabled")
    await closed_after_bye(on_b, "disabled")
    await bob.ping()
    await error_of((await connect(b)).login("alice", PASSWORD), "forbidden")


async def test_what_an_operator_publishes_closes_connections_on_every_node(make_server, user, store) -> None:
    """chinwag-admin is not a node: it publishes on the bus with an id of its own."""
    a, b = await make_server(), await make_server()
    alice_a, alice_b = await user("alice", to=a), await user("alice", to=b)
    carol_a, carol_b = await user("carol", to=a), await user("carol", to=b)
    await store.set_disabled("alice", True)
    await store.publish(bus_payload(b"admin-test", [disabled_event("alice")]))
    await closed_after_bye(alice_a, "disabled")
    await closed_after_bye(alice_b, "disabled")
    ended = await store.revoke_sessions("carol")
    await store.publish(bus_payload(b"admin-test", [revoked_event(r.token_hash) for r in ended]))
    await closed_after_bye(carol_a, "revoked")
    await closed_after_bye(carol_b, "revoked")


async def test_garbage_on_the_bus_is_skipped_and_the_subscription_lives_on(make_server, user, store, caplog) -> None:
    """Whatever lands on the bus channel (anyone with access to Redis can
    publish there) costs a node one logged line, not its subscription."""
    a = await make_server()
    alice = await user("alice", to=a)
    for junk in (b"no separator", b"admin-test|\xc1\xff", bus_payload(b"admin-test", [["m", 1]]), b"|", b""):
        await store.publish(junk)
    await store.set_disabled("alice", True)
    await store.publish(bus_payload(b"admin-test", [disabled_event("alice")]))
    await closed_after_bye(alice, "disabled")
    assert sum("bad event on the bus" in r.getMessage() for r in caplog.records) >= 3


async def test_revoke_across_nodes(make_server, user, connect) -> None:
    a, b = await make_server(), await make_server()
    phone = await user("alice", to=a, client_name="phone")
    laptop = await user("alice", to=b, client_name="laptop")
    listed = {s.client: s for s in await phone.sessions()}
    assert set(listed) == {"phone", "laptop"}
    assert listed["phone"].current and not listed["laptop"].current
    await phone.revoke(listed["laptop"].id)
    await closed_after_bye(laptop, "revoked")
    await error_of((await connect(b)).resume(laptop.session.token), "bad_credentials")
    assert [s.client for s in await phone.sessions()] == ["phone"]


async def test_password_change_revokes_other_nodes_sessions_live(make_server, user, connect) -> None:
    a, b = await make_server(), await make_server()
    phone = await user("alice", to=a)
    laptop = await user("alice", to=b)
    tablet = await user("alice", to=b)
    await phone.change_password(PASSWORD, "the new one, long enough")
    await closed_after_bye(laptop, "revoked")
    await closed_after_bye(tablet, "revoked")
    await phone.ping()
    assert [s.id for s in await phone.sessions()] == [session_id(phone.session.token)]
    await error_of((await connect(b)).login("alice", PASSWORD), "bad_credentials")


async def test_registration_by_invitation_on_two_nodes(make_server, connect, store) -> None:
    a, b = await make_server(registration="invite"), await make_server(registration="invite")
    await store.create_invite("shared", 1, int(time.time() * 1000) + 60_000)
    assert (await (await connect(a)).register("alice", PASSWORD, invite="shared")).username == "alice"
    await error_of((await connect(b)).register("bob", PASSWORD, invite="shared"), "forbidden")


async def test_chinwag_admin_on_every_layout(make_server, connect, clean_redis, capsys) -> None:
    """The operator's commands on one Redis and on a cluster (where every
    multi-key step must stay in one slot), with a node serving."""
    server = await make_server(registration="invite")

    async def admin(*argv: str) -> object:
        status = await asyncio.to_thread(cli.main, ["--redis-url", clean_redis, "--json", *argv])
        out, err = capsys.readouterr()
        assert status == 0, err
        return json.loads(out)

    made = await admin("invites", "create", "--uses", "2", "--expires", "1h")
    client = await connect(server)
    await client.register("alice", PASSWORD, invite=made["code"])
    await client.login("alice", PASSWORD)
    alice = client
    assert [i["used"] for i in await admin("invites", "list")] == [1]
    [session] = await admin("sessions", "list", "alice")
    assert session["id"] == session_id(alice.session.token)
    await admin("users", "make-admin", "alice")
    assert (await admin("users", "show", "alice"))["admin"] is True
    await admin("users", "disable", "alice")
    await closed_after_bye(alice, "disabled")
    await admin("users", "enable", "alice")
    again = await connect(server)
    await again.login("alice", PASSWORD)
    reset = await admin("users", "reset-password", "alice")
    await closed_after_bye(again, "revoked")
    assert (await (await connect(server)).login("alice", reset["password"])).user.username == "alice"
    await admin("invites", "revoke", made["id"])
    assert await admin("invites", "list") == []
