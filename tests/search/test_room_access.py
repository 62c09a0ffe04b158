"""Search and rooms: a private room's messages are found only by its
members, and a member kicked or banned stops finding them at once."""

from __future__ import annotations

from ..support.events import settled
from .helpers import found, texts_of

FEATURES = ["messages", "search", "rooms"]


async def test_private_room_messages_are_found_by_members_only(user) -> None:
    alice = await user("alice", features=FEATURES)
    bob = await user("bob", features=FEATURES)
    eve = await user("eve", features=FEATURES)
    await alice.join("secret", private=True)
    await alice.invite("secret", "bob")
    await bob.join("secret")
    await alice.send("#secret", "zebra crossing plans")
    await alice.send("#lobby", "zebra in the lobby")
    await found(alice, "zebra", "zebra in the lobby", "zebra crossing plans")  # indexed, both
    await found(bob, "zebra", "zebra in the lobby", "zebra crossing plans")
    assert texts_of(await eve.search("zebra")) == ["zebra in the lobby"]
    assert texts_of(await eve.search("zebra", conv="#secret")) == []

    await alice.kick("secret", "bob")
    await settled(bob, alice)
    assert texts_of(await bob.search("zebra")) == ["zebra in the lobby"]
    await alice.invite("secret", "bob")
    await bob.join("secret")
    await alice.ban("secret", "bob")
    assert texts_of(await bob.search("crossing")) == []
