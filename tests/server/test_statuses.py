"""The scripts' status codes are defined once (chinwag/server/statuses.py)
and written into the Lua sources by scripts.render: every code a script
answers with is a placeholder naming an enum member, every member has a
script that answers it, and against a real Redis each outcome comes back
as that member."""

from __future__ import annotations

import inspect
import re

import pytest
import redis as sync_redis

from chinwag.server import keys, scripts
from chinwag.server.statuses import (
    ChangeResult,
    ChangeStatus,
    InviteStatus,
    LoginStatus,
    RoomCreation,
    RoomStatus,
    SendResult,
    SendStatus,
    SessionStatus,
)
from chinwag.server.store import Store

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def test_every_status_code_is_an_enum_member_and_every_member_is_answered_by_a_script() -> None:
    source = inspect.getsource(scripts)
    used = set(PLACEHOLDER.findall(source))
    members = {
        f"{prefix}_{m.name}"
        for prefix, enum in (
            ("SEND", SendStatus),
            ("ROOM", RoomCreation),
            ("LOGIN", LoginStatus),
            ("CHANGE", ChangeStatus),
            ("RM", RoomStatus),
            ("SESSION", SessionStatus),
            ("INVITE", InviteStatus),
        )
        for m in enum
    }
    assert used == members == set(scripts.STATUS_CODES)
    assert scripts.STATUS_CODES["SEND_NOT_MEMBER"] == SendStatus.NOT_MEMBER
    assert scripts.STATUS_CODES["ROOM_FULL"] == RoomCreation.FULL
    for name, lua in scripts.SCRIPTS.items():
        assert "${" not in lua, f"{name} has a placeholder left"


def test_render_writes_the_enum_values_and_refuses_unknown_names() -> None:
    code = int(SendStatus.NOT_MEMBER)
    assert scripts.render("return {'', ${SEND_NOT_MEMBER}, conv}") == f"return {{'', {code}, conv}}"
    assert scripts.render("return ${ROOM_FULL}", {"ROOM_FULL": -7}) == "return -7"
    assert scripts.render("string.match(a, '^(%d+)-(%d+)$')") == "string.match(a, '^(%d+)-(%d+)$')"
    with pytest.raises(KeyError):
        scripts.render("return ${SEND_LOST}")


async def test_each_send_outcome_is_its_enum_member(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        new = await store.send("@a:b", "a", "hello", "c1")
        assert isinstance(new, SendResult) and new.status is SendStatus.NEW and new.conv == "@a:b"
        again = await store.send("#dev", "a", "hello again", "c1")  # the cmid was used in @a:b
        assert again == SendResult(new.mid, SendStatus.DUPLICATE, "@a:b")
        outsider = await store.send("#dev", "a", "let me in", None)
        assert outsider == SendResult("", SendStatus.NOT_MEMBER, "#dev")
        stray = await store.send("@a:b", "a", "to nothing", None, reply_to="1-1")
        assert stray == SendResult("", SendStatus.NO_SUCH_MESSAGE, "@a:b")
    finally:
        await store.close()


async def test_each_change_outcome_is_its_enum_member(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        mid = (await store.send("@a:b", "a", "hello", None)).mid
        edited = await store.edit("@a:b", mid, "a", "hello!")
        assert isinstance(edited, ChangeResult) and edited.status is ChangeStatus.DONE and edited.id
        assert (await store.edit("@a:b", mid, "b", "mine now")).status is ChangeStatus.FORBIDDEN
        assert (await store.edit("@a:b", "1-1", "a", "x")).status is ChangeStatus.NO_SUCH_MESSAGE
        assert (await store.react("@a:b", mid, "b", "👍", False)).status is ChangeStatus.UNCHANGED
        for i in range(20):
            assert (await store.react("@a:b", mid, "b", f"e{i}", True)).status is ChangeStatus.DONE
        assert (await store.react("@a:b", mid, "b", "one more", True)).status is ChangeStatus.TOO_MANY
        assert (await store.delete("@a:b", mid, "a", False)).status is ChangeStatus.DONE
        assert (await store.delete("@a:b", mid, "a", False)).status is ChangeStatus.UNCHANGED
        client = sync_redis.Redis.from_url(clean_redis)
        legacy = client.xadd(keys.stream("@a:b"), {"f": "a", "t": "round 1"}).decode()
        client.close()
        args = [legacy, "a", "0"]
        assert (await store._change_call("DELETE", "@a:b", args)).status is ChangeStatus.LEGACY
    finally:
        await store.close()


async def test_each_room_creation_outcome_is_its_enum_member(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        assert await store.create_room("dev", 2) is RoomCreation.CREATED
        assert await store.create_room("dev", 2) is RoomCreation.EXISTS
        assert await store.create_room("ops", 2) is RoomCreation.CREATED
        assert await store.create_room("qa", 2) is RoomCreation.FULL
    finally:
        await store.close()


async def test_each_login_throttle_outcome_is_its_enum_member(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        # free user failures, free pair failures, base ms, max ms, forget s,
        # known ttl ms, logins per window, window s
        strict_pair = [100, 0, 10_000, 60_000, 60, 60_000, 100, 60]
        status, wait, _ = await store.login_take_user("alice", "10.0.0.1", "t1", strict_pair)
        assert (status, wait) == (LoginStatus.GO, 0)
        status, wait, _ = await store.login_take_user("alice", "10.0.0.1", "t1", strict_pair)
        assert status is LoginStatus.DELAYED and wait > 0
        one_login = [100, 100, 10_000, 60_000, 60, 60_000, 1, 60]
        assert (await store.login_take_user("bob", "10.0.0.2", "t2", one_login))[0] is LoginStatus.GO
        status, wait, _ = await store.login_take_user("bob", "10.0.0.2", "t2", one_login)
        assert status is LoginStatus.TOO_MANY and wait > 0
    finally:
        await store.close()
