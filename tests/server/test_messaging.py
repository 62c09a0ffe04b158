"""`send` to people and rooms with its errors, `cmid` idempotency, `ack`,
and the typing relay."""

from __future__ import annotations

import asyncio
import time

from chinwag.protocol.messages import Message, TypingEvent

from ..support.events import (
    collect,
    drain,
    error_of,
    full_history,
    next_of,
    settled,
    settled_messages,
)
from ..support.fakeclock import install_clock
from ..support.settings import PASSWORD

# --- send ------------------------------------------------------------------------------


async def test_send_dm_reply_and_event_shape(user, raw) -> None:
    alice = await user("alice")
    await user("bob")
    bob = await raw()
    await bob.login("bob", PASSWORD)
    await bob.barrier()
    before = int(time.time() * 1000)
    sent = await alice.send("@BoB", "héllo wörld 👋", cmid="c-1")
    after = int(time.time() * 1000)
    assert sent.conv == "@bob", "conv is the canonical address as the sender sees it"
    assert isinstance(sent.mid, str) and sent.mid
    assert before - 2000 <= sent.ts <= after + 2000
    event = await bob.recv()
    assert event == {
        "type": "message",
        "mid": sent.mid,
        "conv": "@alice",
        "from": "alice",
        "text": "héllo wörld 👋",
        "ts": sent.ts,
        "cmid": "c-1",
    }


async def test_send_without_cmid_has_nil_cmid(user, raw) -> None:
    alice = await user("alice")
    await user("bob")
    bob = await raw()
    await bob.login("bob", PASSWORD)
    await bob.barrier()
    sent = await alice.send("#lobby", "plain")
    event = await bob.recv()
    assert event["mid"] == sent.mid and "cmid" in event and event["cmid"] is None


async def test_send_to_room_reaches_members_only(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    carol = await user("carol")
    await alice.join("dev")
    await bob.join("dev")
    await settled(alice), await settled(bob), await settled(carol)
    sent = await alice.send("#DEV", "standup in 5")
    assert sent.conv == "#dev"
    for client in (alice, bob):
        got = await next_of(client, Message)
        assert (got.mid, got.conv, got.sender, got.text) == (sent.mid, "#dev", "alice", "standup in 5")
    assert not await settled_messages(carol)


async def test_mids_are_unique_and_in_acceptance_order(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    replies = await asyncio.gather(*(alice.request_nowait("send", to="@bob", text=f"m{i}") for i in range(30)))
    mids = [r["mid"] for r in replies]
    assert len(set(mids)) == 30
    history = await full_history(bob, "@alice")
    assert [m.text for m in history] == [f"m{i}" for i in range(30)]
    assert [m.mid for m in history] == mids
    got = await collect(bob, 30)
    assert [m.mid for m in got] == mids


async def test_send_to_unknown_user_is_no_such_user(user) -> None:
    alice = await user("alice")
    error = await error_of(alice.send("@ghost", "boo"), "no_such_user")
    assert "ghost" in error.message
    await error_of(alice.history("@ghost"), "no_such_user")


async def test_send_to_room_not_joined_is_not_member(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await bob.join("secret")
    await bob.send("#secret", "psst")
    await error_of(alice.send("#secret", "let me in"), "not_member")
    assert [m.text for m in await full_history(bob, "#secret")] == ["psst"]


async def test_send_to_room_that_does_not_exist(user) -> None:
    alice = await user("alice")
    try:
        await alice.send("#nowhere", "hello?")
    except Exception as exc:  # checked below
        assert getattr(exc, "code", None) in ("not_member", "no_such_room"), exc
    else:
        raise AssertionError("send to a room that does not exist succeeded")
    assert [r["name"] for r in await alice.rooms()] == ["lobby"], "a failed send creates no room"


async def test_after_leaving_a_room_send_is_not_member(user) -> None:
    alice = await user("alice")
    await alice.join("dev")
    await alice.send("#dev", "bye all")
    await alice.leave("dev")
    await error_of(alice.send("#dev", "one more"), "not_member")


async def test_too_large_counts_code_points_not_bytes(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    assert alice.max_text == 4000
    ok = await alice.send("@bob", "😀" * 4000)  # 16,000 bytes of UTF-8, 4,000 code points
    error = await error_of(alice.send("@bob", "😀" * 4001), "too_large")
    assert "4000" in error.message or "4,000" in error.message
    await error_of(alice.send("@bob", "a" * 4001), "too_large")
    history = await full_history(bob, "@alice")
    assert [m.mid for m in history] == [ok.mid]


async def test_too_large_follows_the_max_text_setting(make_server, user) -> None:
    srv = await make_server(max_text=10)
    alice = await user("alice", to=srv)
    assert alice.server_info["max_text"] == 10
    await alice.send("#lobby", "0123456789")
    await error_of(alice.send("#lobby", "0123456789X"), "too_large")


async def test_rate_limited_with_retry_after(make_server, user) -> None:
    srv = await make_server(send_rate=1, send_burst=2)
    clock = install_clock(srv)
    alice = await user("alice", to=srv)
    bob = await user("bob", to=srv)
    await alice.send("@bob", "one")
    await alice.send("@bob", "two")
    error = await error_of(alice.send("@bob", "three"), "rate_limited")
    assert isinstance(error.retry_after, (int, float)) and 0 < error.retry_after <= 1.0
    clock.advance(error.retry_after + 0.05)
    await alice.send("@bob", "four")
    assert [m.text for m in await full_history(bob, "@alice")] == ["one", "two", "four"]
    assert [m.text for m in await collect(bob, 3)] == ["one", "two", "four"]
    assert not await settled_messages(bob)


# --- cmid idempotency ---------------------------------------------------------------------


async def test_same_cmid_twice_same_result_one_delivery(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    first = await alice.send("@bob", "only once", cmid="k1")
    second = await alice.send("@bob", "only once", cmid="k1")
    assert (second.mid, second.ts, second.conv) == (first.mid, first.ts, first.conv)
    got = await settled_messages(bob)
    assert [(m.mid, m.cmid) for m in got] == [(first.mid, "k1")]
    assert [m.mid for m in await full_history(alice, "@bob")] == [first.mid]


async def test_same_cmid_across_reconnect_on_a_new_connection(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    first = await alice.send("#lobby", "sent before the link dropped", cmid="offline-42")
    await alice.close()
    alice2 = await user("alice")
    again = await alice2.send("#lobby", "sent before the link dropped", cmid="offline-42")
    assert (again.mid, again.ts, again.conv) == (first.mid, first.ts, first.conv)
    got = await settled_messages(bob)
    assert [m.mid for m in got] == [first.mid]
    assert [m.mid for m in await full_history(bob, "#lobby")] == [first.mid]


async def test_cmid_is_per_sender(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    a = await alice.send("#lobby", "from alice", cmid="same")
    b = await bob.send("#lobby", "from bob", cmid="same")
    assert a.mid != b.mid
    assert [(m.sender, m.cmid) for m in await full_history(alice, "#lobby")] == [("alice", "same"), ("bob", "same")]


async def test_different_cmids_are_different_messages(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    a = await alice.send("@bob", "same text", cmid="x1")
    b = await alice.send("@bob", "same text", cmid="x2")
    assert a.mid != b.mid
    assert len(await collect(bob, 2)) == 2


async def test_cmid_reused_for_another_conversation_returns_the_original(user) -> None:
    """PROTOCOL.md: resending the same cmid from the same user returns the
    original mid, ts *and conv* and delivers nothing new."""
    alice = await user("alice")
    bob = await user("bob")
    first = await alice.send("@bob", "meant for bob", cmid="dup-1")
    again = await alice.send("#lobby", "meant for bob", cmid="dup-1")
    assert (again.mid, again.ts, again.conv) == (first.mid, first.ts, "@bob")
    assert await full_history(bob, "#lobby") == []


async def test_cmid_of_64_chars_accepted_and_echoed(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    cmid = "é" * 64
    sent = await alice.send("@bob", "long cmid", cmid=cmid)
    got = await next_of(bob, Message)
    assert (got.mid, got.cmid) == (sent.mid, cmid)
    assert (await full_history(bob, "@alice"))[0].cmid == cmid


# --- ack --------------------------------------------------------------------------------


async def test_ack_moves_the_cursor_before_the_next_reply(user) -> None:
    alice = await user("alice")
    bob = await user("bob", auto_ack=False)
    sent = [await alice.send("@bob", f"m{i}") for i in range(3)]
    assert [m.mid for m in await collect(bob, 3)] == [s.mid for s in sent]
    bob.ack("@alice", sent[1].mid)
    await bob.ping()  # the ack took effect before this reply
    other = await user("bob", auto_ack=False)
    assert other.session.unread == {"@alice": 1}
    assert [m.mid for m in await settled_messages(other)] == [sent[2].mid]


async def test_ack_never_moves_a_cursor_backwards(user) -> None:
    alice = await user("alice")
    bob = await user("bob", auto_ack=False)
    sent = [await alice.send("@bob", f"m{i}") for i in range(3)]
    await collect(bob, 3)
    bob.ack("@alice", sent[2].mid)
    bob.ack("@alice", sent[0].mid)
    await bob.ping()
    other = await user("bob", auto_ack=False)
    assert other.session.unread == {}
    assert not await settled_messages(other)


async def test_ack_as_request_with_id_gets_ok(raw, user) -> None:
    alice = await user("alice")
    await user("bob")
    sent = await alice.send("@bob", "hi")
    bob = await raw()
    login = await bob.login("bob", PASSWORD)
    assert login["unread"] == {"@alice": 1}
    reply = await bob.request("ack", conv="@alice", upto=sent.mid)
    assert reply == {"type": "ok", "re": reply["re"]}
    again = await user("bob")
    assert again.session.unread == {}


async def test_ack_for_a_conversation_of_someone_else_changes_nothing(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    carol = await user("carol", auto_ack=False)
    sent = await alice.send("@bob", "private")
    await alice.join("dev")
    room = await alice.send("#dev", "room msg")
    # Carol is in neither conversation; her acks must not fail or leak.
    carol.ack("@alice", sent.mid)
    carol.ack("#dev", room.mid)
    await carol.ping()
    assert {r["name"]: r["joined"] for r in await carol.rooms()} == {"dev": False, "lobby": True}
    await error_of(carol.history("#dev"), "forbidden")
    assert await full_history(carol, "@alice") == []
    await bob.close()
    bob2 = await user("bob")
    assert bob2.session.unread == {"@alice": 1}


async def test_auto_ack_by_the_client_clears_unread(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    await alice.send("@bob", "seen")
    await next_of(bob, Message)
    await drain(bob, 0.1)  # asking for the next event acks the one before
    await bob.ping()
    bob2 = await user("bob")
    assert bob2.session.unread == {}
    assert not await settled_messages(bob2)


# --- typing -----------------------------------------------------------------------------


def typing_events(events) -> list[tuple[str, str]]:
    return [(e.conv, e.sender) for e in events if isinstance(e, TypingEvent)]


async def test_typing_dm_relayed_with_conv_as_seen_by_receiver(user) -> None:
    alice = await user("alice")
    alice2 = await user("alice")
    bob = await user("bob")
    await settled(alice), await settled(alice2), await settled(bob)
    alice.typing("@bob")
    ev = await next_of(bob, TypingEvent)
    assert (ev.conv, ev.sender) == ("@alice", "alice")
    assert typing_events(await settled(alice)) == [], "never relayed back to the typist"
    assert typing_events(await settled(alice2)) == [], "only to the *other* members"


async def test_typing_in_a_room_reaches_other_members_only(user) -> None:
    alice, bob, carol, dave = [await user(n) for n in ("alice", "bob", "carol", "dave")]
    for c in (alice, bob, carol):
        await c.join("dev")
    for c in (alice, bob, carol, dave):
        await settled(c)
    alice.typing("#dev")
    for c in (bob, carol):
        ev = await next_of(c, TypingEvent)
        assert (ev.conv, ev.sender) == ("#dev", "alice")
    assert typing_events(await settled(dave)) == []
    assert typing_events(await settled(alice)) == []
    assert await full_history(bob, "#dev") == [], "typing is never stored"


async def test_typing_throttled_to_one_per_3s_per_conversation(server, user) -> None:
    clock = install_clock(server)
    alice = await user("alice")
    bob = await user("bob")
    await bob.join("dev"), await alice.join("dev")
    await settled(bob)
    start = clock()
    for _ in range(5):
        alice.typing("@bob")
    alice.typing("#dev")  # another conversation has its own window
    await alice.ping()
    got = typing_events(await settled(bob))
    assert sorted(got) == [("#dev", "alice"), ("@alice", "alice")]
    # Still inside the window: dropped.
    alice.typing("@bob")
    await alice.ping()
    assert typing_events(await settled(bob)) == []
    # After 3 s a new notification is relayed again.
    clock.advance(max(0.0, 3.05 - (clock() - start)))
    alice.typing("@bob")
    ev = await next_of(bob, TypingEvent)
    assert (ev.conv, ev.sender) == ("@alice", "alice")


async def test_typing_throttle_is_per_sender_not_per_connection(user) -> None:
    """At most one typing event every 3 s per *sender* and conversation, even
    when the sender types on two devices."""
    phone = await user("alice")
    laptop = await user("alice")
    bob = await user("bob")
    await settled(bob)
    phone.typing("@bob")
    laptop.typing("@bob")
    await phone.ping(), await laptop.ping()
    assert typing_events(await settled(bob)) == [("@alice", "alice")]


async def test_typing_to_nonmember_room_or_unknown_user_relays_nothing(user, raw) -> None:
    bob = await user("bob")
    await bob.join("dev")
    await settled(bob)
    alice = await raw()
    assert (await alice.request("register", username="alice", password=PASSWORD))["type"] == "ok"
    await alice.login("alice", PASSWORD)
    await alice.send({"type": "typing", "to": "#dev"})
    await alice.send({"type": "typing", "to": "@ghost"})
    frames = await alice.barrier()
    assert all(f["type"] in ("error", "presence") for f in frames), frames
    assert all(f.get("re") is None for f in frames)
    assert typing_events(await settled(bob)) == []
    assert (await alice.request("ping"))["type"] == "ok"
