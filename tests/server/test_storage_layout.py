"""Where a message lives in Redis (docs/operations.md, "Key layout"): its
stream entry without the text, the text in t:{conv}, the state of a
changed message in s:{conv}; and a stream trimmed by the sends themselves,
with the texts and states of what it drops."""

from __future__ import annotations

import asyncio
import json

import redis as sync_redis

from chinwag.server import keys
from chinwag.server.store import TRIM_CHECK_EVERY, TRIM_SLACK

MESSAGES = ["messages"]


async def test_the_stream_holds_no_text(clean_redis: str, user) -> None:
    alice = await user("alice", features=MESSAGES)
    parent = await alice.send("#lobby", "the text", cmid="c-9")
    reply = await alice.send("#lobby", "a reply", reply_to=parent.mid)
    await alice.react("#lobby", parent.mid, "👍")
    await alice.edit("#lobby", reply.mid, "a reply, edited")
    await alice.delete("#lobby", parent.mid)
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    entries = admin.xrange(keys.stream("#lobby"))
    assert [fields for _, fields in entries] == [
        {"f": "alice", "c": "c-9"},
        {"f": "alice", "r": parent.mid},
        {"k": "r", "m": parent.mid, "f": "alice", "e": "👍", "o": "1"},
        {"k": "e", "m": reply.mid, "f": "alice"},
        {"k": "d", "m": parent.mid, "f": "alice", "a": "alice"},
    ]
    assert admin.hgetall(keys.texts("#lobby")) == {reply.mid: "a reply, edited"}
    states = {mid: json.loads(v) for mid, v in admin.hgetall(keys.states("#lobby")).items()}
    edit_ms = int(entries[3][0].partition("-")[0])
    assert states == {parent.mid: {"d": "alice"}, reply.mid: {"e": str(edit_ms)}}
    admin.close()


async def test_sends_trim_the_stream_with_its_texts_and_states(clean_redis: str, make_server, user) -> None:
    keep = 20
    server = await make_server(history_maxlen=keep, send_rate=10_000, send_burst=10_000)
    alice = await user("alice", to=server, features=MESSAGES)
    first = await alice.send("#lobby", "first")
    await alice.react("#lobby", first.mid, "👍")
    replies = await asyncio.gather(*(alice.request_nowait("send", to="#lobby", text=f"m{i}") for i in range(3 * keep)))
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    length = admin.xlen(keys.stream("#lobby"))
    slack = min(TRIM_SLACK, max(1, keep // 10))
    assert keep <= length <= keep + slack
    kept = {mid for mid, _ in admin.xrange(keys.stream("#lobby"))}
    assert set(admin.hkeys(keys.texts("#lobby"))) == kept
    assert admin.hkeys(keys.states("#lobby")) == []  # the reacted message was trimmed with its state
    admin.close()
    page, _ = await alice.history("#lobby", limit=200)
    assert [m.mid for m in page] == [r["mid"] for r in replies][-length:]
    assert [m.text for m in page][-1] == f"m{3 * keep - 1}"


async def test_a_long_history_checks_its_length_on_few_sends(clean_redis: str, make_server, user) -> None:
    """Past the slack's full size a send checks the length (XLEN) one time in
    TRIM_CHECK_EVERY, at random, and the stream still stays near its bound."""
    keep = 10 * TRIM_SLACK  # the slack at its full size
    server = await make_server(history_maxlen=keep, send_rate=100_000, send_burst=100_000)
    alice = await user("alice", to=server)
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    admin.config_resetstat()
    sends = 4 * keep
    for start in range(0, sends, 500):
        await asyncio.gather(
            *(alice.request_nowait("send", to="#lobby", text=f"m{i}") for i in range(start, min(sends, start + 500)))
        )
    checks = int(admin.info("commandstats").get("cmdstat_xlen", {}).get("calls", 0))
    assert 0 < checks < sends // 8  # about sends / TRIM_CHECK_EVERY
    length = admin.xlen(keys.stream("#lobby"))
    # a check may be a few hundred sends away (1 in 64 each); one check catches up
    assert keep <= length <= keep + TRIM_SLACK + 10 * TRIM_CHECK_EVERY
    kept = {mid for mid, _ in admin.xrange(keys.stream("#lobby"))}
    assert set(admin.hkeys(keys.texts("#lobby"))) == kept
    admin.close()
