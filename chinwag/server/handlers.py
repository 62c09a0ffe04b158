"""One function per request type: `async (context, connection view,
request) -> Reply`. Handlers validate access, call the store and the hub
through the context, and return a `Reply` (the `ok` fields and any work for
after it); they raise `RequestError` with the protocol code for anything the
client must hear about. They do no I/O of their own, and never set the
session's state: they hand it an outcome (see session.py). Which request is
allowed in which state is session.py's table, not theirs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from .. import __version__
from ..protocol import PROTOCOL_VERSION, limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.frames import FrameTooLarge, encode_frame
from ..protocol.messages import (
    Ack,
    Address,
    Hello,
    History,
    Join,
    Leave,
    Login,
    Logout,
    Ping,
    Register,
    Request,
    Resume,
    Rooms,
    Send,
    Typing,
    Users,
    Who,
)
from . import changes
from .accounts import HANDLERS as ACCOUNT_HANDLERS
from .auth import ServerBusy, new_token
from .context import NO_FIELDS, Handler, HandlerContext, Reply, SessionView
from .conv import address_for, conv_id, dm_parties, is_room, mid_key, mid_ts, room_id, room_of
from .hub import change_frame, hide_reactions, message_frame, message_wire, user_wire
from .people import HANDLERS as PEOPLE_HANDLERS
from .rooms import HANDLERS as ROOM_HANDLERS
from .session import Authenticated, Greeted
from .store import Profile, RoomCreation, SendResult, SendStatus, StoredMessage

BAD_CREDENTIALS = "unknown user or wrong password; register first if you are new"
BUSY = "the server is busy checking passwords; try again in 1 s"
# The smallest encoded `rooms` entry ({"name": "a", "members": 0, "joined":
# false} in msgpack): no more than max_frame // this many can fit in a reply,
# so no more are read.
ROOM_ENTRY_MIN_BYTES = 25


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
    conn.apply(Greeted(frozenset(features)))
    s = ctx.settings
    return Reply(
        {
            "server": f"chinwag/{__version__}",
            "version": PROTOCOL_VERSION,
            "max_frame": s.max_frame,
            "max_text": s.max_text,
            "features": features,  # always, an empty list included
        }
    )


async def register(ctx: HandlerContext, conn: SessionView, req: Register) -> Reply:
    # Counted before anything is answered, `user_exists` included, so the
    # registration limit also bounds probing which names exist.
    await ctx.throttle.registration(conn.peer_ip)
    if await ctx.store.user_exists(req.username):
        raise RequestError(f"the username '{req.username}' is taken; choose another", ErrorCode.USER_EXISTS)
    display = req.display_name or req.username
    try:
        password_hash = await ctx.passwords.hash(req.password)
    except ServerBusy:
        raise RequestError(BUSY, ErrorCode.THROTTLED, retry_after=1.0) from None
    if not await ctx.store.create_user(req.username, display, password_hash):
        raise RequestError(f"the username '{req.username}' is taken; choose another", ErrorCode.USER_EXISTS)
    return Reply({"user": _user(req.username, display, people=_people(conn))})


async def login(ctx: HandlerContext, conn: SessionView, req: Login) -> Reply:
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
    if rehash:
        with contextlib.suppress(ServerBusy):  # if busy, upgraded at a later login
            await ctx.store.set_password_hash(name, await ctx.passwords.hash(req.password, priority=True))
    token = new_token()
    await ctx.store.store_token(token, name, ctx.settings.token_ttl)
    return await _start_session(ctx, conn, Authenticated(name, user.get("dn", name), token))


async def resume(ctx: HandlerContext, conn: SessionView, req: Resume) -> Reply:
    await ctx.throttle.resume_address(conn.peer_ip)
    name = await ctx.store.token_user(req.token, ctx.settings.token_ttl)
    if name is None:
        raise RequestError("unknown, expired or revoked token; log in with your password", ErrorCode.BAD_CREDENTIALS)
    await ctx.throttle.resume_user(name, conn.peer_ip)
    display = (await ctx.store.display_names([name]))[name]
    return await _start_session(ctx, conn, Authenticated(name, display, req.token))


async def _start_session(ctx: HandlerContext, conn: SessionView, who: Authenticated) -> Reply:
    """Subscribe to live delivery first, then read what is after the cursors,
    then release live messages past what the replay sent. So the session is
    authenticated here, before the replay is read, not when the reply goes.

    With `messages` the replay carries each message's current state and,
    after a conversation's messages, the changes since the cursor to older
    messages (deduped); without it, the version 1 view (deleted messages
    left out, changes skipped). With `read`, `unread` counts from the read
    marker, and the reply lists the markers."""
    name = who.username
    epoch = ctx.hub.block_epoch  # a block change heard after this may be missing from the state read
    state = await ctx.store.login_state(name)
    convs, cursors = state.convs, state.cursors
    lobby = room_id(limits.LOBBY)
    if lobby not in convs:
        await ctx.store.ensure_lobby(name)
        convs.append(lobby)
    conn.apply(who)  # SessionClosed if the client has left meanwhile
    conn.convs = set(convs)
    conn.begin_replay()
    ctx.hub.add(conn, state.blocks, epoch)
    hidden = ctx.hub.blocks_of(name)
    rich = limits.FEATURE_MESSAGES in conn.features
    read = limits.FEATURE_READ in conn.features
    try:
        replay = await ctx.store.replay(
            name, convs, cursors, markers=state.markers if read else None, changes=rich, hidden=hidden
        )
        await ctx.presence.count_in(conn)
    except BaseException:
        await conn.end_replay([], {})
        raise

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

    me = (await ctx.store.profiles([name]))[name] if _people(conn) else Profile(who.display_name)
    fields: dict[str, Any] = {"user": _user(name, me, people=_people(conn)), "token": who.token, "unread": unread}
    if read:
        fields["read"] = {address_for(cid, name): mid for cid, mid in state.markers.items() if cid in conn.convs}
    return Reply(fields, after=lambda: conn.end_replay(frames, replayed_upto, sent_upto))


async def logout(ctx: HandlerContext, conn: SessionView, req: Logout) -> Reply:
    """Revoke the token, and end every other connection that authenticated
    with it, on every node (this one gets `bye` after its `ok`)."""
    if conn.token is not None:
        await ctx.store.revoke_token(conn.token)
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


async def join(ctx: HandlerContext, conn: SessionView, req: Join) -> Reply:
    if room_id(req.room) not in conn.convs and not await ctx.store.room_exists(req.room):
        await _create_room(ctx, conn, req.room)
    joined, count = await ctx.store.join(req.room, conn.username)
    if joined:
        conn.convs.add(room_id(req.room))
        ctx.hub.member(req.room, _user(conn.username, conn.display_name), True)
    return Reply({"room": {"name": req.room, "members": count}})


async def _create_room(ctx: HandlerContext, conn: SessionView, room: str) -> None:
    """A new room: within the creator's rate and the server's cap."""
    most = ctx.settings.max_rooms
    await ctx.throttle.room_creation(conn.username)
    created = await ctx.store.create_room(room, most)
    if created is not RoomCreation.CREATED:  # someone else created it meanwhile, or the server is full
        await ctx.store.refund_room_creation(conn.username)
    if created is RoomCreation.FULL:
        raise RequestError(
            f"this server has reached its limit of {most:,} rooms; join an existing room", ErrorCode.FORBIDDEN
        )


async def leave(ctx: HandlerContext, conn: SessionView, req: Leave) -> Reply:
    if req.room == limits.LOBBY:
        raise RequestError("everyone stays in the lobby; it cannot be left", ErrorCode.FORBIDDEN)
    cid = room_id(req.room)
    if not await ctx.store.leave(req.room, conn.username):
        raise RequestError(f"you are not in {cid}", ErrorCode.NOT_MEMBER)
    conn.convs.discard(cid)
    ctx.hub.member(req.room, _user(conn.username, conn.display_name), False)
    return NO_FIELDS


async def rooms(ctx: HandlerContext, conn: SessionView, req: Rooms) -> Reply:
    joined = [room_of(cid) for cid in conn.convs if is_room(cid)]
    listing, total = await ctx.store.rooms(joined, ctx.settings.max_frame // ROOM_ENTRY_MIN_BYTES)
    out: list[dict[str, Any]] = [{"name": r, "members": n, "joined": room_id(r) in conn.convs} for r, n in listing]
    # If they cannot all fit in one frame, the ones that matter come first:
    # the lobby, the caller's rooms, then the busiest; `more` says some are cut.
    out.sort(key=lambda r: (r["name"] != limits.LOBBY, not r["joined"], -r["members"], r["name"]))
    fitted = _fit_start(
        out, lambda part: {"type": "ok", "re": req.id, "rooms": part, "more": True}, ctx.settings.max_frame
    )
    return Reply({"rooms": fitted, "more": len(fitted) < total})


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
    fitted = _fit(
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


async def send_begin(ctx: HandlerContext, conn: SessionView, req: Send) -> tuple[str, Awaitable[SendResult]]:
    """Check a send and queue its write; the caller awaits the result with
    `send_finish`. Consecutive sends of a connection are all begun before
    any is finished, so they share one Redis round trip, in order."""
    wait = conn.send_bucket.take()
    if wait:
        wait = max(wait, 0.01)
        raise RequestError(f"sending too fast; wait {wait:.2f} s", ErrorCode.RATE_LIMITED, retry_after=round(wait, 3))
    me = conn.username
    cid = conv_id(me, req.to) if req.to.is_room else await _check_dm_peer(ctx, conn, req.to)
    return cid, ctx.store.send(cid, me, req.text, req.cmid, req.reply_to)


async def send_finish(
    ctx: HandlerContext, conn: SessionView, req: Send, cid: str, stored: Awaitable[SendResult]
) -> Reply:
    me = conn.username
    result = await stored
    mid = result.mid
    if result.status is SendStatus.NOT_MEMBER:
        if not await ctx.store.room_exists(req.to.name):
            raise RequestError(f"there is no room {req.to}; /join creates it", ErrorCode.NO_SUCH_ROOM)
        raise RequestError(f"you are not in {req.to}; join it first", ErrorCode.NOT_MEMBER)
    if result.status is SendStatus.NO_SUCH_MESSAGE:
        raise RequestError(f"reply_to {req.reply_to} is not a message of {req.to}", ErrorCode.NO_SUCH_MESSAGE)
    if result.status is SendStatus.DUPLICATE:  # the original, wherever it was sent
        return Reply({"mid": mid, "ts": mid_ts(mid), "conv": address_for(result.conv, me)})
    ctx.counters.accepted += 1
    conn.convs.add(cid)
    ctx.hub.message(StoredMessage(mid, cid, me, req.text, req.cmid, req.reply_to))
    return Reply({"mid": mid, "ts": mid_ts(mid), "conv": str(req.to)})


async def history(ctx: HandlerContext, conn: SessionView, req: History) -> Reply:
    me = conn.username
    if req.conv.is_room:
        cid = conv_id(me, req.conv)
        if not await ctx.store.is_member(cid, me):
            if not await ctx.store.room_exists(req.conv.name):
                raise RequestError(f"there is no room {req.conv}", ErrorCode.NO_SUCH_ROOM)
            raise RequestError(f"you are not in {req.conv}; join it to read it", ErrorCode.FORBIDDEN)
    else:
        if not await ctx.store.user_exists(req.conv.name):
            raise RequestError(f"there is no user '{req.conv.name}'", ErrorCode.NO_SUCH_USER)
        cid = conv_id(me, req.conv)
    rich = limits.FEATURE_MESSAGES in conn.features
    hidden = ctx.hub.blocks_of(me)  # the messages of users the caller blocks are not in their history
    messages, more = await ctx.store.history(cid, req.before, req.limit, deleted=rich, hidden=hidden)
    wire = [message_wire(hide_reactions(m, hidden), me, rich) for m in messages]
    fitted = _fit(
        wire,
        lambda part: {"type": "ok", "re": req.id, "messages": part, "more": True},
        ctx.settings.max_frame,
        keep="end",
    )
    return Reply({"messages": fitted, "more": more or len(fitted) < len(wire)})


def _fit_start(items: list[Any], frame_of: Callable[[list[Any]], dict[str, Any]], max_frame: int) -> list[Any]:
    """`_fit` from the start for many small items, in about two encodings
    instead of a dozen: each item is measured once, the count that fits is
    found from the running total, then checked."""
    if not items:
        return items
    overhead = len(encode_frame(frame_of([])))
    total, n = overhead + 4, 0  # 4: the largest growth of an array header
    for item in items:
        total += len(msgpack.packb(item, use_bin_type=True))
        if total > max_frame:
            break
        n += 1
    try:
        encode_frame(frame_of(items[:n]), max_frame)
    except FrameTooLarge:  # the estimate is an upper bound, so this does not happen; stay safe
        return _fit(items[:n], frame_of, max_frame, keep="start")
    return items[:n]


def _fit(items: list[Any], frame_of: Callable[[list[Any]], dict[str, Any]], max_frame: int, keep: str) -> list[Any]:
    """The longest run of `items` (from the end or the start) whose reply fits
    in one frame; a history page of long messages is cut, never refused."""
    lo, hi = 0, len(items)

    def fits(n: int) -> bool:
        part = items[len(items) - n :] if keep == "end" else items[:n]
        try:
            encode_frame(frame_of(part), max_frame)
        except FrameTooLarge:
            return False
        return True

    if fits(hi):
        return items
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return items[len(items) - lo :] if keep == "end" else items[:lo]


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
    "join": join,
    "leave": leave,
    "rooms": rooms,
    "ack": ack,
    "typing": typing,
    "conversations": conversations,
    # PROTOCOL-EXTENSIONS.md's `messages`, `read`, `search` (changes.py)
    "edit": changes.edit,
    "delete": changes.delete,
    "react": changes.react,
    "read": changes.read,
    "search": changes.search,
    # `rooms`, `people` and the accounts' requests, each in its module
    **ROOM_HANDLERS,
    **PEOPLE_HANDLERS,
    **ACCOUNT_HANDLERS,
}

"""Every request type but `send`, which the connection runs in batches
(`send_begin`, `send_finish`), and `pong`, which needs no answer."""
