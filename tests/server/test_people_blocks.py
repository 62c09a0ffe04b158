"""`people`: blocking is silent and one-way. Nothing from a blocked user
reaches the blocker (messages in rooms and direct conversations, typing,
reactions; live, replayed, counted unread, in history, in `conversations`);
the blocked user notices nothing, and the blocker's messages still reach
them."""

from __future__ import annotations

from chinwag.protocol.messages import Message, PresenceEvent, ReactionEvent, TypingEvent

from ..support.events import barrier, error_of, next_of, settled
from ..support.waits import eventually

PEOPLE = ["people", "messages", "read"]


def texts(events: list[object]) -> list[str]:
    return [e.text for e in events if isinstance(e, Message)]


async def test_direct_messages_from_a_blocked_user_do_not_arrive_and_theirs_get_ok(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    await alice.block("bob")
    sent = await bob.send("@alice", "you cannot hear me")
    assert sent.mid  # an ordinary ok
    assert texts(await settled(alice, bob)) == []
    assert texts(await settled(bob)) == ["you cannot hear me"]  # his own copy, as ever
    mine = await alice.send("@bob", "but you hear me")
    got = await next_of(bob, Message)
    assert (got.mid, got.text) == (mine.mid, "but you hear me")
    await bob.send("@alice", "still unheard")
    assert texts(await settled(alice, bob)) == ["but you hear me"]  # her own copy: hers unblocks nothing
    history, _ = await alice.history("@bob")
    assert [m.text for m in history] == ["but you hear me"]
    everything = ["you cannot hear me", "but you hear me", "still unheard"]
    assert [m.text for m in (await bob.history("@alice"))[0]] == everything


async def test_room_messages_and_typing_from_a_blocked_user_skip_only_the_blocker(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    carol = await user("carol")  # version 1
    for c in (alice, bob, carol):
        await c.join("ops")
    await alice.block("bob")
    await settled(alice)
    await settled(carol)
    await bob.send("#ops", "from bob")
    await carol.send("#ops", "from carol")
    bob.typing("#ops")
    assert texts(await settled(carol, bob)) == ["from bob", "from carol"]
    await settled(bob, carol)
    events = await settled(alice, bob, carol)
    assert texts(events) == ["from carol"]
    assert not [e for e in events if isinstance(e, TypingEvent)]
    await alice.send("#ops", "alice speaks")
    assert texts(await settled(bob, alice)) == ["alice speaks"]
    assert [m.text for m in (await alice.history("#ops"))[0]] == ["from carol", "alice speaks"]
    assert [m.text for m in (await carol.history("#ops"))[0]] == ["from bob", "from carol", "alice speaks"]


async def test_typing_in_a_direct_conversation_is_dropped(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    await alice.block("bob")
    bob.typing("@alice")
    assert not [e for e in await settled(alice, bob) if isinstance(e, TypingEvent)]
    alice.typing("@bob")
    assert (await next_of(bob, TypingEvent)).sender == "alice"


async def test_reactions_and_edits_from_a_blocked_user_do_not_arrive(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    carol = await user("carol", features=PEOPLE)
    for c in (alice, bob, carol):
        await c.join("ops")
    hers = await alice.send("#ops", "a fine idea")
    await alice.block("bob")
    for c in (alice, bob, carol):
        await settled(c, alice)
    await bob.react("#ops", hers.mid, "👎")
    await carol.react("#ops", hers.mid, "👍")
    events = await settled(alice, bob, carol)
    assert [(e.emoji, e.sender) for e in events if isinstance(e, ReactionEvent)] == [("👍", "carol")]
    [msg] = (await alice.history("#ops"))[0]
    assert msg.reactions == {"👍": ("carol",)}
    [seen] = (await carol.history("#ops"))[0]
    assert seen.reactions == {"👎": ("bob",), "👍": ("carol",)}


async def test_replay_and_unread_leave_out_a_blocked_user(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    carol = await user("carol", features=PEOPLE)
    for c in (alice, bob, carol):
        await c.join("ops")
    await alice.block("bob")
    await alice.close()
    for n in range(3):
        await bob.send("#ops", f"bob {n}")
        await bob.send("@alice", f"bob dm {n}")
    await carol.send("#ops", "carol here")
    await bob.react("#ops", (await carol.history("#ops"))[0][-1].mid, "🙃")
    v1 = await user("alice", auto_ack=False)  # a version 1 connection, which leaves the cursors alone
    assert v1.session.unread == {"#ops": 1}
    assert texts(await settled(v1)) == ["carol here"]
    back = await user("alice", features=PEOPLE)
    assert back.session.unread == {"#ops": 1}
    events = await settled(back)
    replayed = [e for e in events if isinstance(e, Message)]
    assert [m.text for m in replayed] == ["carol here"]
    assert replayed[0].reactions == {}
    assert not [e for e in events if isinstance(e, ReactionEvent)]


async def test_conversations_show_no_blocked_message(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    await alice.send("@bob", "hello bob")
    await alice.block("bob")
    await bob.send("@alice", "the last word")
    dave = await user("dave", features=PEOPLE)
    await alice.block("dave")
    await dave.send("@alice", "a conversation she never sees")
    listing = dict(await alice.conversations())
    last = {str(addr): (m.text if m else None) for addr, m in listing.items()}
    assert last["@bob"] == "hello bob"
    assert "@dave" not in last
    await alice.block("dave", on=False)
    assert "@dave" in {str(addr) for addr, _ in await alice.conversations()}


async def test_unblock_restores_delivery_and_blocks_lists(user) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    await user("carol")
    assert await alice.blocks() == []
    await alice.block("carol")
    await alice.block("bob")
    await alice.block("bob")  # again: still ok
    assert await alice.blocks() == ["bob", "carol"]
    await alice.block("bob", on=False)
    await alice.block("bob", on=False)
    assert await alice.blocks() == ["carol"]
    await bob.send("@alice", "back in touch")
    assert texts(await settled(alice, bob)) == ["back in touch"]


async def test_block_errors(user) -> None:
    alice = await user("alice", features=PEOPLE)
    await error_of(alice.block("nobody"), "no_such_user")
    await error_of(alice.block("alice"), "bad_request")
    await error_of(alice.block("Not A Name!"), "bad_request")
    assert await alice.blocks() == []


async def test_blocks_hold_on_every_connection_of_the_blocker(user) -> None:
    phone = await user("alice", features=PEOPLE)
    laptop = await user("alice")  # version 1: blocking works there too
    bob = await user("bob")
    await phone.block("bob")
    await bob.send("@alice", "anyone?")
    await barrier(bob)
    assert texts(await settled(phone)) == []
    assert texts(await settled(laptop)) == []
    later = await user("alice")  # logs in after the block: loaded at login
    await bob.send("@alice", "still?")
    assert texts(await settled(later, bob)) == []


async def test_a_blocked_users_status_changes_do_not_reach_the_blocker(user) -> None:
    """Their online presence still does: `who` lists them anyway."""
    alice = await user("alice", features=PEOPLE)
    carol = await user("carol", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    await alice.block("bob")
    await settled(alice)
    await settled(carol)
    await bob.set_status(True, "look at me")
    await bob.set_display_name("Look At Me")
    seen = [e for e in await settled(carol, bob) if isinstance(e, PresenceEvent)]
    assert [(p.user.display_name, p.user.status) for p in seen] == [("bob", "look at me"), ("Look At Me", "look at me")]
    assert not [e for e in await settled(alice, bob) if isinstance(e, PresenceEvent)]
    await bob.close()
    offline = await next_of(alice, PresenceEvent)
    assert (offline.user.username, offline.online) == ("bob", False)


async def test_a_login_that_may_have_missed_a_block_reads_the_set_again(server, user) -> None:
    """A block change heard while a login's state was being read (the epoch
    moved) makes the hub read the user's set again once they are in."""
    await user("bob")
    alice = await user("alice", features=PEOPLE)
    await alice.close()
    assert await eventually(lambda: "alice" not in server.hub.by_user)
    assert await server.store.set_block("alice", "bob", True)  # stored, no event
    hub_add = server.hub.add

    def stale_add(peer, blocks=(), epoch=None):
        """As if the login read its state before that write, and the change
        was heard between the read and the registration (the epoch moved)."""
        hub_add(peer, (), None if epoch is None else epoch - 1)

    server.hub.add = stale_add
    again = await user("alice", features=PEOPLE)
    assert await eventually(lambda: server.hub.blocked("alice", "bob"))
    bob = await user("bob")
    await bob.send("@alice", "nope")
    assert texts(await settled(again, bob)) == []
