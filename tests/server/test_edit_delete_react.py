"""`messages` (PROTOCOL-EXTENSIONS.md): edit, delete, reply, react, by the
rules of the contract's table; their events reach the members' connections
that negotiated the feature and no other; a deleted text is erased from
Redis, not hidden."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
import redis as sync_redis

from chinwag.protocol import limits
from chinwag.protocol.messages import DeletedEvent, EditedEvent, Message, ReactionEvent
from chinwag.server import keys

from ..support.events import error_of, settled
from ..support.keyspace import holders

MESSAGES = ["messages"]


def changes_of(events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, EditedEvent | DeletedEvent | ReactionEvent)]


# --- edit ---------------------------------------------------------------------------


async def test_an_edit_reaches_every_messages_connection_and_history_has_it(user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    sent = await alice.send("#lobby", "helo")
    edited = await alice.edit("#lobby", sent.mid, "hello")
    for client in (alice, bob):
        (event,) = changes_of(await settled(client, alice))
        assert isinstance(event, EditedEvent)
        assert (event.conv, event.mid, event.text, event.edited) == ("#lobby", sent.mid, "hello", edited)
        assert event.id > sent.mid and edited == int(event.id.partition("-")[0])
    (msg,) = (await bob.history("#lobby"))[0]
    assert (msg.text, msg.edited, msg.deleted, msg.reactions) == ("hello", edited, False, {})


async def test_only_the_author_edits(user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    sent = await alice.send("#lobby", "mine")
    await error_of(bob.edit("#lobby", sent.mid, "yours now"), "forbidden")
    assert (await bob.history("#lobby"))[0][0].text == "mine"


async def test_edit_of_an_unknown_deleted_or_change_id_is_no_such_message(user) -> None:
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "one")
    await error_of(alice.edit("#lobby", "1-1", "x"), "no_such_message")
    await alice.react("#lobby", sent.mid, "👍")
    (change,) = changes_of(await settled(alice))
    await error_of(alice.edit("#lobby", change.id, "x"), "no_such_message")
    await alice.delete("#lobby", sent.mid)
    await error_of(alice.edit("#lobby", sent.mid, "back"), "no_such_message")
    await error_of(alice.react("#lobby", sent.mid, "🎉"), "no_such_message")


async def test_edit_of_a_message_of_another_conversation_is_no_such_message(user) -> None:
    alice = await user("alice", features=MESSAGES)
    await user("bob")
    sent = await alice.send("@bob", "in the dm")
    await error_of(alice.edit("#lobby", sent.mid, "moved"), "no_such_message")
    await error_of(alice.delete("#lobby", sent.mid), "no_such_message")


async def test_edit_text_follows_the_rules_of_send(make_server, user) -> None:
    server = await make_server(max_text=10)
    alice = await user("alice", to=server, features=MESSAGES)
    sent = await alice.send("#lobby", "short")
    await error_of(alice.edit("#lobby", sent.mid, "x" * 11), "too_large")
    await error_of(alice.edit("#lobby", sent.mid, ""), "bad_request")
    assert await alice.edit("#lobby", sent.mid, "é" * 10)


async def test_changes_need_membership_and_existing_parties(user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    await alice.join("ops")
    sent = await alice.send("#ops", "members only")
    await error_of(bob.react("#ops", sent.mid, "👀"), "not_member")
    await error_of(bob.edit("#nowhere", sent.mid, "x"), "no_such_room")
    await error_of(bob.delete("@nobody", sent.mid), "no_such_user")
    await error_of(bob.mark_read("#ops", sent.mid), "not_member")


async def test_changes_take_from_the_send_rate(make_server, user) -> None:
    server = await make_server(send_rate=0.001, send_burst=2)
    alice = await user("alice", to=server, features=MESSAGES)
    sent = await alice.send("#lobby", "one")
    await alice.edit("#lobby", sent.mid, "two")
    error = await error_of(alice.react("#lobby", sent.mid, "👍"), "rate_limited")
    assert error.retry_after and error.retry_after > 0


# --- delete -------------------------------------------------------------------------


async def test_delete_leaves_a_tombstone_and_is_idempotent(user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    parent = await alice.send("#lobby", "parent")
    await bob.send("#lobby", "a reply", reply_to=parent.mid)
    await alice.react("#lobby", parent.mid, "👍")
    await alice.edit("#lobby", parent.mid, "parent, edited")
    await settled(bob, alice)
    await alice.delete("#lobby", parent.mid)
    (event,) = changes_of(await settled(bob, alice))
    assert isinstance(event, DeletedEvent) and (event.mid, event.by) == (parent.mid, "alice")
    await alice.delete("#lobby", parent.mid)  # again: ok, nothing new
    assert changes_of(await settled(bob, alice)) == []
    page, _ = await bob.history("#lobby")
    tomb, child = page
    assert (tomb.mid, tomb.text, tomb.deleted, tomb.edited, tomb.reactions) == (parent.mid, "", True, None, {})
    assert (child.reply_to, child.text) == (parent.mid, "a reply")


async def test_only_the_author_deletes_and_unknown_is_no_such_message(user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    sent = await alice.send("#lobby", "keep")
    await error_of(bob.delete("#lobby", sent.mid), "forbidden")
    await error_of(bob.delete("#lobby", "1-1"), "no_such_message")
    await alice.delete("#lobby", sent.mid)
    await error_of(bob.delete("#lobby", sent.mid), "forbidden")  # not bob's, deleted or not


async def test_a_deleted_text_is_in_no_key_of_redis(clean_redis: str, user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    secret = f"the password is {secrets.token_hex(16)}"
    first = f"first draft {secrets.token_hex(16)}"
    kept = f"this stays {secrets.token_hex(16)}"
    sent = await alice.send("@bob", first, cmid="c-1")
    await alice.edit("@bob", sent.mid, secret)
    await bob.react("@alice", sent.mid, "🙈")
    await alice.send("@bob", kept)
    assert holders(clean_redis, first) == []  # an edit replaces: the old text is gone too
    assert holders(clean_redis, secret) == [keys.texts("@alice:bob")]
    await alice.delete("@bob", sent.mid)
    assert holders(clean_redis, secret) == []
    assert holders(clean_redis, kept) == [keys.texts("@alice:bob")]
    page, _ = await bob.history("@alice")
    assert [(m.text, m.deleted) for m in page] == [("", True), (kept, False)]


async def test_deleting_a_message_stored_before_this_version_erases_it_from_the_stream(clean_redis: str, user) -> None:
    """Round 1 kept the text in the stream entry; deleting such a message
    rebuilds the stream without texts, keeping every id and every other text."""
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob")
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    stream = keys.stream("#lobby")
    texts = [f"old {i} {secrets.token_hex(8)}" for i in range(5)]
    legacy = [admin.xadd(stream, {"f": "alice", "t": t}) for t in texts[:4]]
    legacy.append(admin.xadd(stream, {"f": "bob", "t": texts[4], "c": "c-old"}))
    new = await alice.send("#lobby", "new layout")
    await alice.edit("#lobby", legacy[0], "old 0, edited")
    await alice.delete("#lobby", legacy[1])
    assert holders(clean_redis, texts[1]) == []
    assert holders(clean_redis, texts[0]) == []  # it was edited: the stream's copy went with the rebuild
    entries = admin.xrange(stream)
    assert not any("t" in fields for _, fields in entries)
    assert [i for i, f in entries if f.get("f")][:6] == [*legacy, new.mid]
    assert not [k for k in admin.scan_iter("*rebuild*")]
    assert admin.ttl(stream) == -1
    admin.close()
    page, _ = await alice.history("#lobby")
    assert [(m.mid, m.text, m.deleted, m.cmid) for m in page] == [
        (legacy[0], "old 0, edited", False, None),
        (legacy[1], "", True, None),
        (legacy[2], texts[2], False, None),
        (legacy[3], texts[3], False, None),
        (legacy[4], texts[4], False, "c-old"),
        (new.mid, "new layout", False, None),
    ]
    v1_page, _ = await bob.history("#lobby")
    assert [m.mid for m in v1_page] == [legacy[0], *legacy[2:], new.mid]


async def test_legacy_entries_read_like_new_ones(clean_redis: str, user) -> None:
    admin = sync_redis.Redis.from_url(clean_redis, decode_responses=True)
    old = admin.xadd(keys.stream("#lobby"), {"f": "zed", "t": "from round 1", "c": "c-z"})
    admin.close()
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "hello", reply_to=old)
    page, _ = await alice.history("#lobby")
    assert [(m.mid, m.sender, m.text, m.cmid, m.reply_to) for m in page] == [
        (old, "zed", "from round 1", "c-z", None),
        (sent.mid, "alice", "hello", None, old),
    ]
    ((_, last),) = await alice.conversations()
    assert last is not None and last.mid == sent.mid


# --- react --------------------------------------------------------------------------


async def test_reactions_in_the_order_people_reacted_and_no_ops(user) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    carol = await user("carol", features=MESSAGES)
    sent = await alice.send("#lobby", "react to me")
    await carol.react("#lobby", sent.mid, "👍")
    await bob.react("#lobby", sent.mid, "👍")
    await bob.react("#lobby", sent.mid, "🎉")
    await settled(alice, bob, carol)
    await bob.react("#lobby", sent.mid, "👍")  # set again: a no-op
    await alice.react("#lobby", sent.mid, "🎉", on=False)  # clear what is absent: a no-op
    assert changes_of(await settled(alice, bob)) == []
    (msg,) = (await alice.history("#lobby"))[0]
    assert msg.reactions == {"👍": ("carol", "bob"), "🎉": ("bob",)}
    await carol.react("#lobby", sent.mid, "👍", on=False)
    (event,) = changes_of(await settled(alice, carol))
    assert isinstance(event, ReactionEvent)
    assert (event.mid, event.emoji, event.sender, event.on) == (sent.mid, "👍", "carol", False)
    await bob.react("#lobby", sent.mid, "🎉", on=False)
    (msg,) = (await alice.history("#lobby"))[0]
    assert msg.reactions == {"👍": ("bob",)}


@pytest.mark.parametrize(
    "emoji",
    ["x" * (limits.EMOJI_MAX + 1), "", "👍 👍", "a\tb", "\n", "\u00a0", "ok\x1b[31m", "\u202e", "\x7f", "x\u2028"],
)
async def test_a_bad_emoji_is_bad_request(user, emoji: str) -> None:
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "hi")
    await error_of(alice.react("#lobby", sent.mid, emoji), "bad_request")
    assert (await alice.history("#lobby"))[0][0].reactions == {}


@pytest.mark.parametrize("emoji", ["👍", "x" * limits.EMOJI_MAX, "👩\u200d💻", "❤\ufe0f", "🇫🇷", "+1"])
async def test_an_emoji_of_up_to_16_code_points_is_taken(user, emoji: str) -> None:
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "hi")
    await alice.react("#lobby", sent.mid, emoji)
    assert (await alice.history("#lobby"))[0][0].reactions == {emoji: ("alice",)}


async def test_at_most_20_distinct_emoji_on_a_message(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    alice = await user("alice", to=server, features=MESSAGES)
    bob = await user("bob", to=server, features=MESSAGES)
    sent = await alice.send("#lobby", "hi")
    for i in range(limits.REACTIONS_MAX):
        await alice.react("#lobby", sent.mid, f"e{i}")
    await error_of(alice.react("#lobby", sent.mid, "one-more"), "too_large")
    await bob.react("#lobby", sent.mid, "e7")  # an existing one: still fine
    await alice.react("#lobby", sent.mid, "e0", on=False)
    await bob.react("#lobby", sent.mid, "one-more")  # a place came free
    (msg,) = (await alice.history("#lobby"))[0]
    assert len(msg.reactions) == limits.REACTIONS_MAX and msg.reactions["e7"] == ("alice", "bob")


# --- reply --------------------------------------------------------------------------


async def test_reply_to_must_be_a_message_of_the_same_conversation(user) -> None:
    alice = await user("alice", features=MESSAGES)
    await user("bob")
    in_dm = await alice.send("@bob", "private")
    await error_of(alice.send("#lobby", "re", reply_to=in_dm.mid), "no_such_message")
    await error_of(alice.send("#lobby", "re", reply_to="1-1"), "no_such_message")
    await error_of(alice.send("#lobby", "re", reply_to="not a mid"), "bad_request")
    room = await alice.send("#lobby", "public")
    await alice.react("#lobby", room.mid, "👍")
    (change,) = changes_of(await settled(alice))
    await error_of(alice.send("#lobby", "re", reply_to=change.id), "no_such_message")
    page, _ = await alice.history("#lobby")
    assert [m.text for m in page] == ["public"]  # nothing stored by the refused sends


async def test_a_reply_carries_reply_to_on_messages_connections_only(user, raw) -> None:
    alice = await user("alice", features=MESSAGES)
    bob = await user("bob", features=MESSAGES)
    conn = await raw()
    await conn.register("carol")
    await conn.login("carol")
    parent = await alice.send("#lobby", "parent")
    reply = await alice.send("#lobby", "child", reply_to=parent.mid)
    got = [m for m in await settled(bob, alice) if isinstance(m, Message)]
    assert [(m.mid, m.reply_to) for m in got] == [(parent.mid, None), (reply.mid, parent.mid)]
    frames = [f for f in await conn.barrier() if f["type"] == "message"]
    assert [sorted(f) for f in frames] == [["cmid", "conv", "from", "mid", "text", "ts", "type"]] * 2


# --- version 1 connections ----------------------------------------------------------


async def test_a_version_1_connection_sees_what_it_saw_before(user, raw) -> None:
    """No change events, no new fields; history has current texts and leaves
    out deleted messages."""
    alice = await user("alice", features=MESSAGES)
    conn = await raw()
    await conn.register("old")
    await conn.login("old")
    await conn.barrier()
    one = await alice.send("#lobby", "one", cmid="c1")
    two = await alice.send("#lobby", "two")
    await alice.edit("#lobby", one.mid, "one, edited")
    await alice.react("#lobby", one.mid, "👍")
    await alice.delete("#lobby", two.mid)
    await settled(alice)
    frames = await conn.barrier()
    assert [f for f in frames if f["type"] != "presence"] == [
        {
            "type": "message",
            "mid": one.mid,
            "conv": "#lobby",
            "from": "alice",
            "text": "one",
            "ts": one.ts,
            "cmid": "c1",
        },
        {
            "type": "message",
            "mid": two.mid,
            "conv": "#lobby",
            "from": "alice",
            "text": "two",
            "ts": two.ts,
            "cmid": None,
        },
    ]
    reply = await conn.ok("history", conv="#lobby")
    assert reply["messages"] == [
        {"mid": one.mid, "conv": "#lobby", "from": "alice", "text": "one, edited", "ts": one.ts, "cmid": "c1"}
    ]
    assert reply["more"] is False
    listing = await conn.ok("conversations")
    assert listing["conversations"][0]["last"]["mid"] == one.mid


async def test_history_pages_skip_changes_and_keep_their_size(make_server, user) -> None:
    server = await make_server(send_rate=10_000, send_burst=10_000)
    alice = await user("alice", to=server, features=MESSAGES)
    plain = await user("bob", to=server)
    mids = [(await alice.send("#lobby", f"m{i}")).mid for i in range(6)]
    for _ in range(30):  # many changes between messages
        await alice.react("#lobby", mids[2], "👍")
        await alice.react("#lobby", mids[2], "👍", on=False)
    await alice.delete("#lobby", mids[4])
    page, more = await alice.history("#lobby", limit=3)
    assert ([m.mid for m in page], more) == (mids[3:], True)
    page, more = await alice.history("#lobby", before=mids[3], limit=3)
    assert ([m.mid for m in page], more) == (mids[:3], False)
    page, more = await plain.history("#lobby", limit=3)  # v1: the deleted one is not counted in the page
    assert ([m.mid for m in page], more) == ([mids[2], mids[3], mids[5]], True)


# --- bad input ----------------------------------------------------------------------

BAD: list[tuple[str, dict[str, Any]]] = [
    ("edit without mid", {"type": "edit", "conv": "#lobby", "text": "x"}),
    ("edit mid int", {"type": "edit", "conv": "#lobby", "mid": 5, "text": "x"}),
    ("edit mid junk", {"type": "edit", "conv": "#lobby", "mid": "5-x", "text": "x"}),
    ("edit mid huge", {"type": "edit", "conv": "#lobby", "mid": f"{2**64}-0", "text": "x"}),
    ("edit text binary", {"type": "edit", "conv": "#lobby", "mid": "1-1", "text": b"x"}),
    ("edit no conv", {"type": "edit", "mid": "1-1", "text": "x"}),
    ("delete conv bare", {"type": "delete", "conv": "lobby", "mid": "1-1"}),
    ("delete mid list", {"type": "delete", "conv": "#lobby", "mid": ["1-1"]}),
    ("react on missing", {"type": "react", "conv": "#lobby", "mid": "1-1", "emoji": "x"}),
    ("react on int", {"type": "react", "conv": "#lobby", "mid": "1-1", "emoji": "x", "on": 1}),
    ("react emoji int", {"type": "react", "conv": "#lobby", "mid": "1-1", "emoji": 7, "on": True}),
    ("read upto missing", {"type": "read", "conv": "#lobby"}),
    ("read upto binary", {"type": "read", "conv": "#lobby", "upto": b"1-1"}),
    ("send reply_to int", {"type": "send", "to": "#lobby", "text": "x", "reply_to": 3}),
]


@pytest.mark.parametrize(("label", "frame"), BAD, ids=[b[0] for b in BAD])
async def test_bad_change_requests_are_bad_request_and_change_nothing(raw, label: str, frame: dict) -> None:
    conn = await raw()
    await conn.register("alice")
    await conn.login("alice")
    sent = await conn.ok("send", to="#lobby", text="safe")
    await conn.barrier()
    reply = await conn.request(frame["type"], **{k: v for k, v in frame.items() if k != "type"})
    assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
    page = await conn.ok("history", conv="#lobby")
    assert [(m["mid"], m["text"]) for m in page["messages"]] == [(sent["mid"], "safe")]
    await conn.barrier()  # the connection stays


async def test_a_message_with_thousands_of_reactions_still_fits_a_frame(clean_redis: str, user) -> None:
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "popular")
    crowd = [f"user-number-{i:05d}" for i in range(3_000)]
    state = {"r": [[f"e{j}", crowd] for j in range(limits.REACTIONS_MAX)]}
    admin = sync_redis.Redis.from_url(clean_redis)
    admin.hset(keys.states("#lobby"), sent.mid, json.dumps(state))  # as 3,000 people reacting 20 ways would leave it
    admin.close()
    reply = await alice.request("history", conv="#lobby")
    (msg,) = reply["messages"]
    assert msg["reaction_counts"] == {f"e{j}": 3_000 for j in range(limits.REACTIONS_MAX)}
    for j in range(limits.REACTIONS_MAX):
        listed = msg["reactions"][f"e{j}"]
        assert 0 < len(listed) < 3_000 and listed == crowd[: len(listed)]  # the first to react
    await alice.react("#lobby", sent.mid, "e3")  # and it still takes more


@pytest.mark.parametrize("emoji", ['"d":', '{"d":', '"},{"d":"x', "\\u0000", "]]", "');--"])
async def test_hostile_emoji_are_data_not_state(user, emoji: str) -> None:
    """An emoji that looks like the state's own JSON (or like Lua, or an
    escape) is stored as a string and never taken for a tombstone."""
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "hi")
    await alice.react("#lobby", sent.mid, emoji)
    (msg,) = (await alice.history("#lobby"))[0]
    assert (msg.text, msg.deleted, msg.reactions) == ("hi", False, {emoji: ("alice",)})
    await alice.edit("#lobby", sent.mid, "still here")
    await alice.react("#lobby", sent.mid, emoji, on=False)
    (msg,) = (await alice.history("#lobby"))[0]
    assert (msg.text, msg.deleted, msg.reactions) == ("still here", False, {})
