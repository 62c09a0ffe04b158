"""Typed protocol messages and their validation: the one place where a map
from the wire becomes an object, for requests (server side) and events
(client side). Everything here is pure and raises only `RequestError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from . import limits
from .address import Address as Address  # re-exported: the server imports it from here
from .address import bare_room
from .errors import ErrorCode, RequestError

Frame = dict[str, Any]


# --- field readers -----------------------------------------------------------


def _bad(message: str, code: ErrorCode = ErrorCode.BAD_REQUEST) -> RequestError:
    return RequestError(message, code)


def _str(frame: Frame, key: str, *, optional: bool = False) -> str | None:
    value = frame.get(key)
    if value is None:
        if optional:
            return None
        raise _bad(f"'{key}' is required and must be a string")
    if type(value) is not str:
        raise _bad(f"'{key}' must be a string")
    return value


def _req_str(frame: Frame, key: str) -> str:
    value = _str(frame, key)
    assert value is not None
    return value


def _int(frame: Frame, key: str, default: int, lo: int, hi: int, *, clamp: bool = False) -> int:
    value = frame.get(key)
    if value is None:
        return default
    if type(value) is not int:
        raise _bad(f"'{key}' must be an integer")
    if clamp:
        return max(lo, min(hi, value))
    if not lo <= value <= hi:
        raise _bad(f"'{key}' must be between {lo} and {hi}")
    return value


def request_id(frame: Frame) -> int | None:
    """The frame's `id` if it is a valid request id, else None."""
    value = frame.get("id")
    if type(value) is int and value > 0:
        return value
    return None


# --- names and addresses -------------------------------------------------------


def room_name(frame: Frame, key: str = "room") -> str:
    raw = _req_str(frame, key)
    name = limits.normalize_room(bare_room(raw))
    if name is None:
        raise _bad(f"'{raw}' is not a valid room name ({limits.ROOM_NAME_RULE})")
    return name


def _address(frame: Frame, key: str) -> Address:
    return Address.parse(_req_str(frame, key))


def _wire_address(frame: Frame, key: str) -> Address:
    """An address the server wrote (an event's `conv`): taken at its word."""
    try:
        return Address.of(_req_str(frame, key))
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _mid(frame: Frame, key: str, *, optional: bool = False) -> str | None:
    value = _str(frame, key, optional=optional)
    if value is not None and not limits.valid_mid(value):
        raise _bad(f"'{key}' is not a message id")
    return value


def _req_mid(frame: Frame, key: str) -> str:
    value = _mid(frame, key)
    assert value is not None
    return value


# --- client -> server ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """Base of every client frame; `id` is None for a notification."""

    TYPE: ClassVar[str] = ""
    id: int | None

    def to_frame(self) -> Frame:
        out: Frame = {"type": self.TYPE}
        if self.id is not None:
            out["id"] = self.id
        for f in fields(self):
            if f.name != "id":
                name = f.name
                value = getattr(self, name)
                if value is not None:
                    out[name] = str(value) if isinstance(value, Address) else value
        return out

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Request:
        return cls(req_id)


def _text(frame: Frame, max_text: int, key: str = "text") -> str:
    """A message's text: the one rule for `send` and `edit`."""
    text = _req_str(frame, key)
    if not text:
        raise _bad(f"'{key}' must not be empty")
    if len(text) > max_text:
        raise _bad(f"text has {len(text)} characters; the limit is {max_text}", ErrorCode.TOO_LARGE)
    return text


def _bool(frame: Frame, key: str) -> bool:
    value = frame.get(key)
    if type(value) is not bool:
        raise _bad(f"'{key}' is required and must be true or false")
    return value


def _timestamp(frame: Frame, key: str) -> int | None:
    value = frame.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise _bad(f"'{key}' must be a timestamp in milliseconds")
    return value


@dataclass(frozen=True, slots=True)
class Hello(Request):
    TYPE: ClassVar[str] = "hello"
    version: int = 1
    client: str | None = None
    # The extensions asked for (PROTOCOL-EXTENSIONS.md); None: none, and
    # `hello` goes on the wire exactly as in version 1.
    features: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Hello:
        version = frame.get("version")
        if type(version) is not int:
            raise _bad("'version' is required and must be an integer")
        raw = frame.get("features")
        features: tuple[str, ...] | None = None
        if raw is not None:
            if not isinstance(raw, list) or not all(type(f) is str for f in raw):
                raise _bad("'features' must be a list of strings")
            if len(raw) > limits.FEATURES_MAX:
                raise _bad(f"'features' lists at most {limits.FEATURES_MAX} names")
            features = tuple(dict.fromkeys(raw))
        return cls(req_id, version, _str(frame, "client", optional=True), features)

    def to_frame(self) -> Frame:
        out = Request.to_frame(self)
        if self.features is not None:
            out["features"] = list(self.features)
        return out


@dataclass(frozen=True, slots=True)
class Register(Request):
    TYPE: ClassVar[str] = "register"
    username: str = ""
    password: str = ""
    display_name: str | None = None

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Register:
        raw_name = _req_str(frame, "username")
        password = _req_str(frame, "password")
        display = _str(frame, "display_name", optional=True)
        name = limits.normalize_username(raw_name)
        if name is None:
            raise _bad(limits.username_problem(raw_name) or "invalid username", ErrorCode.INVALID_USERNAME)
        if (problem := limits.password_problem(password)) is not None:
            raise _bad(problem, ErrorCode.WEAK_PASSWORD)
        if display is not None and (problem := limits.display_name_problem(display)) is not None:
            raise _bad(problem)
        return cls(req_id, name, password, display)


@dataclass(frozen=True, slots=True)
class Login(Request):
    TYPE: ClassVar[str] = "login"
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Login:
        # A name that breaks the rules cannot exist: the server answers it as
        # it answers any unknown user, so `username` is kept as typed here.
        return cls(req_id, _req_str(frame, "username"), _req_str(frame, "password"))


@dataclass(frozen=True, slots=True)
class Resume(Request):
    TYPE: ClassVar[str] = "resume"
    token: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Resume:
        return cls(req_id, _req_str(frame, "token"))


@dataclass(frozen=True, slots=True)
class Logout(Request):
    TYPE: ClassVar[str] = "logout"


@dataclass(frozen=True, slots=True)
class Who(Request):
    TYPE: ClassVar[str] = "who"


@dataclass(frozen=True, slots=True)
class Rooms(Request):
    TYPE: ClassVar[str] = "rooms"


@dataclass(frozen=True, slots=True)
class Ping(Request):
    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class Conversations(Request):
    """Extension: the caller's conversations, newest activity first."""

    TYPE: ClassVar[str] = "conversations"


@dataclass(frozen=True, slots=True)
class Users(Request):
    TYPE: ClassVar[str] = "users"
    prefix: str | None = None
    limit: int = limits.USERS_DEFAULT

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Users:
        prefix = _str(frame, "prefix", optional=True)
        limit = _int(frame, "limit", limits.USERS_DEFAULT, 1, limits.USERS_MAX, clamp=True)
        return cls(req_id, prefix.lower() if prefix else None, limit)


@dataclass(frozen=True, slots=True)
class Send(Request):
    TYPE: ClassVar[str] = "send"
    to: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    text: str = ""
    cmid: str | None = None
    reply_to: str | None = None  # `messages`: the mid of a message of the same conversation

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Send:
        to = _address(frame, "to")
        text = _text(frame, max_text)
        cmid = _str(frame, "cmid", optional=True)
        if cmid is not None and not 1 <= len(cmid) <= limits.CMID_MAX:
            raise _bad(f"'cmid' has 1 to {limits.CMID_MAX} characters")
        return cls(req_id, to, text, cmid, _mid(frame, "reply_to", optional=True))


@dataclass(frozen=True, slots=True)
class History(Request):
    TYPE: ClassVar[str] = "history"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    before: str | None = None
    limit: int = limits.HISTORY_DEFAULT

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> History:
        return cls(
            req_id,
            _address(frame, "conv"),
            _mid(frame, "before", optional=True),
            _int(frame, "limit", limits.HISTORY_DEFAULT, 1, limits.HISTORY_MAX),
        )


@dataclass(frozen=True, slots=True)
class Join(Request):
    TYPE: ClassVar[str] = "join"
    room: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Join:
        return cls(req_id, room_name(frame))


@dataclass(frozen=True, slots=True)
class Leave(Join):
    TYPE: ClassVar[str] = "leave"


@dataclass(frozen=True, slots=True)
class Ack(Request):
    TYPE: ClassVar[str] = "ack"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    upto: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Ack:
        upto = _req_mid(frame, "upto")
        return cls(req_id, _address(frame, "conv"), upto)


@dataclass(frozen=True, slots=True)
class Typing(Request):
    TYPE: ClassVar[str] = "typing"
    to: Address = field(default_factory=lambda: Address("room", limits.LOBBY))

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Typing:
        return cls(req_id, _address(frame, "to"))


@dataclass(frozen=True, slots=True)
class Pong(Request):
    TYPE: ClassVar[str] = "pong"


# --- `messages`, `read`, `search` (PROTOCOL-EXTENSIONS.md) ---------------------------


@dataclass(frozen=True, slots=True)
class Edit(Request):
    TYPE: ClassVar[str] = "edit"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    mid: str = ""
    text: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Edit:
        mid = _req_mid(frame, "mid")
        return cls(req_id, _address(frame, "conv"), mid, _text(frame, max_text))


@dataclass(frozen=True, slots=True)
class Delete(Request):
    TYPE: ClassVar[str] = "delete"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    mid: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Delete:
        mid = _req_mid(frame, "mid")
        return cls(req_id, _address(frame, "conv"), mid)


@dataclass(frozen=True, slots=True)
class React(Request):
    TYPE: ClassVar[str] = "react"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    mid: str = ""
    emoji: str = ""
    on: bool = True

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> React:
        mid = _req_mid(frame, "mid")
        emoji = _req_str(frame, "emoji")
        if (problem := limits.emoji_problem(emoji)) is not None:
            raise _bad(problem)
        return cls(req_id, _address(frame, "conv"), mid, emoji, _bool(frame, "on"))


@dataclass(frozen=True, slots=True)
class Read(Request):
    """Move the read marker (a notification, or a request with an `id`)."""

    TYPE: ClassVar[str] = "read"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    upto: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Read:
        upto = _req_mid(frame, "upto")
        return cls(req_id, _address(frame, "conv"), upto)


@dataclass(frozen=True, slots=True)
class Search(Request):
    TYPE: ClassVar[str] = "search"
    query: str = ""
    conv: Address | None = None
    sender: str | None = None  # the wire's `from`
    before: int | None = None
    after: int | None = None
    limit: int = limits.SEARCH_DEFAULT
    page: str | None = None

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Search:
        query = _req_str(frame, "query")
        if not query.strip():
            raise _bad("'query' must not be empty")
        if len(query) > limits.SEARCH_QUERY_MAX:
            raise _bad(f"'query' has at most {limits.SEARCH_QUERY_MAX} characters")
        conv = _address(frame, "conv") if frame.get("conv") is not None else None
        sender = _str(frame, "from", optional=True)
        if sender is not None:
            sender = limits.normalize_username(sender) or sender.lower()
        page = _str(frame, "page", optional=True)
        if page is not None and not 1 <= len(page) <= limits.SEARCH_PAGE_MAX:
            raise _bad("'page' is not a page of this search")
        return cls(
            req_id,
            query,
            conv,
            sender,
            _timestamp(frame, "before"),
            _timestamp(frame, "after"),
            _int(frame, "limit", limits.SEARCH_DEFAULT, 1, limits.SEARCH_MAX),
            page,
        )

    def to_frame(self) -> Frame:
        out = Request.to_frame(self)
        if "sender" in out:
            out["from"] = out.pop("sender")
        return out


REQUEST_TYPES: dict[str, type[Request]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Register,
        Login,
        Resume,
        Logout,
        Who,
        Users,
        Send,
        History,
        Join,
        Leave,
        Rooms,
        Ping,
        Ack,
        Typing,
        Pong,
        Conversations,
        Edit,
        Delete,
        React,
        Read,
        Search,
    )
}
NOTIFICATION_TYPES = frozenset({"typing", "ack", "pong", "read"})


class UnknownType(RequestError):
    code = ErrorCode.UNKNOWN_TYPE


def parse_request(frame: Frame, max_text: int = limits.DEFAULT_MAX_TEXT) -> Request:
    """Validate a client frame into its typed request.

    Raises `UnknownType` for a type nobody defined and `RequestError` for
    everything else; the caller answers with the error's code, keeping the
    connection.
    """
    kind = frame.get("type")
    if type(kind) is not str:
        raise _bad("every frame needs a string field 'type'")
    cls = REQUEST_TYPES.get(kind)
    if cls is None:
        raise UnknownType(f"unknown message type '{kind}'")
    req_id = request_id(frame)
    if req_id is None:
        if "id" in frame:
            raise _bad("'id' must be a positive integer")
        if kind not in NOTIFICATION_TYPES:
            raise _bad(f"'{kind}' is a request and needs a positive integer 'id'")
    return cls.parse(frame, req_id, max_text)


# --- server -> client ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    online: bool | None = None

    @classmethod
    def from_wire(cls, data: Any) -> User:
        if not isinstance(data, dict):
            raise _bad("a user must be a map")
        online = data.get("online")
        return cls(
            _req_str(data, "username"),
            _str(data, "display_name", optional=True) or _req_str(data, "username"),
            online if type(online) is bool else None,
        )


Reactions = dict[str, tuple[str, ...]]  # emoji -> usernames, in the order they reacted


def _reactions(data: Frame) -> Reactions:
    """A message's `reactions`, taken leniently: an entry that is not
    emoji -> list of names is left out, not fatal."""
    raw = data.get("reactions")
    if not isinstance(raw, dict):
        return {}
    out: Reactions = {}
    for emoji, users in raw.items():
        if type(emoji) is str and isinstance(users, list):
            names = tuple(u for u in users if type(u) is str)
            if names:
                out[emoji] = names
    return out


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message as a receiver sees it; `conv` is the receiver's address.
    The last four fields are the `messages` feature's (their defaults on a
    connection without it): a deleted message has `deleted` and text ""."""

    mid: str
    conv: Address
    sender: str
    text: str
    ts: int
    cmid: str | None = None
    reply_to: str | None = None
    edited: int | None = None
    deleted: bool = False
    reactions: Reactions = field(default_factory=dict)

    def to_wire(self) -> Frame:
        return {
            "type": "message",
            "mid": self.mid,
            "conv": self.conv,
            "from": self.sender,
            "text": self.text,
            "ts": self.ts,
            "cmid": self.cmid,
        }

    @classmethod
    def from_wire(cls, data: Frame) -> Message:
        ts = data.get("ts")
        if type(ts) is not int:
            raise _bad("'ts' must be an integer")
        edited = data.get("edited")
        reply_to = data.get("reply_to")
        return cls(
            _req_str(data, "mid"),
            _wire_address(data, "conv"),
            _req_str(data, "from"),
            _req_str(data, "text"),
            ts,
            _str(data, "cmid", optional=True),
            reply_to if type(reply_to) is str else None,
            edited if type(edited) is int else None,
            data.get("deleted") is True,
            _reactions(data),
        )


@dataclass(frozen=True, slots=True)
class EditedEvent:
    """`messages`: a message's new text. `id` is the change's place in the
    conversation's order, acknowledged like a mid."""

    conv: Address
    mid: str
    text: str
    edited: int
    id: str


@dataclass(frozen=True, slots=True)
class DeletedEvent:
    conv: Address
    mid: str
    by: str
    id: str


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    conv: Address
    mid: str
    emoji: str
    sender: str  # the wire's `from`
    on: bool
    id: str


ChangeEvent = EditedEvent | DeletedEvent | ReactionEvent


@dataclass(frozen=True, slots=True)
class ReadEvent:
    """`read`: the user's read marker moved on another of their connections."""

    conv: Address
    upto: str


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    user: User
    online: bool


@dataclass(frozen=True, slots=True)
class TypingEvent:
    conv: Address
    sender: str


@dataclass(frozen=True, slots=True)
class MemberEvent:
    room: str
    user: User
    joined: bool


@dataclass(frozen=True, slots=True)
class ByeEvent:
    reason: str


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An `error` that answers no request (a bad notification, a bad frame)."""

    code: str
    message: str


Event = (
    Message
    | PresenceEvent
    | TypingEvent
    | MemberEvent
    | ByeEvent
    | ErrorEvent
    | EditedEvent
    | DeletedEvent
    | ReactionEvent
    | ReadEvent
)


def _parse_change(kind: str, frame: Frame) -> Event | None:
    conv, mid = _wire_address(frame, "conv"), _req_str(frame, "mid")
    if kind == "edited":
        edited = frame.get("edited")
        if type(edited) is not int:
            raise _bad("'edited' must be an integer")
        return EditedEvent(conv, mid, _req_str(frame, "text"), edited, _req_mid(frame, "id"))
    if kind == "deleted":
        return DeletedEvent(conv, mid, _str(frame, "by", optional=True) or "", _req_mid(frame, "id"))
    if kind == "reaction":
        return ReactionEvent(
            conv, mid, _req_str(frame, "emoji"), _req_str(frame, "from"), frame.get("on") is True, _req_mid(frame, "id")
        )
    return None


def parse_event(frame: Frame) -> Event | None:
    """A server event as an object; None for event types this client ignores."""
    kind = frame.get("type")
    if kind == "message":
        return Message.from_wire(frame)
    if kind == "presence":
        return PresenceEvent(User.from_wire(frame.get("user")), frame.get("online") is True)
    if kind == "typing":
        return TypingEvent(_wire_address(frame, "conv"), _req_str(frame, "from"))
    if kind == "member":
        return MemberEvent(_req_str(frame, "room"), User.from_wire(frame.get("user")), frame.get("joined") is True)
    if kind == "bye":
        return ByeEvent(_str(frame, "reason", optional=True) or "")
    if kind == "error":
        return ErrorEvent(_str(frame, "code", optional=True) or "internal", _str(frame, "message", optional=True) or "")
    if kind in ("edited", "deleted", "reaction"):
        return _parse_change(kind, frame)
    if kind == "read":
        return ReadEvent(_wire_address(frame, "conv"), _req_mid(frame, "upto"))
    return None
