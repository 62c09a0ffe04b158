"""One function per request type: `async (context, connection view,
request) -> Reply`. Handlers validate access, call the store and the hub
through the context, and return a `Reply` (the `ok` fields and any work for
after it); they raise `RequestError` with the protocol code for anything the
client must hear about. They do no I/O of their own, and never set the
session's state: they hand it an outcome (see session.py). Which request is
allowed in which state is session.py's table, not theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable
from typing import Any

from .. import __version__
from ..protocol import PROTOCOL_VERSION, limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import (
    Ack,
    Address,
    Hello,
    History,
    Login,
    Logout,
    Ping,
    Register,
    Request,
    Resume,
    Send,
    Typing,
    Users,
    Who,
)
from . import accounts, changes, rooms
from .accounts import HANDLERS as ACCOUNT_HANDLERS
from .auth import ServerBusy, new_token
from .context import NO_FIELDS, Handler, HandlerContext, Reply, SessionView
from .conv import address_for, conv_id, dm_parties, is_room, mid_key, mid_ts, room_id
from .fitting import fit
from .hub import Hub, change_frame, hide_reactions, invited_frame, message_frame, message_wire, user_wire
from .notify import HANDLERS as NOTIFY_HANDLERS
from .people import HANDLERS as PEOPLE_HANDLERS
from .rooms import HANDLERS as ROOM_HANDLERS
from .session import Authenticated, Greeted
from .store import LoginState, Profile, SendResult, SendStatus, SessionStatus, StorageUnavailable, StoredMessage

BAD_CREDENTIALS = "unknown user or wrong password; register first if you are new"
BUSY = "the server is busy checking passwords; try again in 1 s"
BAD_TOKEN = "unknown, expired or revoked token; log in with your password"


def _user(name: str, display: str | Profile, online: bool | None = None, people: bool = False) -> dict[str, Any]:
    """A user object for a reply: `online` where the list has it; with
    `people` (the caller's connection negotiated it; see `_people`) and a
    Profile, `away` and `status` too. hub.user_wire is the one builder."""
    profile = display if isinstance(display, Profile) else Profile(display)
    return user_wire(name, profile, online, people)


def _people(conn: SessionView) -> bool:
    """Whether the connection's user objects carry `away` and `status`."""
    return limits.FEATURE_PEOPLE in conn.features


# --- session ------------------------------------------------------------------------


async def hello(ctx: HandlerContext, conn: SessionView, req: Hello) -> Reply:
    if req.version != PROTOCOL_VERSION:
        raise RequestError(
            f"protocol version {req.version} is not supported; this server speaks {PROTOCOL_VERSION}",
            ErrorCode.UNSUPPORTED_VERSION,
        )
    # The intersection, in the client's order; an unknown name is ignored.
    features = [f for f in req.features or () if f in ctx.features]
    conn.apply(Greeted(frozenset(features), accounts.client_name(req.client)))
    s = ctx.settings
    return Reply(
        {
            "server": f"chinwag/{__version__}",
            "version": PROTOCOL_VERSION,
            "max_frame": s.max_frame,
            "max_text": s.max_text,
            "features": features,  # always, an empty list included
            # chinwag extension (docs/protocol.md): so a client can ask for an invitation code
            "registration": s.registration,
        }
    )


async def register(ctx: HandlerContext, conn: SessionView, req: Register) -> Reply:
    """Within the registration policy (accounts.py): a closed server refuses
    at once; an invitation code is checked after the name, so a taken name
    costs no use of it, and a use taken is given back if the user is not
    created after all."""
    code = accounts.check_registration(ctx.settings.registration, req.invite)
    # Counted before anything is answered, `user_exists` included, so the
    # registration limit also bounds probing which names exist.
    await ctx.throttle.registration(conn.peer_ip)
    taken = RequestError(f"the username '{req.username}' is taken; choose another", ErrorCode.USER_EXISTS)
    if await ctx.store.user_exists(req.username):
        raise taken
    if code is not None:
        await accounts.take_invite(ctx, code)
    display = req.display_name or req.username
    created = False
    try:
        try:
            password_hash = await ctx.passwords.hash(req.password)
        except ServerBusy:
            raise RequestError(BUSY, ErrorCode.THROTTLED, retry_after=1.0) from None
        created = await ctx.store.create_user(req.username, display, password_hash)
        if not created:
            raise taken
    finally:
        if code is not None and not created:
            await ctx.store.refund_invite(code)
    return Reply({"user": _user(req.username, display, people=_people(conn))})


async def login(ctx: HandlerContext, conn: SessionView, req: Login) -> Reply:
    started = time.monotonic()  # before the account is read (see Hub.ended_since)
    name = limits.normalize_username(req.username) or ""
    throttle_name = name or req.username.lower()[:64]
    # Reserved before the slow hash (a failure until proven otherwise).
    attempt = await ctx.throttle.begin_login(throttle_name, conn.peer_ip)
    user = await ctx.store.get_user(name) if name else None
    try:
        ok, rehash = await ctx.passwords.verify(user.get("pw") if user else None, req.password, priority=attempt.known)
    except ServerBusy:
        raise await ctx.throttle.login_busy(attempt) from None
    if not ok or user is None:
        await ctx.throttle.login_failed(attempt)
        raise RequestError(BAD_CREDENTIALS, ErrorCode.BAD_CREDENTIALS)
    await ctx.throttle.login_succeeded(attempt)
    if user.get("disabled") == "1":  # said only to whoever knows the password
        raise RequestError(accounts.DISABLED, ErrorCode.FORBIDDEN)
    if rehash:
        with contextlib.suppress(ServerBusy):  # if busy, upgraded at a later login
            await ctx.store.set_password_hash(name, await ctx.passwords.hash(req.password, priority=True))
    token = new_token()
    evicted = await ctx.store.add_session(name, token, conn.client, ctx.settings.token_ttl, user.get("sg", ""))
    if evicted is None:  # the user's sessions were revoked (a password change) while this one was checked
        raise RequestError(BAD_CREDENTIALS, ErrorCode.BAD_CREDENTIALS)
    for token_hash in evicted:  # the user's least recently used sessions, past the most kept
        ctx.hub.revoked(token_hash)
    return await _start_session(ctx, conn, Authenticated(name, user.get("dn", name), token), started)


async def resume(ctx: HandlerContext, conn: SessionView, req: Resume) -> Reply:
    """Two batched round trips before the session starts (each shared with
    the other resumes of the loop turn): the address's rate and the token;
    then, in the user's slot, the user's rate, the session and the login
    state. A throttle refuses before anything else is read."""
    started = time.monotonic()  # before the token is read (see Hub.ended_since)
    name = await ctx.throttle.resume_token(conn.peer_ip, req.token)
    if name is None:
        raise RequestError(BAD_TOKEN, ErrorCode.BAD_CREDENTIALS)
    epoch = ctx.hub.block_epoch  # before the state read (see _start_session)
    found = await ctx.throttle.resume_session(name, conn.peer_ip, req.token)
    if found.status is SessionStatus.DISABLED:
        raise RequestError(accounts.DISABLED, ErrorCode.FORBIDDEN)
    if found.status is SessionStatus.REVOKED:
        await ctx.store.revoke_token(req.token)
        raise RequestError(BAD_TOKEN, ErrorCode.BAD_CREDENTIALS)
    if found.state is None or found.profile is None:  # (RESUME_STATE gives both with OK)
        raise StorageUnavailable("Redis sent a malformed reply")
    who = Authenticated(name, found.profile.display_name, req.token)
    return await _start_session(ctx, conn, who, started, (found.state, epoch))


async def _start_session(
    ctx: HandlerContext,
    conn: SessionView,
    who: Authenticated,
    started: float,
    state_read: tuple[LoginState, int] | None = None,
) -> Reply:
    """Subscribe to live delivery first, then read what is after the cursors,
    then release live messages past what the replay sent. So the session is
    authenticated here, before the replay is read, not when the reply goes.
    `state_read`: the login state a resume read already, with the hub's
    `block_epoch` from before that read; else it is read here.

    With `messages` the replay carries each message's current state and,
    after a conversation's messages, the changes since the cursor to older
    messages (deduped); without it, the version 1 view (deleted messages
    left out, changes skipped). With `read`, `unread` counts from the read
    marker, and the reply lists the markers."""
    name = who.username
    if state_read is None:
        epoch = ctx.hub.block_epoch  # a block change heard after this may be missing from the state read
        state = await ctx.store.login_state(name)
    else:
        state, epoch = state_read
    convs, cursors = state.convs, state.cursors
    lobby = room_id(limits.LOBBY)
    if lobby not in convs:
        await ctx.store.ensure_lobby(name)
        convs.append(lobby)
    # No await from here until the hub has the connection: a disable, logout
    # or revocation whose event came while the account was being read is
    # seen here, one that comes later reaches the connection through the hub.
    ended = ctx.hub.ended_since(name, who.token, started)
    if ended == "disabled":
        raise RequestError(accounts.DISABLED, ErrorCode.FORBIDDEN)
    if ended is not None:
        raise RequestError(BAD_TOKEN, ErrorCode.BAD_CREDENTIALS)
    conn.apply(who)  # SessionClosed if the client has left meanwhile
    conn.convs = set(convs)
    conn.begin_replay()
    ctx.hub.add(conn, state.blocks, epoch)
    hidden = ctx.hub.blocks_of(name)
    rich = limits.FEATURE_MESSAGES in conn.features
    read_markers = limits.FEATURE_READ in conn.features
    # The replay's reads and the presence count go in the same batch (one
    # round trip when nothing is backlogged); both must answer.
    replaying = asyncio.ensure_future(
        ctx.store.replay(
            name, convs, cursors, markers=state.markers if read_markers else None, changes=rich, hidden=hidden
        )
    )
    counting = asyncio.ensure_future(ctx.presence.count_in(conn))
    try:
        outcome = await asyncio.gather(replaying, counting, return_exceptions=True)
        for result in outcome:
            if isinstance(result, BaseException):
                raise result
    except BaseException:
        await conn.end_replay([], {})
        raise
    replay = replaying.result()

    unread: dict[str, int] = {}
    replayed_upto: dict[str, str] = {}
    sent_upto: dict[str, str] = {}
    frames: list[bytes] = []
    for cid, part in replay.items():
        address = address_for(cid, name)
        if part.unread:
            unread[address] = part.unread
        replayed_upto[cid] = part.upto or cursors.get(cid, "0-0")
        for msg in part.messages:
            frames.append(message_frame(hide_reactions(msg, hidden), name, rich))
        for change in part.changes:
            frames.append(change_frame(change, name))
        named = [m.mid for m in part.messages[-1:]] + [c.id for c in part.changes[-1:]]
        if named:
            sent_upto[cid] = max(named, key=mid_key)

    if limits.FEATURE_ROOMS in conn.features:  # invitations that arrived while offline, after the replay
        frames += [invited_frame(room, by) for room, by in await rooms.pending_invitations(ctx, name)]
    me = (await ctx.store.profiles([name]))[name] if _people(conn) else Profile(who.display_name)
    fields: dict[str, Any] = {"user": _user(name, me, people=_people(conn)), "token": who.token, "unread": unread}
    if read_markers:
        fields["read"] = {address_for(cid, name): mid for cid, mid in state.markers.items() if cid in conn.convs}
    return Reply(fields, after=lambda: conn.end_replay(frames, replayed_upto, sent_upto))


async def logout(ctx: HandlerContext, conn: SessionView, req: Logout) -> Reply:
    """Revoke the token, and end every other connection that authenticated
    with it, on every node (this one gets `bye` after its `ok`)."""
    if conn.token is not None:
        await ctx.store.end_session(conn.username, conn.token)
        ctx.hub.logout(conn.token, conn)
    return Reply(after=lambda: conn.bye("logout"))


async def ping(ctx: HandlerContext, conn: SessionView, req: Ping) -> Reply:
    return NO_FIELDS


# --- people and rooms --------------------------------------------------------------


async def who(ctx: HandlerContext, conn: SessionView, req: Who) -> Reply:
    store = ctx.store
    names = sorted(await store.online_counts())
    profiles = await store.profiles(names)
    people = _people(conn)
    return Reply({"users": [_user(n, profiles[n], True, people) for n in names]})


async def users(ctx: HandlerContext, conn: SessionView, req: Users) -> Reply:
    store = ctx.store
    names = await store.search_users(req.prefix, req.limit)
    profiles = await store.profiles(names)
    online = await store.online_counts(names)
    people = _people(conn)
    return Reply({"users": [_user(n, profiles[n], n in online, people) for n in names]})


async def conversations(ctx: HandlerContext, conn: SessionView, req: Request) -> Reply:
    """Extension: every conversation of the caller (rooms joined, direct
    conversations started by either side) with its newest message, so a
    client can list the people it has talked to without probing."""
    me = conn.username
    rich = limits.FEATURE_MESSAGES in conn.features
    hidden = ctx.hub.blocks_of(me)
    listing = [
        {"conv": address_for(cid, me), "last": message_wire(hide_reactions(msg, hidden), me, rich) if msg else None}
        for cid, msg in await ctx.store.conversations(me, deleted=rich, hidden=hidden)
        # a direct conversation only a blocked user wrote in is not shown at all
        if msg is not None or is_room(cid) or not hidden.intersection(dm_parties(cid))
    ]
    fitted = fit(
        listing,
        lambda part: {"type": "ok", "re": req.id, "conversations": part, "more": True},
        ctx.settings.max_frame,
        keep="start",
    )
    return Reply({"conversations": fitted, "more": len(fitted) < len(listing)})


# --- messages ------------------------------------------------------------------------


async def _check_dm_peer(ctx: HandlerContext, conn: SessionView, address: Address) -> str:
    """The conversation id of a direct conversation, making sure it is
    recorded for both users before anything is stored in it."""
    if not await ctx.store.user_exists(address.name):
        raise RequestError(f"there is no user '{address.name}'", ErrorCode.NO_SUCH_USER)
    cid = conv_id(conn.username, address)
    if cid not in ctx.known_dms:
        a, b = dm_parties(cid)
        await ctx.store.add_dm(a, b, cid)
        ctx.known_dms.add(cid)
    return cid


async def send_begin(ctx: HandlerContext, conn: SessionView, req: Send) -> tuple[str, asyncio.Future[SendResult]]:
    """Check a send and queue its write; the caller awaits the result with
    `send_finish`. Consecutive sends of a connection are all begun before
    any is finished, so they share one Redis round trip, in order."""
    wait = conn.send_bucket.take()
    if wait:
        wait = max(wait, 0.01)
        raise RequestError(f"sending too fast; wait {wait:.2f} s", ErrorCode.RATE_LIMITED, retry_after=round(wait, 3))
    me = conn.username
    cid = conv_id(me, req.to) if req.to.is_room else await _check_dm_peer(ctx, conn, req.to)
    stored = ctx.store.send(cid, me, req.text, req.cmid, req.reply_to)
    stored.add_done_callback(functools.partial(_deliver_stored, ctx.hub, cid, me, req))
    return cid, stored


def _deliver_stored(hub: Hub, cid: str, sender: str, req: Send, stored: asyncio.Future[SendResult]) -> None:
    """Hand a stored message to the hub the moment its write is answered.
    The futures of one batch are answered in the order Redis stored them,
    and their callbacks run in that order, so every conversation's messages
    reach the hub in mid order. Delivering from the sender's worker instead
    let one sender's message overtake an older one whose worker was still
    awaiting something else (a DM peer check): a member acked the newer,
    and a crash before the older was delivered left it behind the cursor."""
    if stored.cancelled() or stored.exception() is not None:
        return  # send_finish reports it
    result = stored.result()
    if result.status is SendStatus.NEW:
        hub.message(StoredMessage(result.mid, cid, sender, req.text, req.cmid, req.reply_to, prev=result.prev))


async def send_finish(
    ctx: HandlerContext, conn: SessionView, req: Send, cid: str, stored: Awaitable[SendResult]
) -> Reply:
    me = conn.username
    result = await stored
    mid = result.mid
    if result.status is SendStatus.NOT_MEMBER:
        if await rooms.hidden(ctx, req.to.name, me):
            raise rooms.no_such_room(req.to.name)
        raise RequestError(f"you are not in {req.to}; join it first", ErrorCode.NOT_MEMBER)
    if result.status is SendStatus.NO_SUCH_MESSAGE:
        raise RequestError(f"reply_to {req.reply_to} is not a message of {req.to}", ErrorCode.NO_SUCH_MESSAGE)
    if result.status is SendStatus.DUPLICATE:  # the original, wherever it was sent
        return Reply({"mid": mid, "ts": mid_ts(mid), "conv": address_for(result.conv, me)})
    ctx.counters.accepted += 1
    conn.convs.add(cid)  # delivered already, by _deliver_stored
    return Reply({"mid": mid, "ts": mid_ts(mid), "conv": str(req.to)})


async def history(ctx: HandlerContext, conn: SessionView, req: History) -> Reply:
    me = conn.username
    cid = conv_id(me, req.conv)
    if not req.conv.is_room and not await ctx.store.user_exists(req.conv.name):
        raise RequestError(f"there is no user '{req.conv.name}'", ErrorCode.NO_SUCH_USER)
    rich = limits.FEATURE_MESSAGES in conn.features
    hidden = ctx.hub.blocks_of(me)  # the messages of users the caller blocks are not in their history
    # a room's page is read only for a member (checked by the same script call)
    page = await ctx.store.history(
        cid, req.before, req.limit, deleted=rich, hidden=hidden, member=me if req.conv.is_room else ""
    )
    if page is None:
        if await rooms.hidden(ctx, req.conv.name, me):
            raise rooms.no_such_room(req.conv.name)
        raise RequestError(f"you are not in {req.conv}; join it to read it", ErrorCode.FORBIDDEN)
    messages, more = page
    wire = [message_wire(hide_reactions(m, hidden), me, rich) for m in messages]
    fitted = fit(
        wire,
        lambda part: {"type": "ok", "re": req.id, "messages": part, "more": True},
        ctx.settings.max_frame,
        keep="end",
    )
    return Reply({"messages": fitted, "more": more or len(fitted) < len(wire)})


class AckBatch:
    """Several consecutive acks from one connection, merged: only the newest
    per conversation matters."""

    TYPE = "ack"
    __slots__ = ("id", "upto")

    def __init__(self) -> None:
        self.id: int | None = None
        self.upto: dict[str, str] = {}

    def add(self, conn: SessionView, ack: Ack) -> None:
        if ack.id is not None:
            self.id = ack.id
        cid = conv_id(conn.username, ack.conv)
        if cid not in conn.convs:
            return  # not a conversation of this user: nothing to move
        upto = ack.upto
        sent = conn.delivered_upto.get(cid)
        if sent is None:
            return  # nothing was delivered here: there is nothing to acknowledge
        if mid_key(upto) >= mid_key(sent):
            # never past what this connection was sent; and the ack of the last
            # event it was sent covers what those events carried (a replayed
            # message's folded changes, a deleted message a v1 view left out)
            upto = conn.covered_upto.get(cid, sent)
        current = self.upto.get(cid)
        if current is None or mid_key(upto) > mid_key(current):
            self.upto[cid] = upto


async def ack(ctx: HandlerContext, conn: SessionView, req: AckBatch) -> Reply:
    """The cursor write is returned, not awaited: the connection waits for it
    only before its next reply (or before this one, for an ack with an id),
    which is all the protocol asks (an ack takes effect before the reply to
    any later request)."""
    if req.upto:
        return Reply(cursor_write=ctx.store.ack(conn.username, req.upto))
    return NO_FIELDS


async def typing(ctx: HandlerContext, conn: SessionView, req: Typing) -> Reply:
    if conn.typing_bucket.take():
        return NO_FIELDS  # typing is advisory: excess is dropped, not an error
    if req.to.is_room:
        cid = conv_id(conn.username, req.to)
        if cid not in conn.convs:
            raise RequestError(f"you are not in {req.to}", ErrorCode.NOT_MEMBER)
    else:
        cid = await _check_dm_peer(ctx, conn, req.to)
    if ctx.typing_allowed(conn.username, cid):
        ctx.hub.typing(cid, conn.username)
    return NO_FIELDS


# --- dispatch -----------------------------------------------------------------------

HANDLERS: dict[str, Handler] = {
    "hello": hello,
    "ping": ping,
    "register": register,
    "login": login,
    "resume": resume,
    "logout": logout,
    "who": who,
    "users": users,
    "history": history,
    "ack": ack,
    "typing": typing,
    "conversations": conversations,
    # PROTOCOL-EXTENSIONS.md's `messages`, `read`, `search` (changes.py)
    "edit": changes.edit,
    "delete": changes.delete,
    "react": changes.react,
    "read": changes.read,
    "search": changes.search,
    # `join`, `leave`, `rooms` and the `rooms` feature's requests (rooms.py);
    # `people` and the accounts' requests, each in its module
    **ROOM_HANDLERS,
    **PEOPLE_HANDLERS,
    **ACCOUNT_HANDLERS,
    # chinwag's `notify` (docs/protocol.md)
    **NOTIFY_HANDLERS,
}

"""Every request type but `send`, which the connection runs in batches
(`send_begin`, `send_finish`), and `pong`, which needs no answer."""
