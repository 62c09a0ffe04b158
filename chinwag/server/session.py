"""The session state machine of one connection, as data, with no I/O.

After h11's `_state.py`: the rules of PROTOCOL.md's "Session flow" are two
tables, read by one small class. `ALLOWED` says, for each state and each
kind of request, whether it is served or which error refuses it;
`TRANSITIONS` says which outcome moves a session from which state to which.
The connection asks `Session.check` before running a handler, and handlers
never set the state: they hand the session an outcome (`Greeted`,
`Authenticated`) and `Session.apply` moves it, or refuses a move the table
does not have. Testable without a socket or Redis (tests/server/test_session_core.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import UnknownType


class State(enum.Enum):
    NEW = "new"  # waiting for hello
    READY = "ready"  # hello done, not authenticated
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


class Kind(enum.Enum):
    """Request types grouped by the states they are allowed in."""

    HELLO = "hello"
    ANYTIME = "anytime"  # ping
    SIGN_IN = "sign-in"  # register, login, resume
    SIGNED_IN = "signed-in"  # everything else: needs an authenticated session


KIND_OF: dict[str, Kind] = {
    "hello": Kind.HELLO,
    "ping": Kind.ANYTIME,
    "register": Kind.SIGN_IN,
    "login": Kind.SIGN_IN,
    "resume": Kind.SIGN_IN,
    **{
        kind: Kind.SIGNED_IN
        for kind in (
            "logout",
            "who",
            "users",
            "send",
            "history",
            "join",
            "leave",
            "rooms",
            "ack",
            "typing",
            "conversations",
            "edit",
            "delete",
            "react",
            "read",
            "search",
            "room_info",
            "topic",
            "invite",
            "kick",
            "ban",
            "role",
            "status",
            "block",
            "blocks",
            "profile",
            "password",
            "sessions",
            "revoke",
            "notify",
            "highlights",
            "notify_settings",
        )
    },
}
"""Every request type a session dispatches (`pong` never reaches it)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The error a request gets in a state that does not allow it."""

    code: ErrorCode
    message: str  # may name the request: {kind}

    def error(self, kind: str) -> RequestError:
        return RequestError(self.message.format(kind=kind), self.code)


HELLO_FIRST = Refusal(ErrorCode.BAD_REQUEST, "say hello first: the first request must be 'hello'")
HELLO_AGAIN = Refusal(ErrorCode.BAD_REQUEST, "hello was already said on this connection")
LOG_IN_FIRST = Refusal(ErrorCode.NOT_AUTHENTICATED, "log in before '{kind}'")
LOGGED_IN = Refusal(ErrorCode.ALREADY_AUTHENTICATED, "this connection is already logged in")
GONE = Refusal(ErrorCode.BAD_REQUEST, "this connection is closed")

ALLOWED: dict[State, dict[Kind, Refusal | None]] = {
    # None: served. A Refusal: answered with its error, the state unchanged.
    State.NEW: {Kind.HELLO: None, Kind.ANYTIME: None, Kind.SIGN_IN: HELLO_FIRST, Kind.SIGNED_IN: HELLO_FIRST},
    State.READY: {Kind.HELLO: HELLO_AGAIN, Kind.ANYTIME: None, Kind.SIGN_IN: None, Kind.SIGNED_IN: LOG_IN_FIRST},
    State.AUTHENTICATED: {Kind.HELLO: HELLO_AGAIN, Kind.ANYTIME: None, Kind.SIGN_IN: LOGGED_IN, Kind.SIGNED_IN: None},
    State.CLOSED: {Kind.HELLO: GONE, Kind.ANYTIME: GONE, Kind.SIGN_IN: GONE, Kind.SIGNED_IN: GONE},
}


# --- outcomes: what a handler hands the session -------------------------------


@dataclass(frozen=True, slots=True)
class Greeted:
    """`hello` succeeded, with these extensions in effect on the connection
    (PROTOCOL-EXTENSIONS.md, "Feature negotiation")."""

    features: frozenset[str] = frozenset()
    client: str = ""  # hello's `client`, cleaned: what `sessions` lists the session as


@dataclass(frozen=True, slots=True)
class Authenticated:
    """`login` or `resume` succeeded: the session is this user's, with this token."""

    username: str
    display_name: str
    token: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection closed (by either side)."""


Outcome = Greeted | Authenticated | Closed

TRANSITIONS: dict[tuple[State, type[Outcome]], State] = {
    (State.NEW, Greeted): State.READY,
    (State.READY, Authenticated): State.AUTHENTICATED,
    (State.NEW, Closed): State.CLOSED,
    (State.READY, Closed): State.CLOSED,
    (State.AUTHENTICATED, Closed): State.CLOSED,
    (State.CLOSED, Closed): State.CLOSED,
}


class SessionClosed(Exception):
    """An outcome arrived after the connection closed (the client left while
    its login was being checked): nothing more happens for it."""


class SessionError(Exception):
    """A transition the table does not have: a bug in the caller."""


class Session:
    """One connection's state and identity, moved only by `apply`."""

    __slots__ = ("client", "display_name", "features", "state", "token", "username")

    def __init__(self) -> None:
        self.state = State.NEW
        self.username = ""
        self.display_name = ""
        self.token: str | None = None
        self.features: frozenset[str] = frozenset()  # negotiated in hello; fixed for the connection
        self.client = ""  # the client's name from hello

    def refusal(self, kind: str) -> RequestError | None:
        """The error for a request of `kind` now, or None if it is served."""
        group = KIND_OF.get(kind)
        if group is None:
            return UnknownType(f"unknown message type '{kind}'")
        rule = ALLOWED[self.state][group]
        return None if rule is None else rule.error(kind)

    def check(self, kind: str) -> None:
        """Raise the protocol's error for a request of `kind` if it is not served now."""
        error = self.refusal(kind)
        if error is not None:
            raise error

    def apply(self, outcome: Outcome) -> None:
        """Move to the state the outcome leads to, taking its identity."""
        target = TRANSITIONS.get((self.state, type(outcome)))
        if target is None:
            if self.state is State.CLOSED:
                raise SessionClosed(f"{type(outcome).__name__} after the connection closed")
            raise SessionError(f"no transition from {self.state.name} on {type(outcome).__name__}")
        if isinstance(outcome, Authenticated):
            self.username, self.display_name, self.token = outcome.username, outcome.display_name, outcome.token
        elif isinstance(outcome, Greeted):
            self.features, self.client = outcome.features, outcome.client
        self.state = target

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def authenticated(self) -> bool:
        return self.state is State.AUTHENTICATED
