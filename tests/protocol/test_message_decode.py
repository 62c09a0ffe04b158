"""A message event decoded by `Message.from_wire`, which builds the object
through its slots rather than its dataclass `__init__` (a client decodes
thousands in a history catch-up): the same object the constructor makes,
field for field, as frozen; and `Address.of`, which keeps the addresses it
made, gives equal addresses and keeps no text longer than an address."""

from __future__ import annotations

import dataclasses

import pytest

from chinwag.protocol import address as address_module
from chinwag.protocol.address import Address
from chinwag.protocol.messages import Message

RICH = {
    "type": "message",
    "mid": "1764603285123-17",
    "conv": "#rust",
    "from": "alice",
    "text": "hello",
    "ts": 1764603285123,
    "cmid": "c-1",
    "reply_to": "1764603285000-2",
    "edited": 1764603289999,
    "deleted": False,
    "reactions": {"👍": ["bob", "carol"]},
}


@pytest.mark.parametrize(
    "wire",
    [
        RICH,
        {"mid": "1-0", "conv": "@bob", "from": "bob", "text": "", "ts": 1, "cmid": None, "deleted": True},
        {"mid": "2-5", "conv": "@x", "from": "x", "text": "t", "ts": 2},
    ],
)
def test_from_wire_is_the_constructors_object(wire) -> None:
    got = Message.from_wire(wire)
    want = Message(
        wire["mid"],
        Address.of(wire["conv"]),
        wire["from"],
        wire["text"],
        wire["ts"],
        wire.get("cmid"),
        wire.get("reply_to"),
        wire.get("edited"),
        wire.get("deleted") is True,
        {k: tuple(v) for k, v in wire.get("reactions", {}).items()},
    )
    assert got == want
    assert [getattr(got, f.name) for f in dataclasses.fields(Message)] == [
        getattr(want, f.name) for f in dataclasses.fields(Message)
    ]
    assert type(got) is Message and type(got.conv) is Address
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.text = "changed"  # type: ignore[misc]
    assert dataclasses.replace(got, text="other").text == "other"


def test_a_subclass_still_gets_its_own_type() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Mine(Message):
        pass

    assert type(Mine.from_wire(RICH)) is Mine


def test_address_of_keeps_what_it_made_but_not_long_text() -> None:
    first, again = Address.of("#rust"), Address.of("#rust")
    assert first is again and first == "#rust" and first.is_room and first.name == "rust"
    assert Address.of("@bob").kind == "user"
    long = "@" + "x" * 500
    assert Address.of(long) == long and long not in address_module._OF
    with pytest.raises(ValueError):
        Address.of("rust")


def test_the_address_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(address_module, "_OF", {})
    for i in range(address_module._PARSED_MAX + 10):
        assert Address.of(f"@u{i}").name == f"u{i}"
    assert len(address_module._OF) <= address_module._PARSED_MAX
