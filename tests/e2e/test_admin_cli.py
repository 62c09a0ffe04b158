"""chinwag-admin as the operator runs it: a child process on the embedded
Redis of a running chinwag-server (`--data-dir`), while clients are
connected; its changes reach their connections at once."""

from __future__ import annotations

import json

from chinwag.protocol.client import ChatClient

from ..support.events import closed_after_bye, error_of
from ..support.processes import run_admin
from ..support.settings import PASSWORD
from .test_cli import assert_one_line_failure


async def _client(port: int, **kwargs) -> ChatClient:
    client = ChatClient("127.0.0.1", port, **kwargs)
    await client.connect()
    return client


async def _logged_in(port: int, name: str, password: str = PASSWORD, **kwargs) -> ChatClient:
    client = await _client(port, **kwargs)
    await client.login(name, password)
    return client


async def admin(data_dir, *args: str, stdin: str | None = None) -> str:
    status, out, err = await run_admin("--data-dir", str(data_dir), *args, stdin=stdin)
    assert status == 0, (out, err)
    assert "Traceback" not in err
    return out


async def test_disable_closes_the_users_connection_at_once_and_enable_lets_it_back(spawn, tmp_path) -> None:
    server = await spawn()
    data = tmp_path / "data"
    first = await _client(server.port)
    await first.register("alice", PASSWORD)
    alice = await _logged_in(server.port, "alice")
    bob = await _client(server.port)
    await bob.register("bob", PASSWORD)
    try:
        out = await admin(data, "users", "disable", "alice")
        assert "disabled alice" in out
        await closed_after_bye(alice, "disabled", timeout=10)
        again = await _client(server.port)
        err = await error_of(again.login("alice", PASSWORD), "forbidden")
        assert err.message == "this account is disabled"
        shown = json.loads(await admin(data, "--json", "users", "show", "alice"))
        assert shown["disabled"] is True and shown["connections"] == 0
        await admin(data, "users", "enable", "alice")
        assert (await again.login("alice", PASSWORD)).user.username == "alice"
    finally:
        for c in (first, alice, bob):
            await c.close()


async def test_reset_password_from_stdin_and_generated(spawn, tmp_path) -> None:
    server = await spawn()
    data = tmp_path / "data"
    reg = await _client(server.port)
    await reg.register("alice", PASSWORD)
    await reg.register("bob", PASSWORD)
    alice = await _logged_in(server.port, "alice")
    try:
        out = await admin(data, "users", "reset-password", "alice", "--stdin", stdin="a new secret phrase\n")
        assert "a new secret phrase" not in out  # a password from stdin is never echoed
        await closed_after_bye(alice, "revoked")
        check = await _client(server.port)
        await error_of(check.login("alice", PASSWORD), "bad_credentials")
        assert (await check.login("alice", "a new secret phrase")).user.username == "alice"
        reset = json.loads(await admin(data, "users", "reset-password", "bob", "--json"))
        other = await _client(server.port)
        assert (await other.login("bob", reset["password"])).user.username == "bob"
        await other.close()
        await check.close()
    finally:
        await reg.close()
        await alice.close()


async def test_sessions_list_and_revoke_one_then_all(spawn, tmp_path) -> None:
    server = await spawn()
    data = tmp_path / "data"
    reg = await _client(server.port)
    await reg.register("alice", PASSWORD)
    phone = await _logged_in(server.port, "alice", client_name="phone")
    laptop = await _logged_in(server.port, "alice", client_name="laptop")
    try:
        listed = json.loads(await admin(data, "sessions", "list", "alice", "--json"))
        by_client = {s["client"]: s["id"] for s in listed}
        assert set(by_client) == {"phone", "laptop"}
        table = await admin(data, "sessions", "list", "alice")
        assert table.splitlines()[0].split()[:2] == ["ID", "CLIENT"] and by_client["phone"] in table
        await admin(data, "sessions", "revoke", "alice", "--session", by_client["laptop"])
        await closed_after_bye(laptop, "revoked")
        await phone.ping()
        status, out, err = await run_admin("--data-dir", str(data), "sessions", "revoke", "alice", "--session", "nope")
        assert_one_line_failure(status, out, err, "no session 'nope'")
        out = await admin(data, "sessions", "revoke", "alice")
        assert "revoked 1 session" in out
        await closed_after_bye(phone, "revoked")
    finally:
        for c in (reg, phone, laptop):
            await c.close()


async def test_invitation_codes_from_create_to_revoke(spawn, tmp_path) -> None:
    server = await spawn(extra_args=["--registration", "invite"])
    data = tmp_path / "data"
    made = json.loads(await admin(data, "--json", "invites", "create", "--uses", "1", "--expires", "2h"))
    client = await _client(server.port)
    try:
        assert client.registration == "invite"
        await client.register("alice", PASSWORD, invite=made["code"])
        await error_of(client.register("bob", PASSWORD, invite=made["code"]), "forbidden")
        [listed] = json.loads(await admin(data, "invites", "list", "--json"))
        assert (listed["id"], listed["status"], listed["used"], listed["uses"]) == (made["id"], "used up", 1, 1)
        assert "code" not in listed  # only its hash is kept
        second = json.loads(await admin(data, "--json", "invites", "create"))
        await admin(data, "invites", "revoke", second["id"])
        await error_of(client.register("bob", PASSWORD, invite=second["code"]), "forbidden")
        assert [i["id"] for i in json.loads(await admin(data, "--json", "invites", "list"))] == [made["id"]]
    finally:
        await client.close()


async def test_users_create_make_admin_and_the_list(spawn, tmp_path) -> None:
    server = await spawn(extra_args=["--registration", "closed"])
    data = tmp_path / "data"
    created = json.loads(await admin(data, "--json", "users", "create", "carol", "--display-name", "Carol C"))
    await admin(data, "users", "create", "dave", "--stdin", "--admin", stdin="dave's own password\n")
    client = await _client(server.port)
    try:
        assert (await client.login("carol", created["password"])).user.display_name == "Carol C"
        other = await _client(server.port)
        assert (await other.login("dave", "dave's own password")).user.username == "dave"
        await other.close()
        await admin(data, "users", "make-admin", "carol")
        await admin(data, "users", "remove-admin", "dave")
        rows = {u["username"]: u for u in json.loads(await admin(data, "--json", "users", "list"))}
        assert (rows["carol"]["admin"], rows["dave"]["admin"]) == (True, False)
        assert rows["carol"]["online"] is True and rows["dave"]["online"] is False
        table = (await admin(data, "users", "list")).splitlines()
        assert table[0].split()[0] == "USER" and [line.split()[0] for line in table[1:]] == ["carol", "dave"]
    finally:
        await client.close()


async def test_errors_are_one_line_with_a_non_zero_status(spawn, tmp_path) -> None:
    await spawn()
    data = str(tmp_path / "data")
    cases = [
        (("--data-dir", data, "users", "show", "nobody"), None, "there is no user 'nobody'"),
        (("--data-dir", data, "users", "disable", "nobody"), None, "there is no user 'nobody'"),
        (("--data-dir", data, "invites", "create", "--expires", "7 days"), None, "bad duration '7 days'"),
        (("--data-dir", data, "invites", "create", "--uses", "0"), None, "--uses"),
        (("--data-dir", data, "invites", "revoke", "0000"), None, "no invitation code"),
        (("--data-dir", data, "users", "create", "x y"), None, "cannot be a username"),
        (("--data-dir", data, "users", "create", "erin", "--stdin"), "short\n", "not accepted"),
        (("--data-dir", str(tmp_path / "none"), "users", "list"), None, "no embedded Redis runs"),
        (("--redis-url", "redis://127.0.0.1:9/0", "users", "list"), None, "cannot reach Redis"),
    ]
    for args, stdin, words in cases:
        status, out, err = await run_admin(*args, stdin=stdin)
        line = assert_one_line_failure(status, out, err, words)
        assert status == 1 and line.startswith("chinwag-admin: "), (args, line)
    status, out, err = await run_admin("users", "frobnicate")
    assert_one_line_failure(status, out, err, "frobnicate")
    assert status == 2
