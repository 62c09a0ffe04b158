from chinwag.protocol.messages import Message, PresenceEvent

from ..support.events import next_of, settled


async def test_dm_and_lobby(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    sent = await alice.send("@bob", "hello bob", cmid="c1")
    assert sent.conv == "@bob"
    got = await next_of(bob, Message)
    assert (got.conv, got.sender, got.text, got.mid) == ("@alice", "alice", "hello bob", sent.mid)
    again = await alice.send("@bob", "hello bob", cmid="c1")
    assert again.mid == sent.mid
    await alice.send("#lobby", "hi all")
    got = await next_of(bob, Message)
    assert (got.conv, got.text) == ("#lobby", "hi all")
    events = await settled(bob)
    assert not [e for e in events if isinstance(e, Message)]


async def test_presence(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    ev = await next_of(alice, PresenceEvent)
    assert ev.user.username == "bob" and ev.online
    await bob.close()
    ev = await next_of(alice, PresenceEvent)
    assert ev.user.username == "bob" and not ev.online
