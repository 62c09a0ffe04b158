"""Requests that are well-framed but wrong: `bad_request`, `unknown_type`,
`unsupported_version` and requests at the wrong stage. All but the last keep
the connection, and none of them touches stored data."""

from __future__ import annotations

from typing import Any

import pytest

from chinwag.protocol.messages import Message

from ..support.events import full_history, next_of
from ..support.settings import PASSWORD

# (label, frame without id): each must get `bad_request` once logged in.
BAD_AUTHENTICATED: list[tuple[str, dict[str, Any]]] = [
    ("send to binary", {"type": "send", "to": b"#lobby", "text": "hi"}),
    ("send text binary", {"type": "send", "to": "#lobby", "text": b"hi"}),
    ("send text int", {"type": "send", "to": "#lobby", "text": 42}),
    ("send text nil", {"type": "send", "to": "#lobby", "text": None}),
    ("send text list", {"type": "send", "to": "#lobby", "text": ["hi"]}),
    ("send missing text", {"type": "send", "to": "#lobby"}),
    ("send missing to", {"type": "send", "text": "hi"}),
    ("send empty text", {"type": "send", "to": "#lobby", "text": ""}),
    ("send bare name", {"type": "send", "to": "lobby", "text": "hi"}),
    ("send bad room name", {"type": "send", "to": "#no spaces", "text": "hi"}),
    ("send bad user name", {"type": "send", "to": "@1abc", "text": "hi"}),
    ("send to map", {"type": "send", "to": {"room": "lobby"}, "text": "hi"}),
    ("send cmid int", {"type": "send", "to": "#lobby", "text": "hi", "cmid": 5}),
    ("send cmid binary", {"type": "send", "to": "#lobby", "text": "hi", "cmid": b"c1"}),
    ("send cmid empty", {"type": "send", "to": "#lobby", "text": "hi", "cmid": ""}),
    ("send cmid 65 chars", {"type": "send", "to": "#lobby", "text": "hi", "cmid": "c" * 65}),
    ("history missing conv", {"type": "history"}),
    ("history conv binary", {"type": "history", "conv": b"#lobby"}),
    ("history limit bool", {"type": "history", "conv": "#lobby", "limit": True}),
    ("history limit str", {"type": "history", "conv": "#lobby", "limit": "5"}),
    ("history limit float", {"type": "history", "conv": "#lobby", "limit": 5.0}),
    ("history limit 0", {"type": "history", "conv": "#lobby", "limit": 0}),
    ("history limit 201", {"type": "history", "conv": "#lobby", "limit": 201}),
    ("history before garbage", {"type": "history", "conv": "#lobby", "before": "yesterday"}),
    ("history before binary", {"type": "history", "conv": "#lobby", "before": b"1-0"}),
    ("users prefix int", {"type": "users", "prefix": 5}),
    ("users prefix binary", {"type": "users", "prefix": b"a"}),
    ("users limit bool", {"type": "users", "limit": False}),
    ("users limit str", {"type": "users", "limit": "10"}),
    ("join missing room", {"type": "join"}),
    ("join room binary", {"type": "join", "room": b"dev"}),
    ("join room with space", {"type": "join", "room": "my room"}),
    ("join room 33 chars", {"type": "join", "room": "r" * 33}),
    ("join room empty", {"type": "join", "room": ""}),
    ("join room upper-unicode", {"type": "join", "room": "caf\u00e9"}),
    ("leave room int", {"type": "leave", "room": 7}),
    ("leave bad name", {"type": "leave", "room": "a/b"}),
]


async def _logged_in_raw(raw, user_factory_name: str = "alice"):
    conn = await raw()
    reply = await conn.request("register", username=user_factory_name, password=PASSWORD)
    assert reply["type"] == "ok", reply
    await conn.login(user_factory_name, PASSWORD)
    return conn


async def test_bad_requests_after_login_keep_the_connection(raw, user) -> None:
    conn = await _logged_in_raw(raw)
    problems = []
    for label, frame in BAD_AUTHENTICATED:
        req_id = conn.next_id()
        await conn.send({**frame, "id": req_id})
        reply = await conn.reply(req_id)
        if reply.get("type") != "error" or reply.get("code") != "bad_request":
            problems.append(f"{label}: {reply}")
        elif not isinstance(reply.get("message"), str) or not reply["message"]:
            problems.append(f"{label}: no message in {reply}")
    assert not problems, "\n".join(problems)
    # The connection still works, and nothing was stored by any of it.
    assert (await conn.request("ping"))["type"] == "ok"
    history = await conn.request("history", conv="#lobby")
    assert history["messages"] == [] and history["more"] is False
    rooms = await conn.request("rooms")
    assert [r["name"] for r in rooms["rooms"]] == ["lobby"]


BAD_PREAUTH: list[tuple[str, dict[str, Any]]] = [
    ("register username binary", {"type": "register", "username": b"alice", "password": PASSWORD}),
    ("register password binary", {"type": "register", "username": "alice", "password": PASSWORD.encode()}),
    ("register username int", {"type": "register", "username": 12, "password": PASSWORD}),
    ("register missing password", {"type": "register", "username": "alice"}),
    ("register missing username", {"type": "register", "password": PASSWORD}),
    (
        "register display_name binary",
        {"type": "register", "username": "alice", "password": PASSWORD, "display_name": b"Alice"},
    ),
    (
        "register display_name control char",
        {"type": "register", "username": "alice", "password": PASSWORD, "display_name": "Al\x07ice"},
    ),
    (
        "register display_name newline",
        {"type": "register", "username": "alice", "password": PASSWORD, "display_name": "Al\nice"},
    ),
    (
        "register display_name 65 chars",
        {"type": "register", "username": "alice", "password": PASSWORD, "display_name": "A" * 65},
    ),
    (
        "register display_name empty",
        {"type": "register", "username": "alice", "password": PASSWORD, "display_name": ""},
    ),
    ("login username binary", {"type": "login", "username": b"alice", "password": PASSWORD}),
    ("login password int", {"type": "login", "username": "alice", "password": 1234567890}),
    ("login missing password", {"type": "login", "username": "alice"}),
    ("resume token binary", {"type": "resume", "token": b"abc"}),
    ("resume token missing", {"type": "resume"}),
    ("resume token int", {"type": "resume", "token": 5}),
]


async def test_bad_requests_before_login_keep_the_connection(raw) -> None:
    conn = await raw()
    problems = []
    for label, frame in BAD_PREAUTH:
        req_id = conn.next_id()
        await conn.send({**frame, "id": req_id})
        reply = await conn.reply(req_id)
        if reply.get("type") != "error" or reply.get("code") != "bad_request":
            problems.append(f"{label}: {reply}")
    assert not problems, "\n".join(problems)
    # None of the bad registrations created "alice": registering her now works.
    reply = await conn.request("register", username="alice", password=PASSWORD)
    assert reply["type"] == "ok" and reply["user"]["username"] == "alice"
    await conn.login("alice", PASSWORD)


@pytest.mark.parametrize(
    "bad_id",
    [True, False, 0, -3, 1.5, "7", b"7", [1], None],
    ids=["true", "false", "zero", "negative", "float", "str", "binary", "list", "nil"],
)
async def test_request_without_a_valid_id_is_bad_request_without_re(raw, bad_id) -> None:
    conn = await raw()
    await conn.send({"type": "ping", "id": bad_id})
    frame = await conn.recv()
    assert frame["type"] == "error" and frame["code"] == "bad_request", frame
    assert frame.get("re") is None, "an invalid id must not be echoed as a request id"
    assert (await conn.request("ping"))["type"] == "ok"


@pytest.mark.parametrize("kind", ["who", "rooms", "ping", "logout", "users", "hello"])
async def test_request_type_sent_without_id_is_bad_request(raw, kind: str) -> None:
    conn = await _logged_in_raw(raw)
    await conn.send({"type": kind, "version": 1})
    frame = await conn.recv()
    assert (frame["type"], frame["code"]) == ("error", "bad_request"), frame
    assert frame.get("re") is None
    assert (await conn.request("who"))["type"] == "ok"


@pytest.mark.parametrize(
    "frame",
    [{"id": 3}, {"type": 5, "id": 3}, {"type": b"ping", "id": 3}, {"type": None, "id": 3}],
    ids=["missing", "int", "binary", "nil"],
)
async def test_frame_without_string_type_is_bad_request(raw, frame) -> None:
    conn = await raw()
    await conn.send(frame)
    reply = await conn.recv()
    assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
    assert (await conn.request("ping"))["type"] == "ok"


async def test_unknown_type_at_every_stage_keeps_the_connection(raw) -> None:
    conn = await raw(hello=False)
    await conn.send({"type": "frobnicate", "id": 1})
    assert (await conn.reply(1))["code"] == "unknown_type"
    await conn.hello()
    await conn.send({"type": "frobnicate", "id": 2})
    reply = await conn.reply(2)
    assert (reply["type"], reply["code"]) == ("error", "unknown_type")
    assert "frobnicate" in reply["message"]
    assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"
    await conn.login("alice", PASSWORD)
    await conn.send({"type": "frobnicate", "id": 3, "with": {"extra": [1, 2]}})
    assert (await conn.reply(3))["code"] == "unknown_type"
    # As a notification (no id): an error without `re`, connection stays.
    await conn.send({"type": "wave"})
    frame = await conn.recv()
    assert (frame["type"], frame["code"], frame.get("re")) == ("error", "unknown_type", None)
    reply = await conn.request("send", to="#lobby", text="still alive")
    assert reply["type"] == "ok" and reply["conv"] == "#lobby"


async def test_unknown_fields_are_ignored(raw) -> None:
    conn = await raw(hello=False)
    reply = await conn.request("hello", version=1, client="x", future_field={"a": 1}, flag=b"bin")
    assert reply["type"] == "ok"
    assert (await conn.request("register", username="alice", password=PASSWORD, colour="red"))["type"] == "ok"
    await conn.login("alice", PASSWORD)
    reply = await conn.request("send", to="#lobby", text="hi", priority=5, attachments=[b"x"])
    assert reply["type"] == "ok"


@pytest.mark.parametrize("version", [0, 2, 99])
async def test_unsupported_version_answers_then_closes(raw, version: int) -> None:
    conn = await raw(hello=False)
    await conn.send({"type": "hello", "id": 1, "version": version, "client": "future/9"})
    frames = await conn.until_closed()
    assert len(frames) == 1, frames
    assert (frames[0]["type"], frames[0]["code"], frames[0]["re"]) == ("error", "unsupported_version", 1)
    assert frames[0]["message"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "hello", "id": 1},
        {"type": "hello", "id": 1, "version": True},
        {"type": "hello", "id": 1, "version": "1"},
        {"type": "hello", "id": 1, "version": 1, "client": b"raw"},
    ],
    ids=["missing-version", "bool-version", "str-version", "binary-client"],
)
async def test_malformed_hello_is_bad_request_and_hello_can_be_retried(raw, frame) -> None:
    conn = await raw(hello=False)
    await conn.send(frame)
    reply = await conn.reply(1)
    assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
    hello = await conn.request("hello", version=1)
    assert hello["version"] == 1


async def test_hello_reply_fields(raw) -> None:
    conn = await raw(hello=False)
    reply = await conn.request("hello", version=1, client="chinwag-tui/0.1")
    assert reply["type"] == "ok"
    assert isinstance(reply["server"], str) and reply["server"]
    assert reply["version"] == 1
    assert reply["max_frame"] == 65_536
    assert reply["max_text"] == 4_000


@pytest.mark.parametrize(
    "kind,fields",
    [
        ("register", {"username": "alice", "password": PASSWORD}),
        ("login", {"username": "alice", "password": PASSWORD}),
        ("resume", {"token": "abc"}),
        ("who", {}),
        ("send", {"to": "#lobby", "text": "hi"}),
        ("logout", {}),
    ],
)
async def test_requests_before_hello_are_bad_request(raw, kind: str, fields: dict) -> None:
    conn = await raw(hello=False)
    reply = await conn.request(kind, **fields)
    assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
    # ping is allowed before hello, and hello still works afterwards.
    assert (await conn.request("ping"))["type"] == "ok"
    await conn.hello()
    if kind == "register":  # the early register stored nothing
        assert (await conn.request("register", username="alice", password=PASSWORD))["type"] == "ok"


async def test_bad_notifications_get_an_error_without_re(raw, user) -> None:
    bob = await user("bob")
    conn = await _logged_in_raw(raw)
    for frame in (
        {"type": "ack", "conv": "#lobby", "upto": "latest"},
        {"type": "ack", "conv": "#lobby"},
        {"type": "ack", "conv": b"#lobby", "upto": "1-0"},
        {"type": "typing", "to": 5},
        {"type": "typing"},
    ):
        await conn.send(frame)
        error = await conn.recv()
        assert (error["type"], error["code"], error.get("re")) == ("error", "bad_request", None), (frame, error)
    reply = await conn.request("send", to="@bob", text="fine")
    assert reply["type"] == "ok"
    got = await next_of(bob, Message)
    assert (got.conv, got.text) == ("@alice", "fine")
    assert [m.text for m in await full_history(bob, "@alice")] == ["fine"]
