"""Request validation (`parse_request`) and event reading (`parse_event`).

Each rule of PROTOCOL.md that a single frame can break is checked here, at the
one place where a map from the wire becomes a typed object.
"""

from __future__ import annotations

from typing import Any

import pytest

from chinwag.protocol import limits
from chinwag.protocol.errors import ErrorCode, RequestError
from chinwag.protocol.frames import FrameDecoder, encode_frame
from chinwag.protocol.messages import (
    NOTIFICATION_TYPES,
    REQUEST_TYPES,
    Ack,
    Address,
    ByeEvent,
    ErrorEvent,
    Hello,
    History,
    Join,
    Leave,
    Login,
    Logout,
    MemberEvent,
    Message,
    Ping,
    Pong,
    PresenceEvent,
    Register,
    Request,
    Resume,
    Rooms,
    Send,
    Typing,
    TypingEvent,
    UnknownType,
    User,
    Users,
    Who,
    parse_event,
    parse_request,
    request_id,
)

PASSWORD = "correct horse"
MID = "1700000000000-0"

# One valid frame per request type in PROTOCOL.md.
VALID: dict[str, dict[str, Any]] = {
    "hello": {"type": "hello", "id": 1, "version": 1, "client": "chinwag-tui/0.1"},
    "register": {"type": "register", "id": 2, "username": "alice", "password": PASSWORD, "display_name": "Alice"},
    "login": {"type": "login", "id": 3, "username": "alice", "password": PASSWORD},
    "resume": {"type": "resume", "id": 4, "token": "opaque-token"},
    "logout": {"type": "logout", "id": 5},
    "who": {"type": "who", "id": 6},
    "users": {"type": "users", "id": 7, "prefix": "al", "limit": 10},
    "send": {"type": "send", "id": 8, "to": "#lobby", "text": "hi", "cmid": "c1"},
    "history": {"type": "history", "id": 9, "conv": "@bob", "before": MID, "limit": 20},
    "join": {"type": "join", "id": 10, "room": "rust"},
    "leave": {"type": "leave", "id": 11, "room": "rust"},
    "rooms": {"type": "rooms", "id": 12},
    "ping": {"type": "ping", "id": 13},
    "ack": {"type": "ack", "conv": "#lobby", "upto": MID},
    "typing": {"type": "typing", "to": "@bob"},
    "pong": {"type": "pong"},
}

# For each type, its required fields (those whose absence is bad_request).
REQUIRED: dict[str, list[str]] = {
    "hello": ["version"],
    "register": ["username", "password"],
    "login": ["username", "password"],
    "resume": ["token"],
    "users": [],
    "send": ["to", "text"],
    "history": ["conv"],
    "join": ["room"],
    "leave": ["room"],
    "ack": ["conv", "upto"],
    "typing": ["to"],
}

# Every typed field of every request type, for wrong-type tests.
FIELDS: list[tuple[str, str]] = [
    ("hello", "version"),
    ("hello", "client"),
    ("register", "username"),
    ("register", "password"),
    ("register", "display_name"),
    ("login", "username"),
    ("login", "password"),
    ("resume", "token"),
    ("users", "prefix"),
    ("users", "limit"),
    ("send", "to"),
    ("send", "text"),
    ("send", "cmid"),
    ("history", "conv"),
    ("history", "before"),
    ("history", "limit"),
    ("join", "room"),
    ("leave", "room"),
    ("ack", "conv"),
    ("ack", "upto"),
    ("typing", "to"),
]
INT_FIELDS = {("hello", "version"), ("users", "limit"), ("history", "limit")}


def frame(kind: str, **changes: Any) -> dict[str, Any]:
    """The valid frame of `kind` with some fields changed; a value of `...` deletes."""
    out = dict(VALID[kind])
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def error_of(f: dict[str, Any], max_text: int = limits.DEFAULT_MAX_TEXT) -> RequestError:
    with pytest.raises(RequestError) as exc:
        parse_request(f, max_text)
    assert exc.value.message, "every error carries a human sentence"
    return exc.value


def code_of(f: dict[str, Any], max_text: int = limits.DEFAULT_MAX_TEXT) -> ErrorCode:
    return error_of(f, max_text).code


# --- the registry -------------------------------------------------------------------


# chinwag's compatible extensions (docs/protocol.md), beyond PROTOCOL.md's list,
# and the requests of PROTOCOL-EXTENSIONS.md's features
EXTENSIONS = {"conversations", "notify", "highlights", "notify_settings"}
FEATURE_REQUESTS = {"edit", "delete", "react", "read", "search"}
FEATURE_REQUESTS |= {"room_info", "topic", "invite", "kick", "ban", "role"}  # rooms
FEATURE_REQUESTS |= {"status", "block", "blocks", "profile", "password", "sessions", "revoke"}  # people


def test_every_request_type_of_the_protocol_is_known() -> None:
    assert set(REQUEST_TYPES) == set(VALID) | EXTENSIONS | FEATURE_REQUESTS
    assert NOTIFICATION_TYPES == {"typing", "ack", "pong", "read"}
    for kind, cls in REQUEST_TYPES.items():
        assert cls.TYPE == kind


# --- valid frames --------------------------------------------------------------------


def test_hello() -> None:
    assert parse_request(VALID["hello"]) == Hello(1, 1, "chinwag-tui/0.1")
    assert parse_request(frame("hello", client=...)) == Hello(1, 1, None)


def test_hello_with_any_integer_version_parses() -> None:
    # A version the server cannot speak is `unsupported_version`, the server's call.
    assert parse_request(frame("hello", version=99)).version == 99


def test_register() -> None:
    assert parse_request(VALID["register"]) == Register(2, "alice", PASSWORD, "Alice")


def test_register_lower_cases_the_username() -> None:
    req = parse_request(frame("register", username="Alice.Smith-2"))
    assert isinstance(req, Register)
    assert req.username == "alice.smith-2"


def test_register_display_name_is_optional() -> None:
    assert parse_request(frame("register", display_name=...)).display_name is None
    assert parse_request(frame("register", display_name=None)).display_name is None


def test_login() -> None:
    assert parse_request(VALID["login"]) == Login(3, "alice", PASSWORD)


def test_login_keeps_the_username_as_typed() -> None:
    # Unlike register, login does not normalize: the server lower-cases a valid
    # name itself and throttles failures by what was typed (server/handlers.py).
    req = parse_request(frame("login", username="Alice"))
    assert isinstance(req, Login)
    assert req.username == "Alice"
    assert limits.normalize_username(req.username) == "alice"


def test_login_with_an_impossible_username_is_not_a_request_error() -> None:
    # It must end as bad_credentials, indistinguishable from an unknown user.
    req = parse_request(frame("login", username="not a valid name!"))
    assert isinstance(req, Login)
    assert req.password == PASSWORD


def test_resume() -> None:
    assert parse_request(VALID["resume"]) == Resume(4, "opaque-token")


@pytest.mark.parametrize(("kind", "cls"), [("logout", Logout), ("who", Who), ("rooms", Rooms), ("ping", Ping)])
def test_field_less_requests(kind: str, cls: type[Request]) -> None:
    req = parse_request(VALID[kind])
    assert type(req) is cls
    assert req.id == VALID[kind]["id"]


def test_users() -> None:
    assert parse_request(VALID["users"]) == Users(7, "al", 10)


def test_users_defaults() -> None:
    assert parse_request({"type": "users", "id": 1}) == Users(1, None, limits.USERS_DEFAULT)
    assert limits.USERS_DEFAULT == 50


def test_users_prefix_is_lower_cased() -> None:
    assert parse_request(frame("users", prefix="AL")).prefix == "al"


def test_users_empty_prefix_means_everyone() -> None:
    assert parse_request(frame("users", prefix="")).prefix is None


@pytest.mark.parametrize(("given", "expected"), [(200, 200), (201, 200), (10**9, 200), (1, 1), (0, 1), (-5, 1)])
def test_users_limit_is_clamped(given: int, expected: int) -> None:
    assert parse_request(frame("users", limit=given)).limit == expected


def test_send() -> None:
    assert parse_request(VALID["send"]) == Send(8, Address("room", "lobby"), "hi", "c1")


def test_send_to_a_user_lower_cases_the_name() -> None:
    req = parse_request(frame("send", to="@Bob"))
    assert isinstance(req, Send)
    assert req.to == Address("user", "bob")
    assert not req.to.is_room


def test_send_to_a_room_lower_cases_the_name() -> None:
    req = parse_request(frame("send", to="#Rust-Lang"))
    assert req.to == Address("room", "rust-lang")
    assert req.to.is_room


def test_send_cmid_is_optional() -> None:
    assert parse_request(frame("send", cmid=...)).cmid is None
    assert parse_request(frame("send", cmid=None)).cmid is None


def test_send_text_is_kept_verbatim() -> None:
    text = "  Hello\nWorld\t👋 "
    assert parse_request(frame("send", text=text)).text == text


def test_history() -> None:
    assert parse_request(VALID["history"]) == History(9, Address("user", "bob"), MID, 20)


def test_history_defaults() -> None:
    req = parse_request({"type": "history", "id": 1, "conv": "#lobby"})
    assert req == History(1, Address("room", "lobby"), None, limits.HISTORY_DEFAULT)
    assert limits.HISTORY_DEFAULT == 50


@pytest.mark.parametrize("limit", [1, 50, 200])
def test_history_limit_in_range(limit: int) -> None:
    assert parse_request(frame("history", limit=limit)).limit == limit


@pytest.mark.parametrize("limit", [0, 201, -1])
def test_history_limit_out_of_range(limit: int) -> None:
    assert code_of(frame("history", limit=limit)) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("before", ["abc", "", "1-", "-1", "1_2", "1-2-3", "1" * 21 + "-0"])
def test_history_before_must_be_a_mid(before: str) -> None:
    assert code_of(frame("history", before=before)) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "cls"), [("join", Join), ("leave", Leave)])
def test_join_and_leave(kind: str, cls: type[Request]) -> None:
    req = parse_request(VALID[kind])
    assert type(req) is cls
    assert req == cls(VALID[kind]["id"], "rust")


@pytest.mark.parametrize("kind", ["join", "leave"])
@pytest.mark.parametrize(
    ("raw", "name"), [("Rust", "rust"), ("#Room", "room"), ("#lobby", "lobby"), ("a_b-9", "a_b-9")]
)
def test_room_names_are_normalized(kind: str, raw: str, name: str) -> None:
    assert parse_request(frame(kind, room=raw)).room == name


@pytest.mark.parametrize("kind", ["join", "leave"])
@pytest.mark.parametrize("raw", ["", "#", "a b", "a.b", "room!", "x" * 33, "##room", "é", "@bob"])
def test_invalid_room_names(kind: str, raw: str) -> None:
    assert code_of(frame(kind, room=raw)) == ErrorCode.BAD_REQUEST


def test_room_name_of_32_characters_is_the_longest() -> None:
    assert parse_request(frame("join", room="r" * 32)).room == "r" * 32


def test_ack_notification() -> None:
    assert parse_request(VALID["ack"]) == Ack(None, Address("room", "lobby"), MID)


def test_typing_notification() -> None:
    assert parse_request(VALID["typing"]) == Typing(None, Address("user", "bob"))


def test_pong_notification() -> None:
    req = parse_request(VALID["pong"])
    assert req == Pong(None)


@pytest.mark.parametrize("kind", sorted(NOTIFICATION_TYPES & VALID.keys()))  # `read`: tests/protocol/test_features.py
def test_notifications_may_also_be_requests(kind: str) -> None:
    assert parse_request(frame(kind, id=42)).id == 42


def test_unknown_fields_are_ignored() -> None:
    req = parse_request(frame("send", future_field={"x": [1, b"raw"]}, priority=3))
    assert req == Send(8, Address("room", "lobby"), "hi", "c1")


# --- ids, types ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(set(VALID) - NOTIFICATION_TYPES))
def test_request_without_id_is_bad_request(kind: str) -> None:
    assert code_of(frame(kind, id=...)) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("bad_id", [0, -1, True, False, "1", 1.0, b"1", [1], None], ids=repr)
def test_invalid_ids_are_bad_request(bad_id: object) -> None:
    assert code_of(frame("who", id=bad_id)) == ErrorCode.BAD_REQUEST


def test_invalid_id_on_a_notification_is_bad_request() -> None:
    assert code_of(frame("pong", id=0)) == ErrorCode.BAD_REQUEST


def test_large_ids_are_fine() -> None:
    assert parse_request(frame("who", id=2**64 - 1)).id == 2**64 - 1


def test_request_id_helper() -> None:
    assert request_id({"id": 7}) == 7
    assert request_id({"id": True}) is None
    assert request_id({"id": 0}) is None
    assert request_id({}) is None


@pytest.mark.parametrize("kind", ["frobnicate", "ok", "message", "error", "presence", "HELLO", ""])
def test_unknown_type(kind: str) -> None:
    err = error_of({"type": kind, "id": 1})
    assert isinstance(err, UnknownType)
    assert err.code == ErrorCode.UNKNOWN_TYPE
    assert err.to_fields()["code"] == "unknown_type"


def test_unknown_type_wins_over_a_missing_id() -> None:
    assert isinstance(error_of({"type": "frobnicate"}), UnknownType)


@pytest.mark.parametrize("kind", [None, 1, b"hello", ["hello"], True], ids=repr)
def test_type_must_be_a_string(kind: object) -> None:
    err = error_of({"type": kind, "id": 1})
    assert not isinstance(err, UnknownType)
    assert err.code == ErrorCode.BAD_REQUEST


def test_missing_type_is_bad_request() -> None:
    assert code_of({"id": 1}) == ErrorCode.BAD_REQUEST


# --- missing and mistyped fields --------------------------------------------------------


@pytest.mark.parametrize(("kind", "key"), [(k, f) for k, fs in REQUIRED.items() for f in fs])
def test_missing_required_field(kind: str, key: str) -> None:
    assert code_of(frame(kind, **{key: ...})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), [(k, f) for k, fs in REQUIRED.items() for f in fs])
def test_nil_required_field(kind: str, key: str) -> None:
    assert code_of(frame(kind, **{key: None})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), FIELDS)
def test_binary_value_is_bad_request(kind: str, key: str) -> None:
    value = VALID[kind][key]
    raw = value.encode() if isinstance(value, str) else b"\x01"
    assert code_of(frame(kind, **{key: raw})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), FIELDS)
@pytest.mark.parametrize("wrong", [[], {}, 1.5], ids=["list", "map", "float"])
def test_wrong_container_or_float_is_bad_request(kind: str, key: str, wrong: object) -> None:
    assert code_of(frame(kind, **{key: wrong})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), [f for f in FIELDS if f not in INT_FIELDS])
def test_int_for_a_string_is_bad_request(kind: str, key: str) -> None:
    assert code_of(frame(kind, **{key: 5})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), sorted(INT_FIELDS))
@pytest.mark.parametrize("wrong", [True, False, "10"], ids=repr)
def test_bool_or_str_for_an_int_is_bad_request(kind: str, key: str, wrong: object) -> None:
    assert code_of(frame(kind, **{key: wrong})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), [f for f in FIELDS if f not in INT_FIELDS])
def test_bool_for_a_string_is_bad_request(kind: str, key: str) -> None:
    assert code_of(frame(kind, **{key: True})) == ErrorCode.BAD_REQUEST


def test_a_str_subclass_is_not_a_string_on_the_wire() -> None:
    # msgpack never produces one; a server must not be fooled by an in-process caller either.
    class Sneaky(str):
        pass

    assert code_of(frame("resume", token=Sneaky("t"))) == ErrorCode.BAD_REQUEST


# --- register: names and passwords --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "",
        "1abc",
        "_abc",
        ".abc",
        "-abc",
        "a" * 33,
        "al ice",
        "alice!",
        "al@ice",
        "ålice",
        "alic€",
        "ali\nce",
        "alice\n",
    ],
    ids=repr,
)
def test_register_invalid_username(name: str) -> None:
    err = error_of(frame("register", username=name))
    assert err.code == ErrorCode.INVALID_USERNAME


@pytest.mark.parametrize("name", ["ab", "a" * 32, "a1", "a_", "a.", "a-", "Zed", "x.y_z-0"])
def test_register_valid_username_edges(name: str) -> None:
    assert parse_request(frame("register", username=name)).username == name.lower()


def test_register_invalid_username_is_checked_before_the_password() -> None:
    assert code_of(frame("register", username="1", password="x")) == ErrorCode.INVALID_USERNAME


def test_register_mistyped_username_is_bad_request_not_invalid_username() -> None:
    assert code_of(frame("register", username=42)) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("length", [0, 1, 7, 1025, 5000])
def test_register_weak_password(length: int) -> None:
    assert code_of(frame("register", password="p" * length)) == ErrorCode.WEAK_PASSWORD


@pytest.mark.parametrize("length", [8, 9, 1023, 1024])
def test_register_password_length_boundaries(length: int) -> None:
    assert parse_request(frame("register", password="p" * length)).password == "p" * length


def test_password_length_counts_code_points() -> None:
    # Eight emoji are 32 bytes of UTF-8 but 8 characters: strong enough.
    assert parse_request(frame("register", password="🔑" * 8)).password == "🔑" * 8
    assert code_of(frame("register", password="🔑" * 7)) == ErrorCode.WEAK_PASSWORD
    assert parse_request(frame("register", password="é" * 1024)).password == "é" * 1024
    assert code_of(frame("register", password="é" * 1025)) == ErrorCode.WEAK_PASSWORD


def test_login_does_not_judge_password_strength() -> None:
    assert parse_request(frame("login", password="x")).password == "x"


@pytest.mark.parametrize("display", ["A", "Alice Smith", "d" * 64, "Zoë 🚀", "  padded  "])
def test_register_valid_display_names(display: str) -> None:
    assert parse_request(frame("register", display_name=display)).display_name == display


@pytest.mark.parametrize(
    "display", ["", "d" * 65, "bell\x07", "new\nline", "tab\t", "\x00", "del\x7f", "   "], ids=repr
)
def test_register_invalid_display_names(display: str) -> None:
    assert code_of(frame("register", display_name=display)) == ErrorCode.BAD_REQUEST


# --- send: text and cmid ---------------------------------------------------------------------


def test_text_of_exactly_max_text_is_accepted() -> None:
    text = "x" * limits.DEFAULT_MAX_TEXT
    assert parse_request(frame("send", text=text)).text == text


def test_text_over_max_text_is_too_large() -> None:
    err = error_of(frame("send", text="x" * (limits.DEFAULT_MAX_TEXT + 1)))
    assert err.code == ErrorCode.TOO_LARGE
    assert str(limits.DEFAULT_MAX_TEXT) in err.message


def test_max_text_default_is_4000() -> None:
    assert limits.DEFAULT_MAX_TEXT == 4_000


def test_text_limit_counts_code_points_not_bytes() -> None:
    emoji = "😀" * 10  # 40 bytes of UTF-8, 10 code points
    assert parse_request(frame("send", text=emoji), max_text=10).text == emoji
    assert code_of(frame("send", text=emoji + "x"), max_text=10) == ErrorCode.TOO_LARGE


def test_text_limit_counts_code_points_not_graphemes() -> None:
    family = "👨\u200d👩\u200d👧"  # one grapheme, five code points
    assert len(family) == 5
    assert parse_request(frame("send", text=family), max_text=5).text == family
    assert code_of(frame("send", text=family), max_text=4) == ErrorCode.TOO_LARGE


def test_max_text_is_a_parameter() -> None:
    assert code_of(frame("send", text="abc"), max_text=2) == ErrorCode.TOO_LARGE
    assert parse_request(frame("send", text="ab"), max_text=2).text == "ab"


def test_empty_text_is_bad_request() -> None:
    assert code_of(frame("send", text="")) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("length", [1, 2, 63, 64])
def test_cmid_lengths_accepted(length: int) -> None:
    assert parse_request(frame("send", cmid="c" * length)).cmid == "c" * length


@pytest.mark.parametrize("length", [0, 65, 200])
def test_cmid_lengths_refused(length: int) -> None:
    assert code_of(frame("send", cmid="c" * length)) == ErrorCode.BAD_REQUEST


def test_cmid_length_counts_code_points() -> None:
    assert parse_request(frame("send", cmid="é" * 64)).cmid == "é" * 64


# --- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("#lobby", "room", "lobby"),
        ("#a", "room", "a"),
        ("#0", "room", "0"),
        ("#" + "r" * 32, "room", "r" * 32),
        ("#Dev_Ops-2", "room", "dev_ops-2"),
        ("@bob", "user", "bob"),
        ("@BoB", "user", "bob"),
        ("@b.o_b-1", "user", "b.o_b-1"),
        ("@" + "u" * 32, "user", "u" * 32),
    ],
)
def test_valid_addresses(text: str, kind: str, name: str) -> None:
    address = Address.parse(text)
    assert address == Address(kind, name)  # type: ignore[arg-type]
    assert str(address) == text[0] + name
    assert address.is_room == (kind == "room")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "#",
        "@",
        "lobby",
        "bob",
        "#" + "r" * 33,
        "#a.b",
        "#a b",
        "@1bob",
        "@b",
        "@" + "u" * 33,
        "@bob!",
        "#@bob",
        "@#room",
        " #lobby",
        "#lobby ",
        "##lobby",
        "!room",
    ],
    ids=repr,
)
def test_invalid_addresses(text: str) -> None:
    with pytest.raises(RequestError) as exc:
        Address.parse(text)
    assert exc.value.code == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("kind", "key"), [("send", "to"), ("history", "conv"), ("ack", "conv"), ("typing", "to")])
@pytest.mark.parametrize("text", ["lobby", "#bad room", "@x", "@"])
def test_invalid_address_in_a_request(kind: str, key: str, text: str) -> None:
    assert code_of(frame(kind, **{key: text})) == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("upto", ["", "latest", "12", "1-2-3"])
def test_ack_upto_must_be_a_mid(upto: str) -> None:
    assert code_of(frame("ack", upto=upto)) == ErrorCode.BAD_REQUEST


# --- to_frame round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(VALID))
def test_to_frame_round_trips(kind: str) -> None:
    req = parse_request(VALID[kind])
    again = req.to_frame()
    assert again["type"] == kind
    assert parse_request(again) == req


@pytest.mark.parametrize(
    "req",
    [
        Hello(1, 1, "x"),
        Hello(1),
        Register(2, "bob", PASSWORD),
        Register(2, "bob", PASSWORD, "Bob"),
        Login(3, "bob", PASSWORD),
        Resume(4, "tok"),
        Logout(5),
        Who(6),
        Users(7),
        Users(7, "b", 200),
        Send(8, Address("user", "bob"), "hi"),
        Send(8, Address("room", "lobby"), "hi", "cm"),
        History(9, Address("room", "rust")),
        History(9, Address("user", "bob"), MID, 1),
        Join(10, "rust"),
        Leave(11, "rust"),
        Rooms(12),
        Ping(13),
        Ack(None, Address("user", "bob"), MID),
        Ack(14, Address("room", "lobby"), MID),
        Typing(None, Address("room", "lobby")),
        Pong(None),
    ],
    ids=repr,
)
def test_constructed_requests_round_trip(req: Request) -> None:
    assert parse_request(req.to_frame()) == req


def test_to_frame_shape() -> None:
    assert Send(8, Address("user", "bob"), "hi").to_frame() == {
        "type": "send",
        "id": 8,
        "to": "@bob",
        "text": "hi",
    }
    assert Typing(None, Address("room", "lobby")).to_frame() == {"type": "typing", "to": "#lobby"}
    assert Leave(1, "rust").to_frame() == {"type": "leave", "id": 1, "room": "rust"}
    assert History(2, Address("room", "a")).to_frame() == {"type": "history", "id": 2, "conv": "#a", "limit": 50}


def test_to_frame_is_wire_safe() -> None:
    for kind in VALID:
        req = parse_request(VALID[kind])
        (decoded,) = FrameDecoder().feed(encode_frame(req.to_frame()))
        assert parse_request(decoded) == req


def test_requests_are_frozen() -> None:
    req = parse_request(VALID["send"])
    with pytest.raises(AttributeError):
        req.text = "changed"  # type: ignore[misc]


# --- events (server -> client) ------------------------------------------------------------------


MESSAGE_EVENT = {
    "type": "message",
    "mid": MID,
    "conv": "@alice",
    "from": "alice",
    "text": "hi",
    "ts": 1_700_000_000_000,
    "cmid": None,
}


def test_message_event() -> None:
    event = parse_event(MESSAGE_EVENT)
    assert event == Message(MID, "@alice", "alice", "hi", 1_700_000_000_000, None)


def test_message_event_with_cmid_and_without() -> None:
    assert parse_event({**MESSAGE_EVENT, "cmid": "c1"}).cmid == "c1"  # type: ignore[union-attr]
    no_cmid = dict(MESSAGE_EVENT)
    del no_cmid["cmid"]
    assert parse_event(no_cmid).cmid is None  # type: ignore[union-attr]


def test_message_wire_round_trip() -> None:
    msg = Message(MID, "#lobby", "bob", "héllo", 5, "c9")
    assert msg.to_wire()["from"] == "bob"
    assert parse_event(msg.to_wire()) == msg
    assert Message.from_wire(msg.to_wire()) == msg


@pytest.mark.parametrize(
    "change",
    [
        {"ts": "5"},
        {"ts": True},
        {"ts": None},
        {"ts": 1.5},
        {"mid": 1},
        {"conv": None},
        {"from": b"x"},
        {"text": None},
        {"cmid": 3},
    ],
    ids=repr,
)
def test_malformed_message_event(change: dict[str, Any]) -> None:
    with pytest.raises(RequestError):
        parse_event({**MESSAGE_EVENT, **change})


def test_presence_event() -> None:
    event = parse_event({"type": "presence", "user": {"username": "bob", "display_name": "Bob"}, "online": True})
    assert event == PresenceEvent(User("bob", "Bob"), True)
    offline = parse_event({"type": "presence", "user": {"username": "bob", "display_name": "Bob"}, "online": False})
    assert isinstance(offline, PresenceEvent) and offline.online is False


def test_presence_online_must_be_true_exactly() -> None:
    event = parse_event({"type": "presence", "user": {"username": "bob"}, "online": 1})
    assert isinstance(event, PresenceEvent) and event.online is False


@pytest.mark.parametrize("user", [None, "bob", [], {"display_name": "Bob"}, {"username": 1}], ids=repr)
def test_presence_with_a_bad_user(user: object) -> None:
    with pytest.raises(RequestError):
        parse_event({"type": "presence", "user": user, "online": True})


def test_user_from_wire() -> None:
    assert User.from_wire({"username": "bob", "display_name": "Bob", "online": True}) == User("bob", "Bob", True)
    assert User.from_wire({"username": "bob"}) == User("bob", "bob", None)
    assert User.from_wire({"username": "bob", "display_name": "", "online": "yes"}) == User("bob", "bob", None)


def test_typing_event() -> None:
    assert parse_event({"type": "typing", "conv": "@alice", "from": "alice"}) == TypingEvent("@alice", "alice")


def test_typing_event_missing_from() -> None:
    with pytest.raises(RequestError):
        parse_event({"type": "typing", "conv": "#lobby"})


def test_member_event() -> None:
    event = parse_event(
        {"type": "member", "room": "rust", "user": {"username": "bob", "display_name": "B"}, "joined": True}
    )
    assert event == MemberEvent("rust", User("bob", "B"), True)
    left = parse_event({"type": "member", "room": "rust", "user": {"username": "bob"}, "joined": False})
    assert isinstance(left, MemberEvent) and left.joined is False


def test_member_event_missing_room() -> None:
    with pytest.raises(RequestError):
        parse_event({"type": "member", "user": {"username": "bob"}, "joined": True})


@pytest.mark.parametrize("reason", ["shutdown", "logout", "overflow", "idle"])
def test_bye_event(reason: str) -> None:
    assert parse_event({"type": "bye", "reason": reason}) == ByeEvent(reason)


def test_bye_without_reason() -> None:
    assert parse_event({"type": "bye"}) == ByeEvent("")


def test_error_event() -> None:
    assert parse_event({"type": "error", "code": "bad_request", "message": "no"}) == ErrorEvent("bad_request", "no")
    assert parse_event({"type": "error"}) == ErrorEvent("internal", "")


@pytest.mark.parametrize("kind", ["ping", "ok", "frobnicate", None, 5])
def test_unknown_or_ignored_event_is_none(kind: object) -> None:
    assert parse_event({"type": kind, "x": 1}) is None


def test_event_without_type_is_none() -> None:
    assert parse_event({}) is None


def test_events_ignore_unknown_fields() -> None:
    assert parse_event({**MESSAGE_EVENT, "edited": True, "reactions": []}) == parse_event(MESSAGE_EVENT)
