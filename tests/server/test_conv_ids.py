"""Conversation ids and the address each party sees (server/conv.py):
`address_for` is what every message's `conv` field says, on delivery and in
history, so it must be exactly the text of the protocol's address object."""

from __future__ import annotations

import pytest

from chinwag.protocol.address import Address
from chinwag.server.conv import address_for, conv_id, dm_parties, is_room


@pytest.mark.parametrize(("me", "other"), [("alice", "bob"), ("bob", "alice"), ("a.b-c_d", "zz"), ("me", "me")])
def test_each_party_of_a_dm_sees_the_other(me: str, other: str) -> None:
    cid = conv_id(me, Address.user(other))
    assert not is_room(cid) and set(dm_parties(cid)) == {me, other}
    seen = address_for(cid, me)
    assert seen == str(Address.user(other)) == f"@{other}"
    assert type(seen) is str  # plain text on the wire, as before
    assert address_for(cid, other) == f"@{me}"


def test_a_room_is_its_own_address() -> None:
    cid = conv_id("alice", Address.room("rust"))
    assert is_room(cid) and address_for(cid, "alice") == address_for(cid, "bob") == "#rust"
