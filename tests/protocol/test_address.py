"""`Address`: the one vocabulary for `#room` and `@user`, a str that knows
its kind and name, checked (`parse`) or taken at its word (`of`)."""

from __future__ import annotations

import copy
import pickle

import pytest

from chinwag.protocol import address as address_module
from chinwag.protocol import limits
from chinwag.protocol.address import ROOM_SIGIL, USER_SIGIL, Address, bare_room
from chinwag.protocol.errors import RequestError
from chinwag.protocol.frames import FrameDecoder, encode_frame
from chinwag.protocol.messages import Message, parse_event


def test_an_address_is_its_wire_form() -> None:
    room, user = Address.room("lobby"), Address.user("bob")
    assert (room, user) == ("#lobby", "@bob")
    assert {"#lobby": 1}[room] == 1 and hash(user) == hash("@bob")
    assert (room.kind, room.name, room.is_room) == ("room", "lobby", True)
    assert (user.kind, user.name, user.is_room) == ("user", "bob", False)
    assert type(str(room)) is str and str(room) == "#lobby"
    assert FrameDecoder().feed(encode_frame({"to": user})) == [{"to": "@bob"}]


def test_copies_and_pickles_stay_addresses() -> None:
    room = Address.room("rust")
    for twin in (copy.copy(room), copy.deepcopy(room), pickle.loads(pickle.dumps(room))):
        assert type(twin) is Address and twin == room and twin.is_room


def test_match_by_kind_and_name() -> None:
    match Address.user("bob"):
        case Address("room", name):
            raise AssertionError(name)
        case Address("user", name):
            assert name == "bob"


def test_of_takes_the_servers_word_and_parse_checks() -> None:
    odd = Address.of("@[b]\x1b")  # not a valid username, still shown as the server wrote it
    assert (odd.kind, odd.name) == ("user", "[b]\x1b")
    assert Address.of(odd) is odd
    with pytest.raises(ValueError):
        Address.of("lobby")
    with pytest.raises(RequestError):
        Address.parse("@[b]\x1b")
    assert Address.parse("#Rust") == Address.room("rust")


def test_the_rule_in_errors_comes_from_the_limits() -> None:
    with pytest.raises(RequestError) as caught:
        Address.parse(ROOM_SIGIL + "r" * (limits.ROOM_NAME_MAX + 1))
    assert f"{limits.ROOM_NAME_MIN}-{limits.ROOM_NAME_MAX}" in caught.value.message
    assert limits.normalize_room("r" * limits.ROOM_NAME_MAX) is not None
    assert limits.normalize_username("u" * limits.USERNAME_MAX) is not None
    assert limits.normalize_username("u" * (limits.USERNAME_MAX + 1)) is None
    assert limits.normalize_username("u" * (limits.USERNAME_MIN - 1)) is None
    assert limits.valid_mid(f"{limits.MID_PART_MAX}-{limits.MID_PART_MAX}")
    assert not limits.valid_mid(f"{limits.MID_PART_MAX + 1}-0")


def test_events_carry_addresses() -> None:
    event = parse_event(
        {"type": "message", "mid": "1-0", "conv": USER_SIGIL + "bob", "from": "bob", "text": "hi", "ts": 1}
    )
    assert isinstance(event, Message) and type(event.conv) is Address and not event.conv.is_room
    assert bare_room("#rust") == bare_room("rust") == "rust"


def test_parse_remembers_only_valid_addresses_and_stays_bounded() -> None:
    module = address_module

    module._PARSED.clear()
    assert Address.parse("@Alice") == "@alice"
    assert module._PARSED["@Alice"] == "@alice"
    assert Address.parse("@Alice") is module._PARSED["@Alice"]  # the same answer, not parsed again
    for _ in range(2):  # a refused address is refused every time, and never kept
        with pytest.raises(RequestError):
            Address.parse("@no such user")
    assert "@no such user" not in module._PARSED
    for i in range(module._PARSED_MAX + 10):
        Address.parse(f"#room{i}")
    assert len(module._PARSED) <= module._PARSED_MAX
    assert Address.parse("#ROOM5").kind == "room"
