"""Framing errors over a raw socket: every kind of bad frame gets `bad_frame`
and closes that connection only; nothing else on the server is affected."""

from __future__ import annotations

import msgpack
import pytest

from chinwag.protocol.frames import DEFAULT_MAX_FRAME, encode_payload
from chinwag.protocol.messages import Message, PresenceEvent

from ..support.events import collect, full_history, next_of
from ..support.raw import RawClient
from ..support.settings import PASSWORD


def framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def packed(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


BAD_FRAMES = {
    "zero-length": b"\x00\x00\x00\x00",
    "oversize-header-only": (DEFAULT_MAX_FRAME + 1).to_bytes(4, "big"),
    "huge-length": b"\xff\xff\xff\xff",
    "not-msgpack": framed(b"\xc1"),
    "truncated-msgpack": framed(b"\x82\xa4type\xa4ping"),  # map of 2, only one pair
    "list": framed(packed(["type", "ping"])),
    "string": framed(packed("ping")),
    "integer": framed(packed(7)),
    "nil": framed(packed(None)),
    "trailing-bytes": framed(packed({"type": "ping", "id": 5}) + b"\xc0"),
    "two-maps-in-one-frame": framed(packed({"type": "ping", "id": 5}) + packed({"type": "ping", "id": 6})),
    "invalid-utf8-value": framed(b"\x81\xa4type\xa2\xff\xfe"),
    "invalid-utf8-key": framed(b"\x81\xa2\xc3\x28\xa4ping"),
    "int-key": framed(packed({1: "x", "type": "ping"})),
    "binary-key": framed(packed({b"type": "ping"})),
    "nil-key": framed(b"\x81\xc0\xa4ping"),
    "nested-invalid-utf8": framed(b"\x82\xa4type\xa4send\xa2to\x81\xa1x\xa1\xff"),
}


def assert_bad_frame_then_closed(frames: list[dict]) -> None:
    errors = [f for f in frames if f.get("type") == "error"]
    assert [e.get("code") for e in errors] == ["bad_frame"], frames
    assert "re" not in errors[0] or errors[0]["re"] is None
    assert isinstance(errors[0].get("message"), str) and errors[0]["message"]
    assert not [f for f in frames if f.get("type") == "ok"], frames


@pytest.mark.parametrize("data", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_bad_frame_after_hello_gets_bad_frame_and_close(raw, data: bytes) -> None:
    conn = await raw()
    await conn.send_bytes(data)
    assert_bad_frame_then_closed(await conn.until_closed())


@pytest.mark.parametrize("name", ["zero-length", "not-msgpack", "list", "trailing-bytes", "binary-key"])
async def test_bad_frame_before_hello_closes_too(raw, name: str) -> None:
    conn = await raw(hello=False)
    await conn.send_bytes(BAD_FRAMES[name])
    assert_bad_frame_then_closed(await conn.until_closed())


async def test_bad_frame_sent_byte_by_byte_is_still_caught(raw) -> None:
    conn = await raw()
    for byte in BAD_FRAMES["trailing-bytes"]:
        await conn.send_bytes(bytes([byte]))
    assert_bad_frame_then_closed(await conn.until_closed())


async def test_oversize_frame_refused_from_its_header_alone(raw) -> None:
    """The server must not wait for (or buffer) a body it will refuse."""
    conn = await raw()
    await conn.send_bytes((DEFAULT_MAX_FRAME + 1).to_bytes(4, "big") + b"\x81")
    assert_bad_frame_then_closed(await conn.until_closed(timeout=3))


def _ping_of_size(size: int, req_id: int) -> bytes:
    for pad in range(size - 40, size):
        body = encode_payload({"type": "ping", "id": req_id, "pad": "x" * pad})
        if len(body) == size:
            return framed(body)
    raise AssertionError("no body of that size")


async def test_frame_of_exactly_max_frame_is_accepted(raw) -> None:
    conn = await raw(hello=False)
    hello = await conn.request("hello", version=1)
    assert hello["max_frame"] == DEFAULT_MAX_FRAME
    await conn.send_bytes(_ping_of_size(DEFAULT_MAX_FRAME, 77))
    reply = await conn.reply(77)
    assert reply == {"type": "ok", "re": 77}


async def test_frame_one_byte_over_max_frame_is_bad_frame(raw) -> None:
    conn = await raw()
    await conn.send_bytes(_ping_of_size(DEFAULT_MAX_FRAME + 1, 78))
    assert_bad_frame_then_closed(await conn.until_closed())


async def test_smaller_max_frame_setting_is_announced_and_enforced(make_server) -> None:
    srv = await make_server(max_frame=1024)
    conn = await RawClient.open(srv.port)
    try:
        hello = await conn.request("hello", version=1)
        assert hello["max_frame"] == 1024
        await conn.send_bytes(_ping_of_size(1024, 5))
        assert (await conn.reply(5))["type"] == "ok"
        await conn.send_bytes(_ping_of_size(1025, 6))
        assert_bad_frame_then_closed(await conn.until_closed())
    finally:
        conn.close()


async def test_several_frames_in_one_write_all_answered(raw) -> None:
    conn = await raw()
    data = b"".join(framed(packed({"type": "ping", "id": i})) for i in range(1, 21))
    await conn.send_bytes(data)
    replies = [await conn.reply(i) for i in range(1, 21)]
    assert all(r["type"] == "ok" for r in replies)


async def test_bad_frame_hurts_only_its_own_connection(user, raw, server) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.send("@bob", "before")
    assert (await next_of(bob, Message)).text == "before"
    mallory = await raw()
    assert (await mallory.request("register", username="mallory", password=PASSWORD))["type"] == "ok"
    await mallory.login("mallory", PASSWORD)
    came = await next_of(alice, PresenceEvent)
    while came.user.username != "mallory":
        came = await next_of(alice, PresenceEvent)
    assert came.online

    await mallory.send_bytes(BAD_FRAMES["invalid-utf8-value"])
    assert_bad_frame_then_closed(await mallory.until_closed())

    # Mallory's only connection is gone: she goes offline; everyone else chats on.
    gone = await next_of(alice, PresenceEvent)
    assert (gone.user.username, gone.online) == ("mallory", False)
    sent = await alice.send("@bob", "after")
    got = await next_of(bob, Message)
    assert (got.mid, got.text, got.conv) == (sent.mid, "after", "@alice")
    await bob.send("#lobby", "still here")
    seen = [m.text for m in await collect(alice, 2)]  # her own "after" too
    assert seen == ["after", "still here"]
    assert [m.text for m in await full_history(bob, "@alice")] == ["before", "after"]
    assert [u.username for u in await alice.who()] == ["alice", "bob"]
