"""The login replay's cost on Redis is bounded per call, whatever the backlog:
no single script scans a user's whole never-acked conversation (Redis runs
a script to its end, and everyone else waits meanwhile). The unread count
stays exact: every message from others after the cursor, own ones never.

Redis's SLOWLOG, told to log every command, shows each call the server made
and its arguments."""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any

import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.server import keys, scripts
from chinwag.server.store import REPLAY_PAGE, SCAN_BUDGET

from ..support.events import collect

OTHERS, OWN = 3_200, 100


async def send_many(client: ChatClient, to: str, texts: list[str]) -> list[str]:
    mids: list[str] = []
    for start in range(0, len(texts), 100):
        futures = [client.request_nowait("send", to=to, text=t) for t in texts[start : start + 100]]
        mids += [(await asyncio.wait_for(f, 10))["mid"] for f in futures]
    return mids


def script_calls(admin: sync_redis.Redis, stream: str, script: str) -> list[list[Any]]:
    """The EVALSHA calls of one script on `stream` in the slow log (oldest
    first), as argument lists."""
    sha = hashlib.sha1(scripts.SCRIPTS[script].encode()).hexdigest()
    calls = []
    for entry in admin.execute_command("SLOWLOG", "GET", 1_000_000):
        args = [a.decode(errors="replace") for a in entry[3]]
        if args[0].upper() == "EVALSHA" and len(args) > 3 and args[1] == sha and args[3] == stream:
            calls.append(args)
    calls.reverse()
    return calls


def replay_script_calls(admin: sync_redis.Redis, stream: str) -> list[list[Any]]:
    """The count's calls (REPLAY): [EVALSHA, sha, 1, stream, start, end, me, page, ...]."""
    return script_calls(admin, stream, "REPLAY")


async def test_a_huge_never_acked_backlog_is_counted_in_bounded_pages(clean_redis: str, make_server, user) -> None:
    server = await make_server(send_rate=100_000, send_burst=100_000)
    away = await user("away", to=server, auto_ack=False)
    token = away.session.token
    sender = await user("sender", to=server)
    texts = [f"from sender {i}" for i in range(OTHERS)]
    # the away user's own messages, interleaved: replayed, never counted
    own_texts = [f"own {i}" for i in range(OWN)]
    sent: list[tuple[str, str]] = []
    step = OTHERS // OWN
    for i in range(OWN):
        chunk = texts[i * step : (i + 1) * step]
        sent += zip(await send_many(sender, "#lobby", chunk), chunk, strict=True)
        sent += zip(await send_many(away, "#lobby", own_texts[i : i + 1]), own_texts[i : i + 1], strict=True)
    dm_mids = await send_many(sender, "@away", ["a dm"] * 3)
    await away.close()
    assert len(sent) == OTHERS + OWN

    admin = sync_redis.Redis.from_url(clean_redis)
    previous = admin.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    previous_len = admin.config_get("slowlog-max-len")["slowlog-max-len"]
    admin.config_set("slowlog-max-len", 1_000_000)
    admin.config_set("slowlog-log-slower-than", 0)
    admin.slowlog_reset()
    back = ChatClient("127.0.0.1", server.port, connect_timeout=5)
    try:
        await asyncio.wait_for(back.connect(), 5)
        session = await asyncio.wait_for(back.resume(token), 10)
        calls = replay_script_calls(admin, keys.stream("#lobby"))
        dm_calls = replay_script_calls(admin, keys.stream("@away:sender"))
        scans = script_calls(admin, keys.stream("#lobby"), "SCAN")
    finally:
        admin.config_set("slowlog-log-slower-than", previous)
        admin.config_set("slowlog-max-len", previous_len)
        admin.close()
    try:
        # exact, over many pages, own messages left out
        assert session.unread == {"#lobby": OTHERS, "@sender": 3}
        replayed = await collect(back, 503, timeout=10)
        assert [(m.mid, m.text) for m in replayed if m.conv == "#lobby"] == sent[-500:]
        assert [m.mid for m in replayed if m.conv == "@sender"] == dm_mids

        # the part older than the replayed 500 was counted a page per call
        older = len(sent) - 500
        assert len(calls) == math.ceil(older / REPLAY_PAGE), [c[4:] for c in calls]
        assert all(int(c[7]) <= REPLAY_PAGE for c in calls), [c[4:] for c in calls]
        assert REPLAY_PAGE <= 1_000
        # the newest 500 were read by SCAN calls of a bounded budget each
        assert scans and all(int(c[10]) <= SCAN_BUDGET <= 1_000 for c in scans), [c[4:] for c in scans]
        assert not dm_calls  # a small backlog needs no counting script at all
    finally:
        await back.close()
