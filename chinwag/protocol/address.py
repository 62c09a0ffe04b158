"""Conversation addresses, `#room` and `@username`: the one place that knows
the two sigils, for the server, the client and the TUI.

An `Address` is a `str` (its wire form, so it packs, compares and hashes as
the text the server sends) that also knows its kind and name. Two ways in:
`Address.parse` checks and normalizes what a user typed or a client sent;
`Address.of` takes an address the server (or this client) wrote at its
word, sigil and all, so a name that breaks today's rules is still shown.
"""

from __future__ import annotations

from typing import Literal

from . import limits
from .errors import ErrorCode, RequestError

Kind = Literal["room", "user"]
ROOM_SIGIL = "#"
USER_SIGIL = "@"
_SIGIL: dict[str, str] = {"room": ROOM_SIGIL, "user": USER_SIGIL}
# Addresses `Address.parse` accepted, by the text it was given: a server parses
# the same few addresses on every send and ack. Only valid ones are kept (at
# most a few dozen characters each), and the lot is dropped when full, so
# hostile text can neither grow it nor stay in it.
_PARSED: dict[str, Address] = {}
_PARSED_MAX = 4096
# Addresses `Address.of` made, by their text: a client reads the same few on
# every message (thousands of them in a history catch-up). Bounded as
# _PARSED is; text longer than any valid address is made afresh every time.
_OF: dict[str, Address] = {}
_OF_LONGEST = 64


def _remember(cache: dict[str, Address], text: str, address: Address) -> None:
    """Keep `address` under `text`, dropping the whole cache when it is full."""
    if len(cache) >= _PARSED_MAX:
        cache.clear()
    cache[text] = address


class Address(str):
    """`Address("room", "lobby")` is `"#lobby"`; `.kind`, `.name`, `.is_room`
    read it back."""

    __slots__ = ()
    __match_args__ = ("kind", "name")

    def __new__(cls, kind: Kind, name: str) -> Address:
        return super().__new__(cls, _SIGIL[kind] + name)

    def __reduce__(self) -> tuple[type[Address], tuple[str, str]]:  # copy and pickle
        return (Address, (self.kind, self.name))

    @classmethod
    def room(cls, name: str) -> Address:
        return cls("room", name)

    @classmethod
    def user(cls, name: str) -> Address:
        return cls("user", name)

    @property
    def kind(self) -> Kind:
        return "room" if self.startswith(ROOM_SIGIL) else "user"

    @property
    def name(self) -> str:
        return self[1:]

    @property
    def is_room(self) -> bool:
        return self.startswith(ROOM_SIGIL)

    def __repr__(self) -> str:
        return f"Address({self.kind!r}, {self.name!r})"

    @classmethod
    def of(cls, text: str) -> Address:
        """An address as written on the wire, not checked against the name
        rules (a display concern, not a trust one): raises ValueError only
        when `text` has no sigil at all."""
        if type(text) is cls:
            return text
        known = _OF.get(text)
        if known is not None:
            return known
        if text.startswith(ROOM_SIGIL):
            address = cls("room", text[1:])
        elif text.startswith(USER_SIGIL):
            address = cls("user", text[1:])
        else:
            raise ValueError(f"'{text}' is not a conversation address")
        if cls is Address and len(text) <= _OF_LONGEST:
            _remember(_OF, text, address)
        return address

    @classmethod
    def parse(cls, text: str) -> Address:
        """The normalized address, or `RequestError` (bad_request) saying what
        an address looks like."""
        known = _PARSED.get(text)
        if known is not None:
            return known
        address = cls._parse(text)
        _remember(_PARSED, text, address)
        return address

    @classmethod
    def _parse(cls, text: str) -> Address:
        if text.startswith(ROOM_SIGIL):
            room = limits.normalize_room(text[1:])
            if room is None:
                raise RequestError(
                    f"'{text}' is not a valid room address ({ROOM_SIGIL}name, {limits.ROOM_NAME_RULE})",
                    ErrorCode.BAD_REQUEST,
                )
            return cls("room", room)
        if text.startswith(USER_SIGIL):
            user = limits.normalize_username(text[1:])
            if user is None:
                raise RequestError(
                    f"'{text}' is not a valid user address ({USER_SIGIL}username)", ErrorCode.BAD_REQUEST
                )
            return cls("user", user)
        raise RequestError(
            f"'{text}' is not a conversation address: use {ROOM_SIGIL}room or {USER_SIGIL}username",
            ErrorCode.BAD_REQUEST,
        )


def bare_room(text: str) -> str:
    """A room name as `join`/`leave` take it: the sigil is optional
    (`#rust` and `rust` are the same room); not checked here."""
    return text[1:] if text.startswith(ROOM_SIGIL) else text
