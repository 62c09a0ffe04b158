"""One function per request type. Handlers validate access, call the store
and the hub, and return the `ok` fields; they raise `RequestError` with the
protocol code for anything the client must hear about. They do no I/O of
their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgpack

from .. import __version__
from ..protocol import PROTOCOL_VERSION, limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.frames import FrameTooLarge, encode_frame
from ..protocol.messages import (
    Ack, Address, Hello, History, Join, Leave, Login, Logout, Ping, Register, Request, Resume,
    Rooms, Send, Typing, Users, Who,
)
from .auth import ServerBusy, new_token
from .conv import address_for, conv_id, is_room, mid_key, mid_ts, room_id
from .hub import message_frame, message_wire
from .store import SendResult, SendStatus, StoredMessage

if TYPE_CHECKING:
    from .connection import Connection

Handler = Callable[["Connection", Any], Awaitable[dict[str, Any] | None]]

BAD_CREDENTIALS = "unknown user or wrong password; register first if you are new"
BUSY = "the server is busy checking passwords; try again in 1 s"
# The smallest encoded `rooms` entry ({"name": "a", "members": 0, "joined":
# false} in msgpack): no more than max_frame // this many can fit in a reply,
# so no more are read.
ROOM_ENTRY_MIN_BYTES = 25


def _user(name: str, display: str, online: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"username": name, "display_name": display}
    if online is not None:
        out["online"] = online
    return out


# --- session ------------------------------------------------------------------------


async def hello(conn: Connection, req: Hello) -> dict[str, Any]:
    from .connection import State

    if req.version != PROTOCOL_VERSION:
        raise RequestError(
            f"protocol version {req.version} is not supported; this server speaks {PROTOCOL_VERSION}",
            ErrorCode.UNSUPPORTED_VERSION,
        )
    conn.state = State.READY
    s = conn.settings
    return {"server": f"chinwag/{__version__}", "version": PROTOCOL_VERSION,
            "max_frame": s.max_frame, "max_text": s.max_text}


async def register(conn: Connection, req: Register) -> dict[str, Any]:
    srv = conn.server
    # Counted before anything is answered, `user_exists` included, so the
    # registration limit also bounds probing which names exist.
    await srv.throttle.registration(conn.address)
    if await srv.store.user_exists(req.username):
        raise RequestError(f"the username '{req.username}' is taken; choose another", ErrorCode.USER_EXISTS)
    display = req.display_name or req.username
    try:
        password_hash = await srv.passwords.hash(req.password)
    except ServerBusy:
        raise RequestError(BUSY, ErrorCode.THROTTLED, retry_after=1.0) from None
    if not await srv.store.create_user(req.username, display, password_hash):
        raise RequestError(f"the username '{req.username}' is taken; choose another", ErrorCode.USER_EXISTS)
    return {"user": _user(req.username, display)}


async def login(conn: Connection, req: Login) -> dict[str, Any]:
    srv = conn.server
    name = limits.normalize_username(req.username) or ""
    throttle_name = name or req.username.lower()[:64]
    # Reserved before the slow hash (a failure until proven otherwise).
    attempt = await srv.throttle.begin_login(throttle_name, conn.address)
    user = await srv.store.get_user(name) if name else None
    try:
        ok, rehash = await srv.passwords.verify(user.get("pw") if user else None, req.password,
                                                priority=attempt.known)
    except ServerBusy:
        raise await srv.throttle.login_busy(attempt) from None
    if not ok or user is None:
        await srv.throttle.login_failed(attempt)
        raise RequestError(BAD_CREDENTIALS, ErrorCode.BAD_CREDENTIALS)
    await srv.throttle.login_succeeded(attempt)
    if rehash:
        try:
            await srv.store.set_password_hash(name, await srv.passwords.hash(req.password, priority=True))
        except ServerBusy:
            pass  # upgraded at a later login
    token = new_token()
    await srv.store.store_token(token, name, conn.settings.token_ttl)
    return await _start_session(conn, name, user.get("dn", name), token)


async def resume(conn: Connection, req: Resume) -> dict[str, Any]:
    srv = conn.server
    await srv.throttle.resume_address(conn.address)
    name = await srv.store.token_user(req.token, conn.settings.token_ttl)
    if name is None:
        raise RequestError("unknown, expired or revoked token; log in with your password",
                           ErrorCode.BAD_CREDENTIALS)
    await srv.throttle.resume_user(name, conn.address)
    display = (await srv.store.display_names([name]))[name]
    return await _start_session(conn, name, display, req.token)


async def _start_session(conn: Connection, name: str, display: str, token: str) -> dict[str, Any]:
    """Subscribe to live delivery first, then read what is after the cursors,
    then release live messages past what the replay sent."""
    from .connection import State

    srv = conn.server
    convs, cursors = await srv.store.session_state(name)
    lobby = room_id(limits.LOBBY)
    if lobby not in convs:
        await srv.store.ensure_lobby(name)
        convs.append(lobby)
    conn.username, conn.display_name, conn.token = name, display, token
    conn.convs = set(convs)
    conn.state = State.AUTHENTICATED
    conn.begin_replay()
    srv.hub.add(conn)
    try:
        replay = await srv.store.replay(name, convs, cursors)
        await srv.count_online(conn)
    except BaseException:
        await conn.end_replay([], {})
        raise

    unread: dict[str, int] = {}
    replayed_upto: dict[str, str] = {}
    frames: list[bytes] = []
    for cid, (count, entries) in replay.items():
        address = address_for(cid, name)
        if count:
            unread[address] = count
        replayed_upto[cid] = entries[-1].mid if entries else cursors.get(cid, "0-0")
        for msg in entries:
            frames.append(message_frame(msg, name))

    conn.on_replied = lambda: conn.end_replay(frames, replayed_upto)
    return {"user": _user(name, display), "token": token, "unread": unread}


async def logout(conn: Connection, req: Logout) -> None:
    """Revoke the token, and end every other connection that authenticated
    with it, on every node (this one gets `bye` after its `ok`)."""
    if conn.token is not None:
        await conn.server.store.revoke_token(conn.token)
        conn.server.hub.logout(conn.token, conn)
    conn.on_replied = lambda: conn.bye("logout")
    return None


async def ping(conn: Connection, req: Ping) -> None:
    return None


# --- people and rooms --------------------------------------------------------------


async def who(conn: Connection, req: Who) -> dict[str, Any]:
    store = conn.server.store
    names = sorted(await store.online_counts())
    displays = await store.display_names(names)
    return {"users": [_user(n, displays[n], True) for n in names]}


async def users(conn: Connection, req: Users) -> dict[str, Any]:
    store = conn.server.store
    names = await store.search_users(req.prefix, req.limit)
    displays = await store.display_names(names)
    online = await store.online_counts(names)
    return {"users": [_user(n, displays[n], n in online) for n in names]}


async def join(conn: Connection, req: Join) -> dict[str, Any]:
    srv = conn.server
    if room_id(req.room) not in conn.convs and not await srv.store.room_exists(req.room):
        await _create_room(conn, req.room)
    joined, count = await srv.store.join(req.room, conn.username)
    if joined:
        conn.convs.add(room_id(req.room))
        srv.hub.member(req.room, _user(conn.username, conn.display_name), True)
    return {"room": {"name": req.room, "members": count}}


async def _create_room(conn: Connection, room: str) -> None:
    """A new room: within the creator's rate and the server's cap."""
    srv, most = conn.server, conn.settings.max_rooms
    await srv.throttle.room_creation(conn.username)
    created = await srv.store.create_room(room, most)
    if created != 1:  # someone else created it meanwhile, or the server is full
        await srv.store.refund_room_creation(conn.username)
    if created < 0:
        raise RequestError(f"this server has reached its limit of {most:,} rooms; join an existing room",
                           ErrorCode.FORBIDDEN)


async def leave(conn: Connection, req: Leave) -> None:
    if req.room == limits.LOBBY:
        raise RequestError("everyone stays in the lobby; it cannot be left", ErrorCode.FORBIDDEN)
    srv = conn.server
    if not await srv.store.leave(req.room, conn.username):
        raise RequestError(f"you are not in #{req.room}", ErrorCode.NOT_MEMBER)
    conn.convs.discard(room_id(req.room))
    srv.hub.member(req.room, _user(conn.username, conn.display_name), False)
    return None


async def rooms(conn: Connection, req: Rooms) -> dict[str, Any]:
    joined = [cid[1:] for cid in conn.convs if is_room(cid)]
    listing, total = await conn.server.store.rooms(joined, conn.settings.max_frame // ROOM_ENTRY_MIN_BYTES)
    out = [{"name": r, "members": n, "joined": room_id(r) in conn.convs} for r, n in listing]
    # If they cannot all fit in one frame, the ones that matter come first:
    # the lobby, the caller's rooms, then the busiest; `more` says some are cut.
    out.sort(key=lambda r: (r["name"] != limits.LOBBY, not r["joined"], -r["members"], r["name"]))
    fitted = _fit_start(out, lambda part: {"type": "ok", "re": req.id, "rooms": part, "more": True},
                        conn.settings.max_frame)
    return {"rooms": fitted, "more": len(fitted) < total}


async def conversations(conn: Connection, req: Request) -> dict[str, Any]:
    """Extension: every conversation of the caller (rooms joined, direct
    conversations started by either side) with its newest message, so a
    client can list the people it has talked to without probing."""
    me = conn.username
    listing = [{"conv": address_for(cid, me), "last": message_wire(msg, me) if msg else None}
               for cid, msg in await conn.server.store.conversations(me)]
    fitted = _fit(listing, lambda part: {"type": "ok", "re": req.id, "conversations": part, "more": True},
                  conn.settings.max_frame, keep="start")
    return {"conversations": fitted, "more": len(fitted) < len(listing)}


# --- messages ------------------------------------------------------------------------


async def _check_dm_peer(conn: Connection, address: Address) -> str:
    """The conversation id of a direct conversation, making sure it is
    recorded for both users before anything is stored in it."""
    srv = conn.server
    if not await srv.store.user_exists(address.name):
        raise RequestError(f"there is no user '{address.name}'", ErrorCode.NO_SUCH_USER)
    cid = conv_id(conn.username, address)
    if cid not in srv.known_dms:
        a, b = cid[1:].split(":")
        await srv.store.add_dm(a, b, cid)
        srv.known_dms.add(cid)
    return cid


async def send_begin(conn: Connection, req: Send) -> tuple[str, Awaitable[SendResult]]:
    """Check a send and queue its write; the caller awaits the result with
    `send_finish`. Consecutive sends of a connection are all begun before
    any is finished, so they share one Redis round trip, in order."""
    wait = conn.send_bucket.take()
    if wait:
        wait = max(wait, 0.01)
        raise RequestError(f"sending too fast; wait {wait:.2f} s", ErrorCode.RATE_LIMITED,
                           retry_after=round(wait, 3))
    me = conn.username
    cid = await _check_dm_peer(conn, req.to) if req.to.kind == "user" else conv_id(me, req.to)
    return cid, conn.server.store.send(cid, me, req.text, req.cmid)


async def send_finish(conn: Connection, req: Send, cid: str, stored: Awaitable[SendResult]) -> dict[str, Any]:
    srv = conn.server
    me = conn.username
    result = await stored
    mid = result.mid
    if result.status is SendStatus.NOT_MEMBER:
        if not await srv.store.room_exists(req.to.name):
            raise RequestError(f"there is no room #{req.to.name}; /join creates it", ErrorCode.NO_SUCH_ROOM)
        raise RequestError(f"you are not in #{req.to.name}; join it first", ErrorCode.NOT_MEMBER)
    if result.status is SendStatus.DUPLICATE:  # the original, wherever it was sent
        return {"mid": mid, "ts": mid_ts(mid), "conv": address_for(result.conv, me)}
    srv.accepted += 1
    conn.convs.add(cid)
    srv.hub.message(StoredMessage(mid, cid, me, req.text, req.cmid))
    return {"mid": mid, "ts": mid_ts(mid), "conv": str(req.to)}


async def send(conn: Connection, req: Send) -> dict[str, Any]:
    cid, stored = await send_begin(conn, req)
    return await send_finish(conn, req, cid, stored)


async def history(conn: Connection, req: History) -> dict[str, Any]:
    srv = conn.server
    me = conn.username
    if req.conv.is_room:
        cid = room_id(req.conv.name)
        if not await srv.store.is_member(cid, me):
            if not await srv.store.room_exists(req.conv.name):
                raise RequestError(f"there is no room #{req.conv.name}", ErrorCode.NO_SUCH_ROOM)
            raise RequestError(f"you are not in #{req.conv.name}; join it to read it", ErrorCode.FORBIDDEN)
    else:
        if not await srv.store.user_exists(req.conv.name):
            raise RequestError(f"there is no user '{req.conv.name}'", ErrorCode.NO_SUCH_USER)
        cid = conv_id(me, req.conv)
    messages, more = await srv.store.history(cid, req.before, req.limit)
    wire = [message_wire(m, me) for m in messages]
    fitted = _fit(wire, lambda part: {"type": "ok", "re": req.id, "messages": part, "more": True},
                  conn.settings.max_frame, keep="end")
    return {"messages": fitted, "more": more or len(fitted) < len(wire)}


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


def _fit(items: list[Any], frame_of: Callable[[list[Any]], dict[str, Any]], max_frame: int,
         keep: str) -> list[Any]:
    """The longest run of `items` (from the end or the start) whose reply fits
    in one frame; a history page of long messages is cut, never refused."""
    lo, hi = 0, len(items)
    def fits(n: int) -> bool:
        part = items[len(items) - n:] if keep == "end" else items[:n]
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
    return items[len(items) - lo:] if keep == "end" else items[:lo]


class AckBatch:
    """Several consecutive acks from one connection, merged: only the newest
    per conversation matters."""

    TYPE = "ack"
    __slots__ = ("id", "upto")

    def __init__(self) -> None:
        self.id: int | None = None
        self.upto: dict[str, str] = {}

    def add(self, conn: Connection, ack: Ack) -> None:
        if ack.id is not None:
            self.id = ack.id
        cid = conn.address_conv(ack.conv)
        if cid not in conn.convs:
            return  # not a conversation of this user: nothing to move
        upto = ack.upto
        sent = conn.delivered_upto.get(cid)
        if sent is None:
            return  # nothing was delivered here: there is nothing to acknowledge
        if mid_key(upto) > mid_key(sent):
            upto = sent  # never past what this connection was sent
        current = self.upto.get(cid)
        if current is None or mid_key(upto) > mid_key(current):
            self.upto[cid] = upto


async def ack(conn: Connection, req: AckBatch) -> None:
    """The cursor write is queued, not awaited: the connection waits for it
    only before its next reply, which is all the protocol asks (an ack takes
    effect before the reply to any later request)."""
    if req.upto:
        conn.cursor_write = conn.server.store.ack(conn.username, req.upto)
        if req.id is not None:
            await conn.cursor_written()
    return None


async def typing(conn: Connection, req: Typing) -> None:
    if conn.typing_bucket.take():
        return None  # typing is advisory: excess is dropped, not an error
    if req.to.kind == "user":
        cid = await _check_dm_peer(conn, req.to)
    else:
        cid = room_id(req.to.name)
        if cid not in conn.convs:
            raise RequestError(f"you are not in #{req.to.name}", ErrorCode.NOT_MEMBER)
    if conn.server.typing_allowed(conn.username, cid):
        conn.server.hub.typing(cid, conn.username)
    return None


# --- dispatch -----------------------------------------------------------------------

_PRE_AUTH = {"register": register, "login": login, "resume": resume}
_AUTHENTICATED: dict[str, Handler] = {
    "logout": logout, "who": who, "users": users, "send": send, "history": history,
    "join": join, "leave": leave, "rooms": rooms, "ack": ack, "typing": typing,
    "conversations": conversations,
}


def handler_for(conn: Connection, request: Request | AckBatch) -> Handler:
    """The handler for a request in the connection's state, or the error the
    protocol prescribes for asking at the wrong time."""
    from .connection import State

    kind = request.TYPE
    if kind == "ping":
        return ping
    state = conn.state
    if kind == "hello":
        if state is not State.NEW:
            raise RequestError("hello was already said on this connection")
        return hello
    if state is State.NEW:
        raise RequestError("say hello first: the first request must be 'hello'")
    if kind in _PRE_AUTH:
        if state is State.AUTHENTICATED:
            raise RequestError("this connection is already logged in", ErrorCode.ALREADY_AUTHENTICATED)
        return _PRE_AUTH[kind]
    if state is not State.AUTHENTICATED:
        raise RequestError(f"log in before '{kind}'", ErrorCode.NOT_AUTHENTICATED)
    return _AUTHENTICATED[kind]
