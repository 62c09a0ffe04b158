"""`chinwag-admin rooms ...`: list, show, set-owner, delete.

Changes go through the same scripts the servers run (the room's rules in
one step, in its slot) and are published on the node bus as the servers
publish them, so members connected anywhere hear of them at once: a new
owner as a role change, a deleted room as everyone leaving it.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..protocol import limits
from ..server.conv import room_id
from ..server.hub import membership_event, room_deleted_event
from ..server.statuses import RoomStatus
from .common import Admin, AdminError, command, group
from .output import Column, when

DELETED = "the room was deleted by a server admin"

ROOM_COLUMNS = (
    Column("name", "ROOM"),
    Column("members", "MEMBERS"),
    Column("private", "PRIVATE"),
    Column("owners", "OWNERS", lambda v: ", ".join(v) if v else "-"),
    Column("topic", "TOPIC"),
)


def _room_name(text: str) -> str:
    name = limits.normalize_room(text.removeprefix("#"))
    if name is None:
        raise AdminError(f"'{text}' is not a room name ({limits.ROOM_NAME_RULE})")
    return name


async def _existing(admin: Admin, text: str) -> str:
    name = _room_name(text)
    if not await admin.store.room_exists(name):
        raise AdminError(f"there is no room '{name}' (see: chinwag-admin rooms list)")
    return name


async def list_rooms(admin: Admin, args: argparse.Namespace) -> None:
    names = [n for n in await admin.store.all_rooms() if not args.prefix or n.startswith(args.prefix)]
    states = await admin.store.room_states(names, "")
    rows = []
    for name in names:
        roles = await admin.store.room_roles(name)
        state = states[name]
        rows.append(
            {
                "name": name,
                "members": state.members,
                "private": state.private,
                "owners": sorted(n for n, r in roles.items() if r == limits.ROLE_OWNER),
                "topic": state.topic or None,
            }
        )
    admin.out.table(rows, ROOM_COLUMNS, empty="no rooms")


async def show(admin: Admin, args: argparse.Namespace) -> None:
    store = admin.store
    name = await _existing(admin, args.room)
    state = (await store.room_states([name], ""))[name]
    meta = await store.room_meta(name)
    roles = await store.room_roles(name)
    created = meta.get("created", "")
    bans = await store.room_bans(name)
    invited = await store.room_invitations(name)
    row: dict[str, Any] = {
        "name": name,
        "members": state.members,
        "private": state.private,
        "topic": state.topic or None,
        "created": int(created) if created.isdigit() else None,
        "creator": meta.get("creator") or None,
        "owners": sorted(n for n, r in roles.items() if r == limits.ROLE_OWNER),
        "moderators": sorted(n for n, r in roles.items() if r == limits.ROLE_MODERATOR),
        "banned": bans,
        "invited": [{"user": u, "by": by, "expires": expiry} for u, by, expiry in invited],
    }

    def names(items: Any) -> str:
        return ", ".join(i if isinstance(i, str) else i["user"] for i in items) if items else "-"

    admin.out.record(
        row,
        (
            Column("name", "ROOM"),
            Column("members", "MEMBERS"),
            Column("private", "PRIVATE"),
            Column("topic", "TOPIC"),
            Column("created", "CREATED", when),
            Column("creator", "CREATOR"),
            Column("owners", "OWNERS", names),
            Column("moderators", "MODERATORS", names),
            Column("banned", "BANNED", names),
            Column("invited", "INVITED", names),
        ),
    )


async def set_owner(admin: Admin, args: argparse.Namespace) -> None:
    """Make a user an owner of a room, joining them to it if they are not in
    it (a ban of theirs is lifted; invitations do not matter)."""
    store = admin.store
    room = await _existing(admin, args.room)
    if room == limits.LOBBY:
        raise AdminError("the lobby has no owner but the server's admins (see: chinwag-admin users make-admin)")
    user, info = await admin.user(args.user)
    wire = {"username": user, "display_name": info.get("dn", user)}
    events: list[list[Any]] = []
    await store.room_remove(room, user, "", mode="unban", actor_admin=True)  # an owner is not banned
    joined = await store.room_join(room, user, admin=True)
    if joined.status is RoomStatus.DONE:
        events.append(membership_event(room, wire, True, joined.role))
    change = await store.set_room_role(room, "", user, limits.ROLE_OWNER, admin=True)
    if change.status is RoomStatus.DONE:
        events.append(membership_event(room, wire, True, limits.ROLE_OWNER, v1=False))
    elif change.status is not RoomStatus.UNCHANGED:
        raise AdminError(f"could not make {user} owner of {room_id(room)} ({change.status.name.lower()})")
    await admin.publish(events)
    text = f"{user} owns {room_id(room)}" + (" (and joined it)" if joined.status is RoomStatus.DONE else "")
    admin.out.done(text, {"room": room, "owner": user, "joined": joined.status is RoomStatus.DONE})


async def delete(admin: Admin, args: argparse.Namespace) -> None:
    """Delete a room and its whole history; its members, wherever they are
    connected, get `member` joined false and stop receiving it."""
    room = await _existing(admin, args.room)
    if room == limits.LOBBY:
        raise AdminError("the lobby cannot be deleted: it is everyone's room")
    if not args.yes:
        raise AdminError(f"deleting {room_id(room)} erases its history for good; run again with --yes to do it")
    members = await admin.store.delete_room(room)
    await admin.publish([room_deleted_event(room, DELETED)])
    admin.out.done(f"deleted {room_id(room)} ({len(members)} member(s) removed)", {"room": room, "members": members})


def register(subparsers: Any) -> None:
    rooms = group(subparsers, "rooms", "list and show rooms; give a room an owner; delete a room")
    p = command(rooms, "list", list_rooms, "every room, with its members, privacy, owners and topic")
    p.add_argument("--prefix", help="only rooms whose name starts with this")
    p = command(rooms, "show", show, "one room: topic, privacy, owners, moderators, bans, open invitations")
    p.add_argument("room")
    p = command(rooms, "set-owner", set_owner, "make a user an owner of a room (joining them to it if needed)")
    p.add_argument("room")
    p.add_argument("user")
    p = command(rooms, "delete", delete, "delete a room and its history; its members are told at once")
    p.add_argument("room")
    p.add_argument("--yes", action="store_true", help="really delete it (the history cannot be brought back)")
