"""The session state machine on its own: no socket, no Redis.

The expected answers are PROTOCOL.md's "Session flow", restated here
independently of session.py's table, for every (state, request type) pair.
"""

from __future__ import annotations

import pytest

from chinwag.protocol.errors import ErrorCode
from chinwag.protocol.messages import REQUEST_TYPES
from chinwag.server.handlers import HANDLERS
from chinwag.server.session import (
    KIND_OF,
    Authenticated,
    Closed,
    Greeted,
    Session,
    SessionClosed,
    SessionError,
    State,
)

SIGN_IN = {"register", "login", "resume"}
DISPATCHED = sorted(set(REQUEST_TYPES) - {"pong"})  # pong is dropped before the session


def expected(state: State, kind: str) -> ErrorCode | None:
    """PROTOCOL.md: None if served, else the error code."""
    if state is State.CLOSED:
        return ErrorCode.BAD_REQUEST  # nothing is served after close
    if kind == "ping":
        return None
    if kind == "hello":
        return None if state is State.NEW else ErrorCode.BAD_REQUEST
    if state is State.NEW:
        return ErrorCode.BAD_REQUEST  # "before it, any other known request except ping"
    if kind in SIGN_IN:
        return ErrorCode.ALREADY_AUTHENTICATED if state is State.AUTHENTICATED else None
    return None if state is State.AUTHENTICATED else ErrorCode.NOT_AUTHENTICATED


def session_in(state: State) -> Session:
    """A session brought to `state` the only way there is: by outcomes."""
    session = Session()
    if state is not State.NEW:
        if state is State.CLOSED:
            session.apply(Closed())
            return session
        session.apply(Greeted())
    if state is State.AUTHENTICATED:
        session.apply(Authenticated("alice", "Alice", "tok"))
    assert session.state is state
    return session


@pytest.mark.parametrize("kind", DISPATCHED)
@pytest.mark.parametrize("state", list(State))
def test_every_state_and_request_type(state: State, kind: str) -> None:
    session = session_in(state)
    error = session.refusal(kind)
    want = expected(state, kind)
    if want is None:
        assert error is None, (state, kind, error)
        session.check(kind)  # does not raise
    else:
        assert error is not None and error.code == want, (state, kind, error)
        assert error.message
        with pytest.raises(type(error)):
            session.check(kind)
    assert session.state is state, "asking never changes the state"


def test_refusal_messages_name_what_to_do() -> None:
    assert "hello" in str(session_in(State.NEW).refusal("who"))
    assert "'who'" in str(session_in(State.READY).refusal("who"))
    assert "already" in str(session_in(State.AUTHENTICATED).refusal("login"))
    assert "already" in str(session_in(State.READY).refusal("hello"))


def test_an_unknown_type_gets_unknown_type_in_every_state() -> None:
    for state in State:
        error = session_in(state).refusal("teleport")
        assert error is not None and error.code == ErrorCode.UNKNOWN_TYPE


def test_the_table_covers_every_request_type_and_each_has_a_handler() -> None:
    assert sorted(KIND_OF) == DISPATCHED
    # send runs through send_begin/send_finish in batches; everything else by table
    assert sorted([*HANDLERS, "send"]) == DISPATCHED


def test_transitions_hello_then_login_then_close() -> None:
    session = Session()
    assert (session.state, session.username, session.token) == (State.NEW, "", None)
    session.apply(Greeted())
    assert session.state is State.READY and not session.authenticated
    session.apply(Authenticated("alice", "Alice A.", "t0k"))
    assert session.state is State.AUTHENTICATED and session.authenticated
    assert (session.username, session.display_name, session.token) == ("alice", "Alice A.", "t0k")
    session.apply(Closed())
    assert session.state is State.CLOSED and session.closed
    session.apply(Closed())  # closing twice (close, then connection_lost) is fine
    assert session.state is State.CLOSED


@pytest.mark.parametrize("state", [State.NEW, State.READY, State.AUTHENTICATED])
def test_close_from_any_open_state(state: State) -> None:
    session = session_in(state)
    session.apply(Closed())
    assert session.state is State.CLOSED


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (State.NEW, Authenticated("a", "a", "t")),  # login before hello
        (State.READY, Greeted()),  # hello twice
        (State.AUTHENTICATED, Greeted()),
        (State.AUTHENTICATED, Authenticated("b", "b", "u")),  # a second login on one session
    ],
)
def test_moves_the_table_does_not_have_are_refused(state: State, outcome: object) -> None:
    session = session_in(state)
    before = (session.username, session.token)
    with pytest.raises(SessionError):
        session.apply(outcome)  # type: ignore[arg-type]
    assert session.state is state and (session.username, session.token) == before


@pytest.mark.parametrize("outcome", [Greeted(), Authenticated("a", "a", "t")])
def test_an_outcome_after_close_is_dropped(outcome: object) -> None:
    """A client that leaves while its login is checked: the late outcome
    does not reopen the session."""
    session = session_in(State.CLOSED)
    with pytest.raises(SessionClosed):
        session.apply(outcome)  # type: ignore[arg-type]
    assert session.state is State.CLOSED and session.username == ""
