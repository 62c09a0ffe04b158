"""Conversation identities: how an address a user sees maps to the one
conversation both parties share, and back.

A room's id is `#name`; a direct conversation's id is `@a:b` with the two
usernames sorted (':' cannot appear in a username), so Alice's `@bob` and
Bob's `@alice` are the same stream.
"""

from __future__ import annotations

from ..protocol.address import USER_SIGIL
from ..protocol.limits import MID_PART_MAX, mid_order
from ..protocol.messages import Address

DM_PREFIX = "@"  # of a direct conversation's id, "@a:b" (server-internal, never on the wire)


def room_id(room: str) -> str:
    """A room's conversation id: its address, `#name`."""
    return str(Address("room", room))


def conv_id(me: str, address: Address) -> str:
    """The conversation `address` names for user `me`."""
    if address.is_room:
        return str(address)
    a, b = sorted((me, address.name))
    return f"{DM_PREFIX}{a}:{b}"


def is_room(cid: str) -> bool:
    return not cid.startswith(DM_PREFIX)


def room_of(cid: str) -> str:
    """The room name of a room's conversation id."""
    return cid[1:]


def dm_parties(cid: str) -> tuple[str, str]:
    a, _, b = cid[1:].partition(":")
    return a, b


def address_for(cid: str, viewer: str) -> str:
    """The address of conversation `cid` as `viewer` sees it: a room's id is
    its address; a direct conversation is addressed by the other party."""
    if not cid.startswith(DM_PREFIX):  # a room (is_room, inlined: this runs for every message sent out)
        return cid
    a, _, b = cid[1:].partition(":")  # dm_parties
    # the text of Address("user", other), without making one (a str subclass
    # made and copied costs five times the rest of a message's wire object)
    return USER_SIGIL + (b if a == viewer else a)


mid_key = mid_order  # stream ids order as (milliseconds, sequence); the rule is the protocol's


def mid_ts(mid: str) -> int:
    """The acceptance time in ms: Redis builds stream ids from its clock."""
    return int(mid.partition("-")[0])


def mid_after(mid: str) -> str | None:
    """The smallest id greater than `mid`, or None if there is none: an
    inclusive range start, exact for any valid id (Lua numbers are not)."""
    ms, seq = mid_key(mid)
    if seq < MID_PART_MAX:
        return f"{ms}-{seq + 1}"
    return f"{ms + 1}-0" if ms < MID_PART_MAX else None


def mid_before(mid: str) -> str | None:
    """The largest id smaller than `mid`, or None if there is none."""
    ms, seq = mid_key(mid)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{MID_PART_MAX}" if ms > 0 else None
