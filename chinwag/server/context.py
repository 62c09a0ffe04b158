"""What a request handler may use, and what it hands back.

A handler is `async (context, connection view, request) -> Reply`. The
`HandlerContext` holds exactly the node's collaborators a handler may reach
(it never sees the ChatServer); `SessionView` is the part of a connection it
may read or ask for; `Reply` is its answer: the `ok` fields, plus what the
connection runs after sending them (a replay, a `bye`) and a cursor write to
wait for before the next reply. Handlers set nothing on the connection to
pass work back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol import limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import Search
from .auth import LoginThrottle, PasswordService
from .hub import Hub, Peer
from .metrics import NO_METRICS, Metrics
from .presence import NodePresence
from .ratelimit import IntervalGate, TokenBucket
from .session import Outcome
from .settings import Settings
from .store import Store


@dataclass(slots=True)
class Counters:
    """This node's running totals, for the stats line."""

    accepted: int = 0  # messages stored by this node


@dataclass(frozen=True, slots=True, eq=False)
class HandlerContext:
    """The collaborators of the handlers, one per node."""

    settings: Settings
    store: Store
    hub: Hub
    presence: NodePresence
    throttle: LoginThrottle
    passwords: PasswordService
    counters: Counters
    typing_gate: IntervalGate[tuple[str, str]]  # one typing relay per sender and conversation per interval
    known_dms: set[str] = field(default_factory=set)  # direct conversations recorded for both users
    # The extensions this node offers in `hello` (the intersection with what a
    # client asks for is what it gets). `search` is added by whoever wires a
    # search index into the node (with `searcher`); without one a `search`
    # request is answered `unavailable` and the feature is not offered.
    features: set[str] = field(
        default_factory=lambda: {
            limits.FEATURE_MESSAGES,
            limits.FEATURE_READ,
            limits.FEATURE_ROOMS,
            limits.FEATURE_PEOPLE,
            limits.FEATURE_NOTIFY,
        }
    )
    searcher: Searcher | None = None
    metrics: Metrics = NO_METRICS  # --metrics: what the connections observe (NO_METRICS: nothing)

    def typing_allowed(self, name: str, cid: str) -> bool:
        """At most one typing relay every `limits.TYPING_INTERVAL_S` per
        sender and conversation, whichever of the sender's connections on
        this node it comes from."""
        return self.typing_gate.allow((name, cid))


class Searcher(Protocol):
    """A search index's answer to one `search` request (the `ok` fields),
    for the handler in changes.py to return; it raises RequestError for a
    bad page or `unavailable`."""

    async def __call__(self, ctx: HandlerContext, conn: SessionView, req: Search) -> Reply: ...


class SessionView(Peer, Protocol):
    """What handlers see of a connection: its identity and conversations,
    its rate buckets, and the few things they may ask of it."""

    @property
    def display_name(self) -> str: ...
    @property
    def peer_ip(self) -> str: ...
    @property
    def client(self) -> str:
        """The client's name from `hello` ("" if none), as its session is listed."""

    counted_online: bool
    send_bucket: TokenBucket
    typing_bucket: TokenBucket
    delivered_upto: dict[str, str]  # conv id -> the newest id an event sent named
    covered_upto: dict[str, str]  # conv id -> past that, what a login replay covered

    def apply(self, outcome: Outcome) -> None:
        """Hand the session an outcome (see session.py); it moves the state."""

    def begin_replay(self) -> None: ...
    async def end_replay(
        self, replay: list[bytes], replayed_upto: dict[str, str], sent_upto: dict[str, str] | None = None
    ) -> None: ...


AfterReply = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer: `fields` go into the `ok` (if the request has an
    id); `after` runs once it is sent; `cursor_write` is a cursor update in
    flight that must land before the connection's next reply."""

    fields: dict[str, Any] | None = None
    after: AfterReply | None = None
    cursor_write: Awaitable[Any] | None = None


NO_FIELDS = Reply()


Handler = Callable[[HandlerContext, SessionView, Any], Awaitable[Reply]]
"""A request handler: `async (context, connection view, request) -> Reply`."""


async def not_yet(ctx: HandlerContext, conn: SessionView, req: Any) -> Reply:
    """A request type the protocol layer knows and this server does not
    serve yet: `unknown_type`, as a server without it would answer."""
    raise RequestError(f"unknown message type '{req.TYPE}'", ErrorCode.UNKNOWN_TYPE)
