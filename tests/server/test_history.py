"""`history`: paging with `before`/`limit` and `more`, and who may read what."""

from __future__ import annotations

import asyncio

import redis as sync_redis

from chinwag.protocol.frames import encode_frame
from chinwag.server import keys

from ..support.events import error_of, full_history


async def _send_many(client, to: str, texts: list[str]) -> list[str]:
    mids = []
    for start in range(0, len(texts), 50):
        replies = await asyncio.gather(
            *(client.request_nowait("send", to=to, text=t) for t in texts[start : start + 50])
        )
        mids += [r["mid"] for r in replies]
    return mids


async def test_paging_walks_everything_oldest_first_without_gaps(make_server, user) -> None:
    srv = await make_server(send_rate=10_000, send_burst=10_000)
    alice = await user("alice", to=srv)
    bob = await user("bob", to=srv)
    mids = await _send_many(alice, "@bob", [f"m{i}" for i in range(25)])

    page, more = await bob.history("@alice", limit=10)
    assert [m.mid for m in page] == mids[15:] and more is True
    page2, more = await bob.history("@alice", before=page[0].mid, limit=10)
    assert [m.mid for m in page2] == mids[5:15] and more is True
    page3, more = await bob.history("@alice", before=page2[0].mid, limit=10)
    assert [m.mid for m in page3] == mids[:5] and more is False
    page4, more = await bob.history("@alice", before=page3[0].mid, limit=10)
    assert (page4, more) == ([], False)
    assert [m.text for m in page3 + page2 + page] == [f"m{i}" for i in range(25)]


async def test_more_is_false_when_the_page_holds_exactly_the_rest(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    mids = [(await alice.send("@bob", f"m{i}")).mid for i in range(4)]
    page, more = await bob.history("@alice", limit=4)
    assert ([m.mid for m in page], more) == (mids, False)
    page, more = await bob.history("@alice", limit=3)
    assert ([m.mid for m in page], more) == (mids[1:], True)
    page, more = await bob.history("@alice", before=mids[1], limit=1)
    assert ([m.mid for m in page], more) == (mids[:1], False)


async def test_default_limit_is_50_and_max_is_200(make_server, user) -> None:
    srv = await make_server(send_rate=10_000, send_burst=10_000)
    alice = await user("alice", to=srv)
    mids = await _send_many(alice, "#lobby", [f"m{i}" for i in range(205)])
    page, more = await alice.history("#lobby")
    assert [m.mid for m in page] == mids[-50:] and more
    page, more = await alice.history("#lobby", limit=200)
    assert [m.mid for m in page] == mids[-200:] and more
    assert [m.mid for m in await full_history(alice, "#lobby", page=7)] == mids


async def test_history_messages_carry_full_fields_as_seen_by_the_reader(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    sent = await alice.send("@bob", "hello", cmid="h1")
    reply = await bob.request("history", conv="@alice")
    assert reply["more"] is False
    assert reply["messages"] == [
        {"mid": sent.mid, "conv": "@alice", "from": "alice", "text": "hello", "ts": sent.ts, "cmid": "h1"}
    ]
    mine, _ = await alice.history("@bob")
    assert [(m.mid, m.conv, m.sender) for m in mine] == [(sent.mid, "@bob", "alice")]
    both, _ = await alice.history("@BOB")
    assert [m.mid for m in both] == [sent.mid]


async def test_empty_conversation_history(user) -> None:
    alice = await user("alice")
    await user("bob")
    assert await alice.history("@bob") == ([], False)
    assert await alice.history("#lobby") == ([], False)


async def test_dm_history_is_readable_only_by_its_two_parties(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    carol = await user("carol")
    await alice.send("@bob", "secret for bob")
    await bob.send("@alice", "secret for alice")
    # Carol asking for "@alice" gets *her* conversation with alice: empty.
    assert await carol.history("@alice") == ([], False)
    assert await carol.history("@bob") == ([], False)
    mine = await carol.send("@alice", "hi alice, it's carol")
    page, _ = await carol.history("@alice")
    assert [(m.mid, m.text) for m in page] == [(mine.mid, "hi alice, it's carol")]
    assert [m.text for m in await full_history(alice, "@bob")] == ["secret for bob", "secret for alice"]
    assert [m.text for m in await full_history(alice, "@carol")] == ["hi alice, it's carol"]


async def test_room_history_needs_membership(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.join("private")
    await alice.send("#private", "members only")
    error = await error_of(bob.history("#private"), "forbidden")
    assert "private" in error.message
    await error_of(bob.history("#private", limit=5, before="1-0"), "forbidden")
    await error_of(bob.history("#private", before="0-0"), "forbidden")  # nothing can be before it: no read at all
    await error_of(bob.history("#nosuchroom"), "no_such_room")
    await error_of(bob.history("@nosuchuser"), "no_such_user")
    await bob.join("private")
    assert [m.text for m in await full_history(bob, "#private")] == ["members only"]


async def test_before_an_unknown_but_valid_mid(user) -> None:
    alice = await user("alice")
    sent = await alice.send("#lobby", "x")
    assert await alice.history("#lobby", before="1-0") == ([], False)
    page, more = await alice.history("#lobby", before="99999999999999-0")
    assert [m.mid for m in page] == [sent.mid] and more is False


async def test_page_of_long_messages_is_cut_to_fit_a_frame_and_paging_still_complete(make_server, user) -> None:
    srv = await make_server(send_rate=10_000, send_burst=10_000)
    alice = await user("alice", to=srv)
    texts = [f"{i:03d}" + "é" * 3996 for i in range(30)]  # ~8 KB of UTF-8 each
    mids = await _send_many(alice, "#lobby", texts)
    reply = await alice.request("history", conv="#lobby", limit=200)
    assert len(encode_frame(reply)) <= alice.server_info["max_frame"]
    page = reply["messages"]
    assert 0 < len(page) < 30 and reply["more"] is True
    assert [m["mid"] for m in page] == mids[-len(page) :], "the newest messages, oldest first"
    walked = await full_history(alice, "#lobby")
    assert [m.mid for m in walked] == mids
    assert [m.text for m in walked] == texts


async def test_a_room_page_is_one_call_to_redis_membership_included(clean_redis: str, user) -> None:
    # The membership check rides in the script that reads the page: a page
    # of a room is one command from the server, for a member and for someone
    # who is refused alike. (The slow log lists a script's own commands too,
    # from a client without an address: those are left out.)
    alice = await user("alice")
    bob = await user("bob")
    await alice.join("club")
    await alice.send("#club", "hello")
    admin = sync_redis.Redis.from_url(clean_redis)
    previous = admin.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    previous_len = admin.config_get("slowlog-max-len")["slowlog-max-len"]
    admin.config_set("slowlog-max-len", 100_000)
    admin.config_set("slowlog-log-slower-than", 0)
    try:
        for reader, outcome in ((alice, "page"), (bob, "forbidden")):
            admin.slowlog_reset()
            if outcome == "page":
                page, _ = await reader.history("#club")
                assert [m.text for m in page] == ["hello"]
            else:
                await error_of(reader.history("#club"), "forbidden")
            commands = [
                [a.decode(errors="replace") for a in entry[3]]
                for entry in admin.execute_command("SLOWLOG", "GET", 100_000)
                if entry[4] != b"?:0"  # not run by a script
            ]
            on_room = [c for c in commands if any(k in c for k in (keys.stream("#club"), keys.members("#club")))]
            assert [c[0].upper() for c in on_room] == ["EVALSHA"], on_room
    finally:
        admin.config_set("slowlog-log-slower-than", previous)
        admin.config_set("slowlog-max-len", previous_len)
        admin.close()
