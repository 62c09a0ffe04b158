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


def _line(frame: Frame, key: str, most: int) -> str | None:
    """An optional one-line text shown to other people (a topic, a status,
    a reason): `limits.line_problem`'s rule."""
    value = _str(frame, key, optional=True)
    if value is not None and (problem := limits.line_problem(key, value, most)) is not None:
        raise _bad(problem, ErrorCode.TOO_LARGE if len(value) > most else ErrorCode.BAD_REQUEST)
    return value


def _username(frame: Frame, key: str = "user") -> str:
    """A username naming another user: canonical, or `bad_request` saying why
    (whether such a user exists is the server's question: `no_such_user`)."""
    raw = _req_str(frame, key)
    name = limits.normalize_username(raw)
    if name is None:
        raise _bad(f"'{raw}' is not a username ({limits.USERNAME_RULE})")
    return name


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
    invite: str | None = None  # a registration invitation code, where the server needs one

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Register:
        raw_name = _req_str(frame, "username")
        password = _req_str(frame, "password")
        display = _str(frame, "display_name", optional=True)
        invite = _str(frame, "invite", optional=True)
        name = limits.normalize_username(raw_name)
        if name is None:
            raise _bad(limits.username_problem(raw_name) or "invalid username", ErrorCode.INVALID_USERNAME)
        _password(password)
        if display is not None and (problem := limits.display_name_problem(display)) is not None:
            raise _bad(problem)
        if invite is not None and len(invite) > limits.INVITE_CODE_MAX:
            raise _bad(f"'invite' has at most {limits.INVITE_CODE_MAX} characters")
        return cls(req_id, name, password, display, invite or None)


def _password(password: str) -> str:
    """The one rule for a new password (`register`, `password`)."""
    if (problem := limits.password_problem(password)) is not None:
        raise _bad(problem, ErrorCode.WEAK_PASSWORD)
    return password


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
    # `rooms`: used only when this join creates the room
    private: bool | None = None
    topic: str | None = None

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Join:
        private = frame.get("private")
        if private is not None and type(private) is not bool:
            raise _bad("'private' must be true or false")
        return cls(req_id, room_name(frame), private, _line(frame, "topic", limits.TOPIC_MAX))


@dataclass(frozen=True, slots=True)
class RoomRequest(Request):
    """A request that names a room and nothing else."""

    room: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> RoomRequest:
        return cls(req_id, room_name(frame))


@dataclass(frozen=True, slots=True)
class Leave(RoomRequest):
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


# --- `rooms` (PROTOCOL-EXTENSIONS.md) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomInfoRequest(RoomRequest):
    TYPE: ClassVar[str] = "room_info"


@dataclass(frozen=True, slots=True)
class SetTopic(Request):
    TYPE: ClassVar[str] = "topic"
    room: str = ""
    topic: str = ""  # "" clears it

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> SetTopic:
        room = room_name(frame)
        _req_str(frame, "topic")
        return cls(req_id, room, _line(frame, "topic", limits.TOPIC_MAX) or "")


@dataclass(frozen=True, slots=True)
class Invite(Request):
    TYPE: ClassVar[str] = "invite"
    room: str = ""
    user: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Invite:
        return cls(req_id, room_name(frame), _username(frame))


@dataclass(frozen=True, slots=True)
class Kick(Request):
    TYPE: ClassVar[str] = "kick"
    room: str = ""
    user: str = ""
    reason: str | None = None

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Kick:
        return cls(req_id, room_name(frame), _username(frame), _line(frame, "reason", limits.REASON_MAX) or None)


@dataclass(frozen=True, slots=True)
class Ban(Request):
    TYPE: ClassVar[str] = "ban"
    room: str = ""
    user: str = ""
    on: bool = True  # false: lift the ban
    reason: str | None = None

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Ban:
        room, user = room_name(frame), _username(frame)
        return cls(req_id, room, user, _bool(frame, "on"), _line(frame, "reason", limits.REASON_MAX) or None)


@dataclass(frozen=True, slots=True)
class SetRole(Request):
    TYPE: ClassVar[str] = "role"
    room: str = ""
    user: str = ""
    role: str = limits.ROLE_MEMBER

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> SetRole:
        room, user = room_name(frame), _username(frame)
        role = _req_str(frame, "role")
        if role not in limits.ROLES:
            raise _bad(f"'role' must be one of {', '.join(limits.ROLES)}")
        return cls(req_id, room, user, role)


# --- `people` (PROTOCOL-EXTENSIONS.md) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetStatus(Request):
    TYPE: ClassVar[str] = "status"
    away: bool = False
    text: str | None = None  # None or "": no status text

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> SetStatus:
        return cls(req_id, _bool(frame, "away"), _line(frame, "text", limits.STATUS_MAX))


@dataclass(frozen=True, slots=True)
class Block(Request):
    TYPE: ClassVar[str] = "block"
    user: str = ""
    on: bool = True

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Block:
        return cls(req_id, _username(frame), _bool(frame, "on"))


@dataclass(frozen=True, slots=True)
class Blocks(Request):
    TYPE: ClassVar[str] = "blocks"


@dataclass(frozen=True, slots=True)
class Profile(Request):
    TYPE: ClassVar[str] = "profile"
    display_name: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Profile:
        display = _req_str(frame, "display_name")
        if (problem := limits.display_name_problem(display)) is not None:
            raise _bad(problem)
        return cls(req_id, display)


@dataclass(frozen=True, slots=True)
class Password(Request):
    TYPE: ClassVar[str] = "password"
    old: str = ""
    new: str = ""
    revoke_others: bool = True

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Password:
        old = _req_str(frame, "old")
        new = _password(_req_str(frame, "new"))
        revoke = frame.get("revoke_others", True)
        if type(revoke) is not bool:
            raise _bad("'revoke_others' must be true or false")
        return cls(req_id, old, new, revoke)


@dataclass(frozen=True, slots=True)
class Sessions(Request):
    TYPE: ClassVar[str] = "sessions"


@dataclass(frozen=True, slots=True)
class Revoke(Request):
    TYPE: ClassVar[str] = "revoke"
    session: str = ""

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> Revoke:
        session = _req_str(frame, "session")
        if not 1 <= len(session) <= limits.SESSION_ID_MAX:
            raise _bad(f"'session' is an id from 'sessions' (1 to {limits.SESSION_ID_MAX} characters)")
        return cls(req_id, session)


# --- `notify`: chinwag's notification settings (docs/protocol.md) -----------------------


@dataclass(frozen=True, slots=True)
class SetNotify(Request):
    TYPE: ClassVar[str] = "notify"
    conv: Address = field(default_factory=lambda: Address("room", limits.LOBBY))
    level: str | None = None  # None: back to the default for its kind

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> SetNotify:
        conv = _address(frame, "conv")
        level = _str(frame, "level", optional=True)
        if level is not None and level not in limits.NOTIFY_LEVELS:
            raise _bad(f"'level' must be one of {', '.join(limits.NOTIFY_LEVELS)}, or nil for the default")
        return cls(req_id, conv, level)


@dataclass(frozen=True, slots=True)
class SetHighlights(Request):
    TYPE: ClassVar[str] = "highlights"
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, frame: Frame, req_id: int | None, max_text: int) -> SetHighlights:
        raw = frame.get("words")
        if not isinstance(raw, list) or any(type(w) is not str for w in raw):
            raise _bad("'words' must be a list of strings")
        words: dict[str, str] = {}  # case-insensitively once, in the order given
        for word in raw:
            if (problem := limits.highlight_problem(word)) is not None:
                raise _bad(problem)
            words.setdefault(word.strip().casefold(), word.strip())
        if len(words) > limits.HIGHLIGHTS_MAX:
            raise _bad(f"at most {limits.HIGHLIGHTS_MAX} highlight keywords", ErrorCode.TOO_LARGE)
        return cls(req_id, tuple(words.values()))

    def to_frame(self) -> Frame:
        out = Request.to_frame(self)
        out["words"] = list(self.words)
        return out


@dataclass(frozen=True, slots=True)
class GetNotify(Request):
    TYPE: ClassVar[str] = "notify_settings"


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
        RoomInfoRequest,
        SetTopic,
        Invite,
        Kick,
        Ban,
        SetRole,
        SetStatus,
        Block,
        Blocks,
        Profile,
        Password,
        Sessions,
        Revoke,
        SetNotify,
        SetHighlights,
        GetNotify,
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
    # `people`: None where the server did not say (a connection without it)
    away: bool | None = None
    status: str | None = None

    @classmethod
    def from_wire(cls, data: Any) -> User:
        if not isinstance(data, dict):
            raise _bad("a user must be a map")
        return cls(
            _req_str(data, "username"),
            _str(data, "display_name", optional=True) or _req_str(data, "username"),
            _opt_bool(data, "online"),
            _opt_bool(data, "away"),
            _opt_text(data, "status"),
        )


def _opt_bool(data: Frame, key: str) -> bool | None:
    """A boolean the server may leave out: anything else is None."""
    value = data.get(key)
    return value if type(value) is bool else None


def _opt_text(data: Frame, key: str) -> str | None:
    """A string the server may leave out (or send nil): anything else is None."""
    value = data.get(key)
    return value if type(value) is str else None


@dataclass(frozen=True, slots=True)
class Room:
    """The `rooms` room object (in `join`, `rooms`, `room_info` and the
    `room` event). Without `rooms`, a server sends only name and members
    (and `joined` in `rooms`): the rest is then None/False."""

    name: str
    members: int = 0
    topic: str | None = None
    private: bool = False
    role: str | None = None  # the caller's own; None if not a member
    joined: bool | None = None  # only in `rooms` listings

    @classmethod
    def from_wire(cls, data: Any) -> Room:
        if not isinstance(data, dict):
            raise _bad("a room must be a map")
        members = data.get("members")
        role = _opt_text(data, "role")
        return cls(
            _req_str(data, "name"),
            members if type(members) is int else 0,
            _opt_text(data, "topic") or None,
            data.get("private") is True,
            role if role in limits.ROLES else None,
            _opt_bool(data, "joined"),
        )


@dataclass(frozen=True, slots=True)
class RoomMember:
    """One entry of `room_info`'s `members`."""

    user: str
    display_name: str
    role: str
    online: bool
    away: bool | None = None
    status: str | None = None

    @classmethod
    def from_wire(cls, data: Any) -> RoomMember:
        if not isinstance(data, dict):
            raise _bad("a member must be a map")
        name = _req_str(data, "user")
        role = _opt_text(data, "role")
        return cls(
            name,
            _opt_text(data, "display_name") or name,
            role if role in limits.ROLES else limits.ROLE_MEMBER,
            data.get("online") is True,
            _opt_bool(data, "away"),
            _opt_text(data, "status"),
        )


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """`room_info`'s answer; `more`: the member list was cut to fit a frame."""

    room: Room
    members: tuple[RoomMember, ...]
    more: bool = False

    @classmethod
    def from_reply(cls, reply: Frame) -> RoomInfo:
        raw = reply.get("members")
        members = tuple(RoomMember.from_wire(m) for m in raw) if isinstance(raw, list) else ()
        return cls(Room.from_wire(reply.get("room")), members, reply.get("more") is True)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One entry of `sessions`: a logged-in device. `id` is not a token."""

    id: str
    client: str
    created: int  # ms
    last_used: int  # ms
    current: bool

    @classmethod
    def from_wire(cls, data: Any) -> SessionInfo:
        if not isinstance(data, dict):
            raise _bad("a session must be a map")
        created, last_used = data.get("created"), data.get("last_used")
        return cls(
            _req_str(data, "id"),
            _opt_text(data, "client") or "",
            created if type(created) is int else 0,
            last_used if type(last_used) is int else 0,
            data.get("current") is True,
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
        values = (
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
        if cls is not Message:
            return cls(*values)
        return _new_message(*values)


_new_object = object.__new__
# Message's slot descriptors in field order (the unpacking fails at import if
# a field is added or removed without this line following)
(_m_mid, _m_conv, _m_sender, _m_text, _m_ts, _m_cmid, _m_reply_to, _m_edited, _m_deleted, _m_reactions) = (
    getattr(Message, f.name).__set__ for f in fields(Message)
)


def _new_message(
    mid: str,
    conv: Address,
    sender: str,
    text: str,
    ts: int,
    cmid: str | None,
    reply_to: str | None,
    edited: int | None,
    deleted: bool,
    reactions: Reactions,
) -> Message:
    """`Message(...)` at a seventh of the cost: the fields set through their
    slots, not through the frozen dataclass's `__init__` (an
    `object.__setattr__` per field). The object is the same, and as frozen;
    a client decodes thousands of these in a history catch-up."""
    msg: Message = _new_object(Message)
    _m_mid(msg, mid)
    _m_conv(msg, conv)
    _m_sender(msg, sender)
    _m_text(msg, text)
    _m_ts(msg, ts)
    _m_cmid(msg, cmid)
    _m_reply_to(msg, reply_to)
    _m_edited(msg, edited)
    _m_deleted(msg, deleted)
    _m_reactions(msg, reactions)
    return msg


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
    # `rooms`: the member's role; who kicked or banned them (None: they acted
    # themself) and why
    role: str | None = None
    by: str | None = None
    reason: str | None = None
    banned: bool = False  # chinwag's: the removal was a ban (the user cannot join again until it is lifted)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """`notify`: the user's notification levels (address -> level, only
    where set) and highlight keywords; the answer to `notify_settings` and
    the `notify_settings` event a change sends to the user's other devices."""

    levels: dict[str, str]
    words: tuple[str, ...]

    @classmethod
    def from_wire(cls, data: Frame) -> NotifySettings:
        raw, words = data.get("levels"), data.get("words")
        levels = (
            {c: v for c, v in raw.items() if type(c) is str and v in limits.NOTIFY_LEVELS}
            if isinstance(raw, dict)
            else {}
        )
        return cls(levels, tuple(w for w in words if type(w) is str) if isinstance(words, list) else ())

    def level(self, conv: str) -> str:
        """The level in effect for `conv`: its own, else its kind's default."""
        default = limits.NOTIFY_MENTIONS if conv.startswith("#") else limits.NOTIFY_ALL
        return self.levels.get(conv, default)


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """`rooms`: a room's topic or privacy changed (the caller's view of it)."""

    room: Room


@dataclass(frozen=True, slots=True)
class InvitedEvent:
    """`rooms`: `by` invited you to `room`."""

    room: str
    by: str


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
    | RoomEvent
    | InvitedEvent
    | NotifySettings
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
        role = _opt_text(frame, "role")
        return MemberEvent(
            _req_str(frame, "room"),
            User.from_wire(frame.get("user")),
            frame.get("joined") is True,
            role if role in limits.ROLES else None,
            _opt_text(frame, "by"),
            _opt_text(frame, "reason"),
            frame.get("banned") is True,
        )
    if kind == "notify_settings":
        return NotifySettings.from_wire(frame)
    if kind == "room":
        return RoomEvent(Room.from_wire(frame.get("room")))
    if kind == "invited":
        return InvitedEvent(_req_str(frame, "room"), _req_str(frame, "by"))
    if kind == "bye":
        return ByeEvent(_str(frame, "reason", optional=True) or "")
    if kind == "error":
        return ErrorEvent(_str(frame, "code", optional=True) or "internal", _str(frame, "message", optional=True) or "")
    if kind in ("edited", "deleted", "reaction"):
        return _parse_change(kind, frame)
    if kind == "read":
        return ReadEvent(_wire_address(frame, "conv"), _req_mid(frame, "upto"))
    return None
