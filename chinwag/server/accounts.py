"""Accounts: the registration policy and invitation codes (used by
handlers.register), disabled accounts (handlers.login and resume), and the
`people` feature's account requests: the password change, the sessions
list and revoke. Its handlers join the dispatch table through `HANDLERS`.

A session is one login: its token, and an entry in the user's session
index (Store.sessions) listed by an id derived from the token one way, so
an id gives no access. Revoking one deletes its token and ends the
connections that authenticated with it on every node (`bye revoked`, the
bus's "v"); a disabled account's connections end the same way (`bye
disabled`, "d"), whether a node or chinwag-admin disabled it.
"""

from __future__ import annotations

from typing import Any

import msgpack

from ..protocol import limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import Password, Revoke, Sessions
from .auth import ServerBusy
from .context import Handler, HandlerContext, Reply, SessionView
from .store import InviteStatus, session_id

DISABLED = "this account is disabled"
CLOSED = "registration is closed on this server"
NEEDS_INVITE = "registration needs an invitation code; ask an admin"
_INVITE_PROBLEM = {
    InviteStatus.UNKNOWN: "registration needs an invitation code; ask an admin (this code is not one)",
    InviteStatus.EXPIRED: "registration needs an invitation code; ask an admin for a new one (this one has expired)",
    InviteStatus.USED_UP: "registration needs an invitation code; ask an admin for a new one (this one is used up)",
}
CLIENT_NAME_MAX = 64  # characters of hello's `client` kept for `sessions`
WRONG_OLD = "the old password is wrong"
BUSY = "the server is busy checking passwords; try again in 1 s"


def client_name(raw: str | None) -> str:
    """Hello's `client` as `sessions` lists it: printable characters only,
    at most CLIENT_NAME_MAX of them (it is the client's word, and it is shown
    to the user and the operator)."""
    if not raw:
        return ""
    return "".join(c for c in raw if c.isprintable())[:CLIENT_NAME_MAX].strip()


# --- registration policy ---------------------------------------------------------------


def check_registration(policy: str, invite: str | None) -> str | None:
    """What `register` may go on with under `policy` (Settings.registration):
    the invitation code to take a use of (None: none needed), or the
    `forbidden` error. With open registration a code is ignored."""
    if policy == "closed":
        raise RequestError(CLOSED, ErrorCode.FORBIDDEN)
    if policy != "invite":
        return None
    if not invite:
        raise RequestError(NEEDS_INVITE, ErrorCode.FORBIDDEN)
    return invite


async def take_invite(ctx: HandlerContext, code: str) -> None:
    """Take one use of the code (atomically), or refuse the registration."""
    status = await ctx.store.take_invite(code)
    if status is not InviteStatus.OK:
        raise RequestError(_INVITE_PROBLEM[status], ErrorCode.FORBIDDEN)


# --- the people feature's account requests --------------------------------------------


def _current(conn: SessionView) -> str:
    assert conn.token is not None  # an authenticated connection has one
    return session_id(conn.token)


async def password(ctx: HandlerContext, conn: SessionView, req: Password) -> Reply:
    """A wrong `old` counts as a failed login of the user from this address
    (the same limits and delays), so a stolen session cannot guess the
    password faster than a login could; hashing goes through the same
    bounded pool. With `revoke_others`, every other session ends, live."""
    me = conn.username
    attempt = await ctx.throttle.begin_login(me, conn.peer_ip)
    user = await ctx.store.get_user(me)
    try:
        ok, _ = await ctx.passwords.verify(user.get("pw") if user else None, req.old, priority=attempt.known)
    except ServerBusy:
        raise await ctx.throttle.login_busy(attempt) from None
    if not ok:
        await ctx.throttle.login_failed(attempt)
        raise RequestError(WRONG_OLD, ErrorCode.BAD_CREDENTIALS)
    await ctx.throttle.login_succeeded(attempt)
    if (problem := limits.password_problem(req.new)) is not None:  # the parser checked; one rule
        raise RequestError(problem, ErrorCode.WEAK_PASSWORD)
    try:
        new_hash = await ctx.passwords.hash(req.new, priority=True)
    except ServerBusy:
        raise RequestError(BUSY, ErrorCode.THROTTLED, retry_after=1.0) from None
    await ctx.store.set_password_hash(me, new_hash)
    if req.revoke_others:
        for record in await ctx.store.revoke_sessions(me, keep=_current(conn)):
            ctx.hub.revoked(record.token_hash)
    return Reply()


# Bytes of a `sessions` reply besides its entries (the envelope, generously).
_SESSIONS_OVERHEAD = 64


async def sessions(ctx: HandlerContext, conn: SessionView, req: Sessions) -> Reply:
    """The caller's sessions, most recently used first, cut to fit one frame
    (then `more: true`, a chinwag extension; at most Store's SESSIONS_MAX)."""
    current = _current(conn)
    records = sorted(await ctx.store.sessions(conn.username), key=lambda r: (-r.last_used, r.id))
    out: list[dict[str, Any]] = []
    size = _SESSIONS_OVERHEAD
    for r in records:
        entry = {"id": r.id, "client": r.client, "created": r.created, "last_used": r.last_used}
        entry["current"] = r.id == current
        size += len(msgpack.packb(entry, use_bin_type=True))
        if size > ctx.settings.max_frame:
            break
        out.append(entry)
    fields: dict[str, Any] = {"sessions": out}
    if len(out) < len(records):
        fields["more"] = True
    return Reply(fields)


async def revoke(ctx: HandlerContext, conn: SessionView, req: Revoke) -> Reply:
    """End one of the caller's sessions, the current one included (then this
    connection gets `bye revoked` after its `ok`, like a logout). An id the
    caller has no session by is `bad_request`."""
    record = await ctx.store.revoke_session(conn.username, req.session)
    if record is None:
        raise RequestError(f"you have no session '{req.session}'; 'sessions' lists the ids", ErrorCode.BAD_REQUEST)
    if record.id == _current(conn):
        ctx.hub.revoked(record.token_hash, spare=conn)
        return Reply(after=lambda: conn.bye("revoked"))
    ctx.hub.revoked(record.token_hash)
    return Reply()


HANDLERS: dict[str, Handler] = {"password": password, "sessions": sessions, "revoke": revoke}
