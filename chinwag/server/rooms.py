"""Rooms: `join`, `leave`, `rooms`, and PROTOCOL-EXTENSIONS.md's `rooms`
(roles, private rooms, invitations, topics, kicks and bans). Its handlers
join the dispatch table through `HANDLERS`.

Who may do what is decided in one place per request: the room's script in
Redis checks the actor's role and acts in the same step (scripts.py,
"rooms"), so a role changed meanwhile cannot let a request through; a
server admin (Store.is_admin) ranks above every role. A refused request
changes nothing.

A private room is invisible to whoever is not in it (and is not an admin):
absent from `rooms`, and every request naming it (room_info, topic,
invite, kick, ban, role, history, send) answers `no_such_room`, with the
same words as for a room that does not exist. Only `join` tells, as the
contract says (`forbidden`, "invite only").
"""

from __future__ import annotations

from typing import Any

from ..protocol import limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import Ban, Invite, Join, Kick, Leave, RoomInfoRequest, Rooms, SetRole, SetTopic
from .context import NO_FIELDS, Handler, HandlerContext, Reply, SessionView
from .conv import is_room, room_id, room_of
from .fitting import fit_start
from .hub import user_wire
from .statuses import RoomCreation, RoomStatus
from .store import Profile, RoomState

# The smallest encoded `rooms` entry ({"name": "a", "members": 0, "joined":
# false} in msgpack): no more than max_frame // this many can fit in a reply,
# so no more are read.
ROOM_ENTRY_MIN_BYTES = 25
# The smallest encoded `room_info` member ({"user": "ab", "display_name": "ab",
# "role": "member", "online": false}): the most members one reply reads.
MEMBER_ENTRY_MIN_BYTES = 50
BANS_LISTED = 100  # the newest bans `room_info` shows an owner or moderator
MODERATORS = (limits.ROLE_OWNER, limits.ROLE_MODERATOR)


def _member_user(name: str, display: str) -> dict[str, Any]:
    """The user object of a `member` event (name and display name: a
    membership change is not a status change)."""
    return user_wire(name, Profile(display))


def room_wire(state: RoomState, conn: SessionView) -> dict[str, Any]:
    """The room object: with topic, private and role on a `rooms`
    connection; the version 1 {name, members} on the others."""
    out: dict[str, Any] = {"name": state.name, "members": state.members}
    if limits.FEATURE_ROOMS in conn.features:
        out.update(topic=state.topic, private=state.private, role=state.role)
    return out


def no_such_room(room: str) -> RequestError:
    """The answer for a room that does not exist or that the caller may not
    see (a private room they are not in): the same words for both."""
    return RequestError(f"there is no room #{room} you can see; /join creates a room", ErrorCode.NO_SUCH_ROOM)


async def hidden(ctx: HandlerContext, room: str, name: str) -> bool:
    """Whether `room` is absent or private to `name` (not a member, not an
    admin): the one rule every request naming a room follows."""
    store = ctx.store
    if not await store.room_exists(room):
        return True
    if not await store.room_private(room):
        return False
    return not (await store.is_member(room_id(room), name) or await store.is_admin(name))


async def _visible(ctx: HandlerContext, conn: SessionView, room: str) -> None:
    if await hidden(ctx, room, conn.username):
        raise no_such_room(room)


async def _target(ctx: HandlerContext, user: str) -> None:
    if not await ctx.store.user_exists(user):
        raise RequestError(f"there is no user '{user}'", ErrorCode.NO_SUCH_USER)


def _lobby_removal(room: str) -> None:
    if room == limits.LOBBY:
        raise RequestError(
            "no one can be kicked or banned from the lobby; a server admin can disable the account instead",
            ErrorCode.FORBIDDEN,
        )


def _refused(status: RoomStatus, room: str, user: str = "", doing: str = "") -> None:
    """The protocol error for a room script's refusal (DONE and UNCHANGED pass)."""
    address = f"#{room}"
    if status is RoomStatus.NOT_MEMBER:
        raise RequestError(f"you are not in {address}; join it first", ErrorCode.NOT_MEMBER)
    if status is RoomStatus.FORBIDDEN:
        raise RequestError(f"only an owner or moderator of {address} can {doing}", ErrorCode.FORBIDDEN)
    if status is RoomStatus.OUTRANKED:
        raise RequestError(
            f"{user} is an owner or moderator of {address} at least as senior as you; an owner can change their role",
            ErrorCode.FORBIDDEN,
        )
    if status is RoomStatus.LAST_OWNER:
        raise RequestError(
            f"{user or 'you'} would leave {address} without an owner; make someone else owner first",
            ErrorCode.FORBIDDEN,
        )
    if status is RoomStatus.TARGET_NOT_MEMBER:
        raise RequestError(f"{user} is not in {address}", ErrorCode.NOT_MEMBER)
    if status is RoomStatus.BANNED:
        raise RequestError(f"{user} is banned from {address}; a moderator can lift the ban first", ErrorCode.FORBIDDEN)
    if status is RoomStatus.LOBBY:
        raise RequestError("the lobby has no owner but the server's admins", ErrorCode.FORBIDDEN)
    if status is RoomStatus.INVITE_ONLY:
        raise RequestError(f"{address} is invite only; ask one of its members to invite you", ErrorCode.FORBIDDEN)


# --- join, leave, rooms --------------------------------------------------------------


async def join(ctx: HandlerContext, conn: SessionView, req: Join) -> Reply:
    """Join (creating the room if new: its creator owns it, with `private`
    and `topic`). Banned users and, for a private room, users without an
    invitation are refused; admins pass both."""
    store, me, room = ctx.store, conn.username, req.room
    cid = room_id(room)
    created = False
    if cid not in conn.convs and not await store.room_exists(room):
        created = await _create_room(ctx, conn, room, bool(req.private))
    admin = False if created else await store.is_admin(me)
    result = await store.room_join(
        room, me, created=created, private=bool(req.private), topic=req.topic or "", admin=admin
    )
    if result.status is RoomStatus.BANNED:
        raise RequestError(f"you are banned from #{room}; its moderators can lift the ban", ErrorCode.FORBIDDEN)
    _refused(result.status, room)
    if result.status is RoomStatus.DONE:
        conn.convs.add(cid)
        ctx.hub.membership(room, _member_user(me, conn.display_name), True, result.role)
    elif cid not in conn.convs:  # a member whose join was cut short between its two steps
        await store.repair_membership(room, me)
        conn.convs.add(cid)
        ctx.hub.membership(room, _member_user(me, conn.display_name), True, result.role)
    state = RoomState(room, result.members, result.topic, result.private, result.role)
    return Reply({"room": room_wire(state, conn)})


async def _create_room(ctx: HandlerContext, conn: SessionView, room: str, private: bool) -> bool:
    """A new room: within the creator's rate and the server's cap. True if
    this call created it (someone else may have, meanwhile)."""
    most = ctx.settings.max_rooms
    await ctx.throttle.room_creation(conn.username)
    created = await ctx.store.create_room(room, most, private)
    if created is not RoomCreation.CREATED:
        await ctx.store.refund_room_creation(conn.username)
    if created is RoomCreation.FULL:
        raise RequestError(
            f"this server has reached its limit of {most:,} rooms; join an existing room", ErrorCode.FORBIDDEN
        )
    return created is RoomCreation.CREATED


async def leave(ctx: HandlerContext, conn: SessionView, req: Leave) -> Reply:
    if req.room == limits.LOBBY:
        raise RequestError("everyone stays in the lobby; it cannot be left", ErrorCode.FORBIDDEN)
    cid = room_id(req.room)
    me = conn.username
    result = await ctx.store.room_remove(req.room, me, me, mode="leave")
    if result.status is RoomStatus.NOT_MEMBER:
        raise RequestError(f"you are not in {cid}", ErrorCode.NOT_MEMBER)
    _refused(result.status, req.room)
    conn.convs.discard(cid)
    ctx.hub.membership(req.room, _member_user(me, conn.display_name), False)
    await _crown(ctx, req.room, result.heir)
    return NO_FIELDS


async def _crown(ctx: HandlerContext, room: str, heir: str | None) -> None:
    """The last owner went and `heir` owns the room now: its members hear it
    as a role change."""
    if heir is not None:
        display = (await ctx.store.display_names([heir]))[heir]
        ctx.hub.membership(room, _member_user(heir, display), True, limits.ROLE_OWNER, v1=False)


async def rooms(ctx: HandlerContext, conn: SessionView, req: Rooms) -> Reply:
    """Every room the caller may see: private ones only if they are in them
    (an admin sees all)."""
    me = conn.username
    joined = [room_of(cid) for cid in conn.convs if is_room(cid)]
    admin = await ctx.store.is_admin(me)
    listing, total = await ctx.store.rooms(joined, ctx.settings.max_frame // ROOM_ENTRY_MIN_BYTES, private=admin)
    rich = limits.FEATURE_ROOMS in conn.features
    states = await ctx.store.room_states([r for r, _ in listing], me) if rich else {}
    out: list[dict[str, Any]] = []
    for r, n in listing:
        entry: dict[str, Any] = {"name": r, "members": n, "joined": room_id(r) in conn.convs}
        if rich:
            state = states[r]
            entry.update(topic=state.topic, private=state.private, role=state.role)
        out.append(entry)
    # If they cannot all fit in one frame, the ones that matter come first:
    # the lobby, the caller's rooms, then the busiest; `more` says some are cut.
    out.sort(key=lambda r: (r["name"] != limits.LOBBY, not r["joined"], -r["members"], r["name"]))
    fitted = fit_start(
        out, lambda part: {"type": "ok", "re": req.id, "rooms": part, "more": True}, ctx.settings.max_frame
    )
    return Reply({"rooms": fitted, "more": len(fitted) < total})


# --- the `rooms` feature's requests ------------------------------------------------


def _member_entry(name: str, profile: Profile, role: str, online: bool, people: bool) -> dict[str, Any]:
    """One `room_info` member: {user, display_name, role, online}, and with
    `people` `away` and `status` (PROTOCOL-EXTENSIONS.md: user objects in
    `room_info` gain them), from the one user-object builder."""
    wire = user_wire(name, profile, online, people)
    return {"user": wire.pop("username"), **wire, "role": role}


async def room_info(ctx: HandlerContext, conn: SessionView, req: RoomInfoRequest) -> Reply:
    """The room object and its members ({user, display_name, role, online},
    owners and moderators first, cut to fit one frame: `more`). For its
    owners, moderators and admins also `banned`: the newest bans, each
    {user, by, reason, at}."""
    store, me, room = ctx.store, conn.username, req.room
    await _visible(ctx, conn, room)
    state = (await store.room_states([room], me))[room]
    admin = await store.is_admin(me)
    most = ctx.settings.max_frame // MEMBER_ENTRY_MIN_BYTES
    listed, total = await store.room_members(room, most)
    names = [n for n, _ in listed]
    profiles = await store.profiles(names)
    online = await store.online_counts(names)
    people = limits.FEATURE_PEOPLE in conn.features
    members = [_member_entry(n, profiles[n], role, n in online, people) for n, role in listed]
    fields: dict[str, Any] = {"room": room_wire(state, conn)}
    if admin or state.role in MODERATORS:
        fields["banned"] = (await store.room_bans(room))[-BANS_LISTED:]
    fitted = fit_start(
        members,
        lambda part: {"type": "ok", "re": req.id, **fields, "members": part, "more": True},
        ctx.settings.max_frame,
    )
    fields.update(members=fitted, more=len(fitted) < total)
    return Reply(fields)


async def topic(ctx: HandlerContext, conn: SessionView, req: SetTopic) -> Reply:
    store, me, room = ctx.store, conn.username, req.room
    await _visible(ctx, conn, room)
    status, private, count = await store.set_topic(room, me, req.topic, admin=await store.is_admin(me))
    _refused(status, room, doing="set its topic")
    if status is RoomStatus.DONE:
        ctx.hub.room_changed(
            {"name": room, "members": count, "topic": req.topic, "private": private}, await store.room_roles(room)
        )
    return NO_FIELDS


async def invite(ctx: HandlerContext, conn: SessionView, req: Invite) -> Reply:
    """Any member invites (to a public room it only tells the user). The
    invitation lasts until they join or `settings.invite_ttl` passes; the
    `invited` event reaches their `rooms` connections now, and their next
    login if they are offline. Inviting a member changes nothing."""
    store, me, room = ctx.store, conn.username, req.room
    await _visible(ctx, conn, room)
    await _target(ctx, req.user)
    if req.user == me:
        raise RequestError("you cannot invite yourself", ErrorCode.BAD_REQUEST)
    status, _ = await store.invite(room, me, req.user, ctx.settings.invite_ttl, admin=await store.is_admin(me))
    _refused(status, room, req.user)
    if status is RoomStatus.DONE and not await silenced(ctx, req.user, me):
        ctx.hub.invited(req.user, room, me)
    return NO_FIELDS


async def _remove(ctx: HandlerContext, conn: SessionView, room: str, user: str, mode: str, reason: str | None) -> None:
    """Kick or ban `user` (owners and moderators above the user's rank): their
    connections everywhere get `member` joined false with by and reason and
    stop receiving the room."""
    store, me = ctx.store, conn.username
    _lobby_removal(room)
    await _visible(ctx, conn, room)
    await _target(ctx, user)
    actor_admin, target_admin = await store.is_admin(me), await store.is_admin(user)
    result = await store.room_remove(
        room, user, me, mode=mode, actor_admin=actor_admin, target_admin=target_admin, reason=reason or ""
    )
    _refused(result.status, room, user, "kick or ban")
    if result.status is RoomStatus.DONE and result.role is not None:
        display = (await store.display_names([user]))[user]
        ctx.hub.membership(room, _member_user(user, display), False, None, me, reason, banned=mode == "ban")
        await _crown(ctx, room, result.heir)


async def kick(ctx: HandlerContext, conn: SessionView, req: Kick) -> Reply:
    await _remove(ctx, conn, req.room, req.user, "kick", req.reason)
    return NO_FIELDS


async def ban(ctx: HandlerContext, conn: SessionView, req: Ban) -> Reply:
    """`on`: ban (removing the member, or banning a non-member ahead);
    off: lift the ban (lifting no ban is `ok`)."""
    await _remove(ctx, conn, req.room, req.user, "ban" if req.on else "unban", req.reason)
    return NO_FIELDS


async def role(ctx: HandlerContext, conn: SessionView, req: SetRole) -> Reply:
    """Owners (and admins) set a member's role; the room keeps an owner. The
    change goes as `member` (joined true, the new role, by) to the room's
    `rooms` connections."""
    store, me, room = ctx.store, conn.username, req.room
    await _visible(ctx, conn, room)
    await _target(ctx, req.user)
    change = await store.set_room_role(room, me, req.user, req.role, admin=await store.is_admin(me))
    if change.status is RoomStatus.FORBIDDEN:
        raise RequestError(f"only an owner of #{room} can change roles", ErrorCode.FORBIDDEN)
    _refused(change.status, room, req.user)
    if change.status is RoomStatus.DONE:
        display = (await store.display_names([req.user]))[req.user]
        ctx.hub.membership(room, _member_user(req.user, display), True, req.role, me, v1=False)
    return NO_FIELDS


async def silenced(ctx: HandlerContext, user: str, by: str) -> bool:
    """Whether invitations from `by` must not reach `user` (PROTOCOL-EXTENSIONS.md,
    `people`: nothing from a blocked user reaches the blocker, invitations
    included, live or at login; the inviter is not told). The one place
    that decides it, from Redis: it holds for an invitee on any node, online or not."""
    return by in await ctx.store.blocks(user)


async def pending_invitations(ctx: HandlerContext, name: str) -> list[tuple[str, str]]:
    """The user's invitations still open, (room, inviter): sent as `invited`
    events after their login on a `rooms` connection."""
    return [(room, by) for room, by in await ctx.store.pending_invites(name) if not await silenced(ctx, name, by)]


HANDLERS: dict[str, Handler] = {
    "join": join,
    "leave": leave,
    "rooms": rooms,
    "room_info": room_info,
    "topic": topic,
    "invite": invite,
    "kick": kick,
    "ban": ban,
    "role": role,
}
