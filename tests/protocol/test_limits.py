"""Name rules and limits (limits.py), with property tests for the name rules."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag.protocol import limits
from chinwag.protocol.errors import ErrorCode, RequestError
from chinwag.protocol.messages import Address, parse_request

PROPS = settings(max_examples=200, deadline=None)

valid_usernames = st.from_regex(r"[a-z][a-z0-9_.\-]{1,31}", fullmatch=True)
valid_rooms = st.from_regex(r"[a-z0-9_\-]{1,32}", fullmatch=True)
# Mostly ASCII, with a few letters that are not a-z in any case.
name_like = st.text(alphabet=string.printable + "éÅßİøЖ文", max_size=40)


def test_the_numbers_of_protocol_md() -> None:
    assert (limits.USERNAME_MIN, limits.USERNAME_MAX) == (2, 32)
    assert limits.DISPLAY_NAME_MAX == 64
    assert limits.ROOM_NAME_MAX == 32
    assert (limits.PASSWORD_MIN, limits.PASSWORD_MAX) == (8, 1024)
    assert limits.CMID_MAX == 64
    assert (limits.HISTORY_DEFAULT, limits.HISTORY_MAX) == (50, 200)
    assert (limits.USERS_DEFAULT, limits.USERS_MAX) == (50, 200)
    assert limits.REPLAY_MAX == 500
    assert limits.TOKEN_MIN_VALID_S >= 7 * 24 * 3600
    assert limits.TYPING_INTERVAL_S == 3.0
    assert limits.LOBBY == "lobby"


@PROPS
@given(valid_usernames)
def test_a_valid_username_normalizes_to_itself(name: str) -> None:
    assert limits.normalize_username(name) == name
    assert limits.username_problem(name) is None
    assert Address.parse("@" + name) == Address("user", name)


@PROPS
@given(valid_usernames)
def test_usernames_are_case_insensitive(name: str) -> None:
    assert limits.normalize_username(name.upper()) == name
    assert limits.username_problem(name.upper()) is None
    req = parse_request({"type": "register", "id": 1, "username": name.upper(), "password": "p" * 8})
    assert req.username == name  # type: ignore[attr-defined]


@PROPS
@given(name_like)
def test_normalized_usernames_always_follow_the_rules(name: str) -> None:
    result = limits.normalize_username(name)
    if result is not None:
        assert 2 <= len(result) <= 32
        assert result[0] in string.ascii_lowercase
        assert set(result) <= set(string.ascii_lowercase + string.digits + "_.-")
        assert result == name.lower()


@PROPS
@given(name_like)
def test_username_problem_agrees_with_normalize(name: str) -> None:
    assert (limits.username_problem(name) is None) == (limits.normalize_username(name) is not None)


@PROPS
@given(name_like)
def test_register_accepts_exactly_the_normalizable_names(name: str) -> None:
    frame = {"type": "register", "id": 1, "username": name, "password": "p" * 8}
    expected = limits.normalize_username(name)
    if expected is None:
        with pytest.raises(RequestError) as exc:
            parse_request(frame)
        assert exc.value.code == ErrorCode.INVALID_USERNAME
        assert exc.value.message == limits.username_problem(name)
    else:
        assert parse_request(frame).username == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a", "2 to 32"),
        ("a" * 33, "2 to 32"),
        ("1ab", "starts with a letter"),
        ("éab", "starts with a letter"),
        ("ab cd", "only letters"),
        ("ab!", "only letters"),
    ],
)
def test_username_problem_sentences(name: str, problem: str) -> None:
    sentence = limits.username_problem(name)
    assert sentence is not None and problem in sentence


@pytest.mark.parametrize("name", ["\u212aate", "ab\u212a"], ids=["kelvin-first", "kelvin-last"])
def test_non_ascii_letters_are_not_username_characters(name: str) -> None:
    # U+212A KELVIN SIGN lower-cases to ASCII 'k'; it is still not one of
    # "a-z 0-9 _ . -" (PROTOCOL.md, Names), so it must not pass as one.
    assert limits.normalize_username(name) is None
    assert limits.username_problem(name) is not None
    with pytest.raises(RequestError) as exc:
        parse_request({"type": "register", "id": 1, "username": name, "password": "p" * 8})
    assert exc.value.code == ErrorCode.INVALID_USERNAME


def test_non_ascii_letters_are_not_room_characters() -> None:
    assert limits.normalize_room("\u212a") is None
    with pytest.raises(RequestError):
        Address.parse("#\u212a")


@PROPS
@given(valid_rooms)
def test_a_valid_room_normalizes_to_itself(room: str) -> None:
    assert limits.normalize_room(room) == room
    assert limits.normalize_room(room.upper()) == room
    assert Address.parse("#" + room) == Address("room", room)
    assert parse_request({"type": "join", "id": 1, "room": room}).room == room  # type: ignore[attr-defined]


@PROPS
@given(name_like)
def test_normalized_rooms_always_follow_the_rules(room: str) -> None:
    result = limits.normalize_room(room)
    if result is not None:
        assert 1 <= len(result) <= 32
        assert set(result) <= set(string.ascii_lowercase + string.digits + "_-")


@PROPS
@given(st.text(max_size=70))
def test_display_names(name: str) -> None:
    ok = limits.valid_display_name(name)
    if ok:
        assert 1 <= len(name) <= 64
        assert name.isprintable()
    elif 1 <= len(name) <= 64 and name.isprintable():
        assert name.isspace()


@PROPS
@given(st.text(max_size=1100))
def test_password_problem_is_about_length_only(password: str) -> None:
    assert (limits.password_problem(password) is None) == (8 <= len(password) <= 1024)


@pytest.mark.parametrize(
    ("mid", "ok"),
    [
        ("0-0", True),
        ("1700000000000-12", True),
        (f"{2**64 - 1}-{2**64 - 1}", True),
        (f"{2**64}-0", False),
        (f"0-{2**64}", False),
        ("9" * 20 + "-" + "9" * 20, False),
        ("9" * 21 + "-0", False),
        ("1", False),
        ("a-b", False),
        ("1-2\n", False),
        ("-", False),
        ("", False),
    ],
)
def test_valid_mid(mid: str, ok: bool) -> None:
    """Two unsigned 64-bit numbers: the range Redis stream ids can hold."""
    assert limits.valid_mid(mid) is ok


# --- control characters (the rule display names use, and status/topics will) -----

CONTROLS = (
    [chr(c) for c in range(0x20)]
    + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


def test_every_control_character_is_named_by_its_unicode_alias() -> None:
    import unicodedata

    for ch in CONTROLS:
        assert limits.is_control(ch)
        code, _, name = limits.character_name(ch).partition(" ")
        assert code == f"U+{ord(ch):04X}"
        assert unicodedata.lookup(name) == ch  # Unicode's own name or formal alias


@pytest.mark.parametrize(
    "ch", ["a", " ", "\u200d", "\u00e9", "\u0301", "\ufe0f", "\u2028", "\u200f", "文", "🚀", "["], ids=repr
)
def test_what_is_not_a_control_character(ch: str) -> None:
    assert not limits.is_control(ch)
    assert limits.control_problem("status", f"x{ch}y") is None


@PROPS
@given(st.text(max_size=20), st.sampled_from(CONTROLS), st.text(max_size=20))
def test_control_problem_names_the_first_control_character(before: str, ch: str, after: str) -> None:
    text = before + ch + after
    first = next(c for c in text if limits.is_control(c))
    assert limits.control_problem("topic", text) == (
        f"topic contains {limits.character_name(first)}, a control character"
    )


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("Bob\u202eevil", "display_name contains U+202E RIGHT-TO-LEFT OVERRIDE, a control character"),
        ("a\u009bb", "display_name contains U+009B CONTROL SEQUENCE INTRODUCER, a control character"),
        ("a\u0085b", "display_name contains U+0085 NEXT LINE, a control character"),
        ("a\u009db", "display_name contains U+009D OPERATING SYSTEM COMMAND, a control character"),
        ("bell\x07", "display_name contains U+0007 ALERT, a control character"),
        ("zero\u200bwidth", "display_name contains U+200B ZERO WIDTH SPACE, which is not a printable character"),
        ("", "a display name has 1 to 64 printable characters"),
        ("   ", "a display name has 1 to 64 printable characters"),
        ("d" * 65, "a display name has 1 to 64 printable characters"),
    ],
    ids=repr,
)
def test_display_name_problem_says_which_character(name: str, sentence: str) -> None:
    assert limits.display_name_problem(name) == sentence
    with pytest.raises(RequestError) as refused:
        parse_request({"type": "register", "id": 1, "username": "bob", "password": "p" * 8, "display_name": name})
    assert refused.value.code == ErrorCode.BAD_REQUEST
    assert refused.value.message == sentence


@PROPS
@given(st.text(max_size=70))
def test_display_name_problem_agrees_with_valid_display_name(name: str) -> None:
    problem = limits.display_name_problem(name)
    assert (problem is None) == limits.valid_display_name(name)
    if any(limits.is_control(ch) for ch in name):
        assert problem is not None and problem.endswith(", a control character")
