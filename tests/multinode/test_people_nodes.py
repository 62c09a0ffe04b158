"""`people` across nodes: a block made on one node holds on every node the
blocker is connected to (and at their login anywhere), status and display
name changes reach everyone who gets the user's presence on every node."""

from __future__ import annotations

from chinwag.protocol.messages import Message, PresenceEvent, ReactionEvent, TypingEvent

from ..support.events import barrier, drain, next_of, settled
from ..support.waits import eventually

PEOPLE = ["people", "messages", "read"]


def texts(events: list[object]) -> list[str]:
    return [e.text for e in events if isinstance(e, Message)]


async def test_a_block_holds_on_the_blockers_other_node(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    phone = await user("alice", to=a, features=PEOPLE)
    laptop = await user("alice", to=b, features=PEOPLE)
    bob = await user("bob", to=b, features=PEOPLE)
    carol = await user("carol", to=a, features=PEOPLE)
    for c in (phone, bob, carol):
        await c.join("ops")
    hers = await carol.send("#ops", "carol's idea")
    for c in (phone, laptop, bob, carol):
        await drain(c, 0.1)

    await phone.block("bob")  # on node a; bob and her laptop are on node b
    assert await eventually(lambda: b.hub.blocked("alice", "bob"))
    await bob.send("@alice", "dm from bob")
    await bob.send("#ops", "room from bob")
    bob.typing("#ops")
    await bob.react("#ops", hers.mid, "🙄")
    await carol.send("#ops", "carol again")  # after bob's, on the other node: a marker that all has arrived
    for device in (phone, laptop):
        events = []
        while "carol again" not in texts(events):
            events.append(await device.next_event(timeout=5))
        events += await settled(device)
        assert texts(events) == ["carol again"]
        assert not [e for e in events if isinstance(e, TypingEvent | ReactionEvent)]
    everyone = await drain(carol, 0.2)
    assert texts(everyone) == ["room from bob", "carol again"]

    await laptop.block("bob", on=False)  # unblocked on node b: node a hears of it
    assert await eventually(lambda: not a.hub.blocked("alice", "bob"))
    await bob.send("@alice", "hello again")
    got = await next_of(phone, Message)
    assert got.text == "hello again"


async def test_login_on_another_node_replays_without_the_blocked_user(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    alice = await user("alice", to=a, features=PEOPLE)
    bob = await user("bob", to=b, features=PEOPLE)
    carol = await user("carol", to=b, features=PEOPLE)
    for c in (alice, bob, carol):
        await c.join("ops")
    await alice.block("bob")
    await alice.close()
    await bob.send("#ops", "while you were out")
    await bob.send("@alice", "psst")
    await carol.send("#ops", "hi alice")
    back = await user("alice", to=b, features=PEOPLE)
    assert back.session.unread == {"#ops": 1}
    assert texts(await settled(back)) == ["hi alice"]
    await bob.send("#ops", "live on b")
    await carol.send("#ops", "carol live")
    got = await next_of(back, Message)
    assert got.text == "carol live"


async def test_status_and_profile_reach_other_nodes_and_own_devices(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    phone = await user("alice", to=a, features=PEOPLE)
    laptop = await user("alice", to=b, features=PEOPLE)
    bob = await user("bob", to=b, features=PEOPLE)
    carol = await user("carol", to=b)  # version 1
    for c in (phone, laptop, bob, carol):
        await drain(c, 0.1)

    await phone.set_status(True, "in a meeting")
    for viewer in (laptop, bob):
        seen = await next_of(viewer, PresenceEvent)
        assert (seen.user.username, seen.user.away, seen.user.status, seen.online) == (
            "alice",
            True,
            "in a meeting",
            True,
        )
    listed = {u.username: u for u in await bob.who()}  # node b's view, from the bus
    assert (listed["alice"].away, listed["alice"].status) == (True, "in a meeting")

    await phone.set_display_name("Alice in a Meeting")
    for viewer in (laptop, bob):
        seen = await next_of(viewer, PresenceEvent)
        assert seen.user.display_name == "Alice in a Meeting"
    assert {u.username: u.display_name for u in await carol.who()}["alice"] == "Alice in a Meeting"
    assert all(c.display_name == "Alice in a Meeting" for c in b.hub.by_user["alice"])
    await barrier(carol)
    assert not [e for e in await drain(carol, 0.2) if isinstance(e, PresenceEvent)]  # v1: nothing

    await phone.close()
    await laptop.close()
    offline = await next_of(bob, PresenceEvent)
    assert (offline.online, offline.user.display_name, offline.user.away) == (False, "Alice in a Meeting", True)


async def test_a_node_reads_the_block_set_again_when_it_hears_a_change(make_server, user) -> None:
    """The event's change is applied at once and the set read again from
    Redis, so a node ends with Redis's set whatever it missed or in whatever
    order changes came."""
    a, b = await make_server(), await make_server()
    phone = await user("alice", to=a, features=PEOPLE)
    await user("alice", to=b, features=PEOPLE)
    await user("bob", to=a)
    await user("carol", to=a)
    assert await a.store.set_block("alice", "carol", True)  # written behind every node's back: no event
    await phone.block("bob")
    assert await eventually(lambda: b.hub.blocks_of("alice") == {"bob", "carol"})
    assert await phone.blocks() == ["bob", "carol"]
