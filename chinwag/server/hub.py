"""Who is connected where, and getting events to them.

Local fan-out: a message is encoded once per view (one frame for a room, two
for a direct conversation; a reply has a second, `messages` form) and
written to each recipient connection's bounded outgoing queue. Change
events (`edited`, `deleted`, `reaction`) go the same way, only to
connections that negotiated `messages`; a `read` event only to the user's
other connections with `read`. Other nodes learn of messages, changes,
read markers, presence, typing and membership through one Redis pub/sub
channel; events published in one loop turn travel as one pub/sub message.
Pub/sub may drop a message: the streams and cursors in Redis are the truth,
and replay at login repairs any gap.

Rooms (`rooms`): a membership change (`membership`: a join, leave, kick,
ban or role change) moves this node's registry at once, so a removed user's
connections stop getting the room before anything else is delivered, and
travels as "k"; a room object's change as "o", an invitation as "i".
Connections without `rooms` get the version 1 `member` event only.

Listeners (`add_listener`) are told of every stored message and change,
this node's and the others', as they arrive: a search index feeds from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

import msgpack

from ..protocol.frames import encode_frame
from ..protocol.limits import FEATURE_MESSAGES, FEATURE_PEOPLE, FEATURE_READ, FEATURE_ROOMS, ROLE_MEMBER
from .conv import address_for, dm_parties, is_room, mid_ts, room_id
from .ordering import InOrder
from .statuses import ChangeKind
from .store import Profile, Reactions, StorageUnavailable, Store, Stored, StoredChange, StoredMessage, hash_token

log = logging.getLogger(__name__)

# How long the hub remembers ended sessions and accounts for logins in
# progress (ended_since): far longer than a login takes.
ENDED_MEMORY_S = 60.0


class Peer(Protocol):
    """What the hub needs of a connection."""

    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def token(self) -> str | None: ...
    @property
    def features(self) -> frozenset[str]:
        """The extensions negotiated in `hello`: which events and fields it gets."""

    convs: set[str]

    def deliver(self, conv_id: str, mid: str, frame: bytes) -> None: ...
    def send_event(self, frame: bytes) -> None:
        """An event that is not in a conversation's order (held back, like
        messages, while the connection's login replays)."""

    def send_bytes(self, frame: bytes) -> None: ...
    def bye(self, reason: str) -> None: ...
    def renamed(self, display_name: str) -> None:
        """The user changed their display name (on this or another connection)."""


def user_wire(name: str, profile: Profile, online: bool | None = None, people: bool = False) -> dict[str, Any]:
    """PROTOCOL.md's user object; `online` where the list has it; `people`
    (the viewer's connection negotiated it) adds `away` and `status`. The
    one builder of user objects (handlers.py's `_user` is this), so a version
    1 connection never sees the fields it did not ask for."""
    out: dict[str, Any] = {"username": name, "display_name": profile.display_name}
    if online is not None:
        out["online"] = online
    if people:
        out["away"] = profile.away
        out["status"] = profile.status
    return out


def hide_reactions(msg: StoredMessage, hidden: frozenset[str]) -> StoredMessage:
    """The message without the reactions of the users its reader blocks."""
    if not hidden or not msg.reactions:
        return msg
    kept = tuple((e, tuple(u for u in users if u not in hidden)) for e, users in msg.reactions)
    return replace(msg, reactions=tuple((e, users) for e, users in kept if users))


def message_wire(msg: StoredMessage, viewer: str, rich: bool = False) -> dict[str, Any]:
    """A stored message as PROTOCOL.md's message object, as `viewer` sees it.
    `rich` (a connection with `messages`) adds the fields that apply:
    `reply_to`, `edited`, `deleted` (text ""), `reactions`; absent ones mean
    none. Without it, the version 1 object with the current text."""
    out: dict[str, Any] = {
        "mid": msg.mid,
        "conv": address_for(msg.conv_id, viewer),
        "from": msg.sender,
        "text": msg.text,
        "ts": mid_ts(msg.mid),
        "cmid": msg.cmid,
    }
    if rich:
        if msg.reply_to is not None:
            out["reply_to"] = msg.reply_to
        if msg.deleted_by is not None:
            out["deleted"] = True
        elif msg.edited is not None:
            out["edited"] = msg.edited
        if msg.reactions:
            _add_reactions(out, msg.reactions)
    return out


# The usernames a message object lists in `reactions`, in bytes at most: a
# room's thousands of 👍 must not make a message too large for one frame.
REACTIONS_WIRE_BYTES = 16 * 1024


def _add_reactions(out: dict[str, Any], reactions: Reactions) -> None:
    """`reactions` as the wire has it; past REACTIONS_WIRE_BYTES each emoji
    lists only its first reactors, and `reaction_counts` gives every emoji's
    full count (a chinwag extension, docs/protocol.md)."""
    size = sum(len(u) + 2 for _, users in reactions for u in users)
    if size <= REACTIONS_WIRE_BYTES:
        out["reactions"] = {emoji: list(users) for emoji, users in reactions}
        return
    share = REACTIONS_WIRE_BYTES // len(reactions)
    listed: dict[str, list[str]] = {}
    for emoji, users in reactions:
        kept, used = [], 0
        for u in users:
            used += len(u) + 2
            if used > share:
                break
            kept.append(u)
        listed[emoji] = kept
    out["reactions"] = listed
    out["reaction_counts"] = {emoji: len(users) for emoji, users in reactions}


def message_frame(msg: StoredMessage, viewer: str, rich: bool = False) -> bytes:
    """The `message` event frame of a stored message, as `viewer` sees it."""
    return encode_frame({"type": "message", **message_wire(msg, viewer, rich)})


def change_wire(change: StoredChange, viewer: str) -> dict[str, Any]:
    """A change as its event (`edited`, `deleted`, `reaction`), as `viewer` sees it."""
    out: dict[str, Any] = {"type": str(change.kind), "conv": address_for(change.conv_id, viewer), "mid": change.mid}
    if change.kind is ChangeKind.EDITED:
        out.update(text=change.text, edited=change.edited)
    elif change.kind is ChangeKind.DELETED:
        out["by"] = change.actor
    else:
        out.update({"emoji": change.emoji, "from": change.actor, "on": change.on})
    out["id"] = change.id
    return out


def change_frame(change: StoredChange, viewer: str) -> bytes:
    return encode_frame(change_wire(change, viewer))


def read_frame(cid: str, viewer: str, upto: str) -> bytes:
    return encode_frame({"type": "read", "conv": address_for(cid, viewer), "upto": upto})


def invited_frame(room: str, by: str) -> bytes:
    return encode_frame({"type": "invited", "room": room, "by": by})


Listener = Callable[[Stored], None]


def bus_payload(origin: bytes, events: list[list[Any]]) -> bytes:
    """One pub/sub message of the node bus: the sender's id, `|`, then its
    events (msgpack). A node skips its own; chinwag-admin sends with an id
    of its own, so every node applies what it publishes."""
    body: bytes = msgpack.packb(events, use_bin_type=True)
    return origin + b"|" + body


def disabled_event(name: str) -> list[Any]:
    """The bus event for an account disabled: its connections end (`bye disabled`)."""
    return ["d", name]


def revoked_event(token_hash: str) -> list[Any]:
    """The bus event for a session revoked: the connections of its token end (`bye revoked`)."""
    return ["v", token_hash]


def membership_event(
    room: str,
    user: dict[str, Any],
    joined: bool,
    role: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    v1: bool = True,
    banned: bool = False,
) -> list[Any]:
    """The bus event for a membership change (see Hub.membership): every node
    updates whom it delivers the room to and tells the room's members.
    `banned` comes last: a node from before it reads the first eight fields."""
    return ["k", room, user, joined, role, by, reason, v1, banned]


def room_deleted_event(room: str, reason: str) -> list[Any]:
    """The bus event for a deleted room (chinwag-admin): each node tells the
    members it has their own `member` joined false and forgets the room, in
    one event whatever the room's size."""
    return ["o", {"name": room, "deleted": True, "reason": reason}, {}]


class Hub:
    def __init__(self, store: Store, node_id: str) -> None:
        self.store = store
        self.node_id = node_id
        self._prefix = node_id.encode() + b"|"
        self.by_user: dict[str, set[Peer]] = defaultdict(set)
        # room conv id -> local usernames, never empty (changed only by _room_member, and a deleted room)
        self.room_local: dict[str, set[str]] = {}
        # token hash -> the local connections that authenticated with it, so
        # a logout can end them all
        self.by_token: dict[str, set[Peer]] = defaultdict(set)
        self._token_of: dict[Peer, str] = {}
        self._outbox: list[list[Any]] = []
        self._publish_scheduled = False
        self._publishing: set[asyncio.Future[Any]] = set()
        self.delivered = 0  # message events handed to local connections
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._listeners: list[Listener] = []
        self._resubscribed: list[Callable[[], None]] = [store.forget_profiles]
        # "t:<token hash>" / "u:<name>" -> (time.monotonic(), bye reason) of
        # recent logouts, revocations and disabled accounts: see ended_since
        self._ended: dict[str, tuple[float, str]] = {}
        # Blocks of the local users (only those who block someone), and the
        # same the other way round: blocked user -> local users blocking them,
        # so a message costs one lookup of its sender, not one per recipient.
        self._blocks: dict[str, frozenset[str]] = {}
        self._blockers: dict[str, set[str]] = defaultdict(set)
        self.block_epoch = 0  # bumped by every block change heard (see add)
        self._rereading: dict[str, bool] = {}  # user -> another read is wanted after the one in flight
        self._tasks: set[asyncio.Task[None]] = set()
        # every conversation's entries to the local connections in stream order, gaps read from Redis
        self.order = InOrder(self._let_through, self._read_gap)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with every message (StoredMessage) and change
        (StoredChange, an edit with its new text) stored by any node, as this
        node learns of it: its own at once, the others' from the bus. Pub/sub
        may drop events, so a listener that must see everything (a search
        index) also catches up from Redis (Store.entries_after). A listener
        runs on the event loop and must not block; its exceptions are logged
        and swallowed."""
        self._listeners.append(listener)

    def on_resubscribed(self, callback: Callable[[], None]) -> None:
        """Call `callback` each time the bus subscription is made again after
        it was lost: what was published meanwhile never arrives, so a
        listener that must see everything catches up from Redis then."""
        self._resubscribed.append(callback)

    def _tell(self, item: Stored) -> None:
        for listener in self._listeners:
            try:
                listener(item)
            except Exception:
                log.exception("a hub listener failed on %s", item)

    # --- registry -------------------------------------------------------------

    def add(self, peer: Peer, blocks: Iterable[str] = (), epoch: int | None = None) -> None:
        """Register an authenticated connection. `blocks`: whom the user
        blocks, as their login read it, taken if this is their first
        connection here (later ones find the set kept up to date); `epoch`:
        `block_epoch` before that read: if a block change was heard since,
        the read may have missed it, so the set is read again."""
        name = peer.username
        if name not in self.by_user:
            self._set_blocks(name, frozenset(blocks))
        if epoch is not None and epoch != self.block_epoch:
            self._reread_blocks(name)
        self.by_user[name].add(peer)
        if peer.token is not None:
            digest = hash_token(peer.token)
            self.by_token[digest].add(peer)
            self._token_of[peer] = digest
        for cid in peer.convs:
            if is_room(cid):
                self._room_member(cid, peer.username, True)

    def _room_member(self, cid: str, name: str, joined: bool) -> None:
        """The one place a local user enters or leaves a room's local set. A
        set that empties goes, and the room's place in the order with it: a
        member who comes later starts from their own login replay, never
        from a stale tip that would fill a "gap" of old messages."""
        if joined:
            self.room_local.setdefault(cid, set()).add(name)
            return
        members = self.room_local.get(cid)
        if members is None:
            return
        members.discard(name)
        if not members:
            del self.room_local[cid]
            self.order.forget(cid)

    def _follow_membership(self, cid: str, name: str, joined: bool) -> set[str]:
        """This node's registry follows `name` joining or leaving room `cid`
        (its connections' conversations and the room's local set); returns
        the local users who hear of it: the room's, and `name`."""
        if name in self.by_user:
            self._room_member(cid, name, joined)
            for peer in self.by_user[name]:
                (peer.convs.add if joined else peer.convs.discard)(cid)
        return set(self.room_local.get(cid, ())) | {name}

    def remove(self, peer: Peer) -> None:
        """Unregister a connection (a no-op for one that was never added)."""
        digest = self._token_of.pop(peer, None)
        if digest is not None:
            peers = self.by_token.get(digest)
            if peers is not None:
                peers.discard(peer)
                if not peers:
                    del self.by_token[digest]
        conns = self.by_user.get(peer.username)
        if conns is None or peer not in conns:
            return
        conns.discard(peer)
        if conns:
            return
        del self.by_user[peer.username]
        self._set_blocks(peer.username, frozenset())
        for cid in list(self.room_local):
            self._room_member(cid, peer.username, False)
        for cid in peer.convs:
            if not is_room(cid) and not self._here(cid):
                self.order.forget(cid)

    # --- local delivery -------------------------------------------------------------

    def _arrive(self, entry: Stored) -> None:
        """A new entry, from this node or another: to the local members in
        its conversation's order (ordering.py), if there are any here."""
        cid = entry.conv_id
        if not self._here(cid):
            # nobody here: the order starts again from whoever comes next (their
            # login replay), never from a stale tip that would fill a "gap" of
            # old messages into a new member's screen
            self.order.forget(cid)
            return
        self.order.arrive(entry)

    def _here(self, cid: str) -> bool:
        """Someone on this node is in the conversation."""
        if is_room(cid):
            return bool(self.room_local.get(cid))
        return any(party in self.by_user for party in dm_parties(cid))

    def _let_through(self, entry: Stored) -> None:
        if isinstance(entry, StoredMessage):
            self.deliver_local(entry)
        else:
            self._change_local(entry)

    async def _read_gap(self, cid: str, after: str, most: int) -> list[Stored]:
        """The entries of `cid` after `after`, read from Redis to fill a gap."""
        out: list[Stored] = []
        while len(out) < most:
            page = await self.store.entries_after(cid, after, most - len(out))
            out += page.items
            if not page.more or page.last is None or not page.items:
                break
            after = page.last
        return out

    def covered(self, cid: str, upto: str) -> None:
        """A local connection has everything of `cid` up to `upto` (its login
        replay): where the conversation's order starts here, if it had none."""
        self.order.covered(cid, upto)

    def deliver_local(self, msg: StoredMessage) -> None:
        cid = msg.conv_id
        # A new message differs between the views only if it is a reply.
        reply = msg.reply_to is not None
        if is_room(cid):
            users = self.room_local.get(cid)
            if not users:
                return
            frame = message_frame(msg, "")
            rich = message_frame(msg, "", True) if reply else frame
            blockers = self._blockers.get(msg.sender)
            # snapshots: a delivery can drop an overflowing peer mid-loop
            for name in tuple(users) if not blockers else [u for u in users if u not in blockers]:
                for peer in tuple(self.by_user.get(name, ())):
                    peer.deliver(cid, msg.mid, rich if reply and FEATURE_MESSAGES in peer.features else frame)
                    self.delivered += 1
            return
        a, b = dm_parties(cid)
        for name in {a, b}:
            peers = self.by_user.get(name)
            if peers and not self.blocked(name, msg.sender):
                frame = message_frame(msg, name)
                rich = message_frame(msg, name, True) if reply else frame
                for peer in tuple(peers):
                    peer.convs.add(cid)
                    peer.deliver(cid, msg.mid, rich if reply and FEATURE_MESSAGES in peer.features else frame)
                    self.delivered += 1

    def _change_local(self, change: StoredChange) -> None:
        """A change event to the members' connections with `messages`; it
        counts as delivered like a message (`ack` may name its id)."""
        cid = change.conv_id
        names = self.room_local.get(cid, ()) if is_room(cid) else set(dm_parties(cid))
        room_frame = change_frame(change, "") if is_room(cid) else None
        # an edit or reaction by a blocked user, or the delete of their message
        source = change.author if change.kind is ChangeKind.DELETED else change.actor
        for name in tuple(names):
            if self.blocked(name, source):
                continue
            peers = [p for p in self.by_user.get(name, ()) if FEATURE_MESSAGES in p.features]
            if peers:
                frame = room_frame or change_frame(change, name)
                for peer in peers:
                    peer.deliver(cid, change.id, frame)

    def _read_local(self, user: str, cid: str, upto: str, origin: Peer | None) -> None:
        peers = [p for p in self.by_user.get(user, ()) if p is not origin and FEATURE_READ in p.features]
        if peers:
            frame = read_frame(cid, user, upto)
            for peer in peers:
                peer.send_event(frame)

    def _to_user_local(self, user: str, feature: str, frame: bytes, origin: Peer | None) -> None:
        for peer in tuple(self.by_user.get(user, ())):
            if peer is not origin and feature in peer.features:
                peer.send_event(frame)

    def _members_local(self, cid: str) -> set[str]:
        if is_room(cid):
            return self.room_local.get(cid, set())
        return set(dm_parties(cid))

    def _typing_local(self, cid: str, sender: str) -> None:
        for name in tuple(self._members_local(cid)):
            if name == sender or self.blocked(name, sender):
                continue
            peers = self.by_user.get(name)
            if peers:
                frame = encode_frame({"type": "typing", "conv": address_for(cid, name), "from": sender})
                for peer in tuple(peers):
                    peer.send_bytes(frame)

    def _logout_local(self, digest: str, spare: Peer | None = None, reason: str = "logout") -> None:
        self._note_ended("t:" + digest, reason)
        for peer in tuple(self.by_token.get(digest, ())):
            if peer is not spare:
                peer.bye(reason)

    def _disabled_local(self, name: str) -> None:
        self._note_ended("u:" + name, "disabled")
        for peer in tuple(self.by_user.get(name, ())):
            peer.bye("disabled")

    def _note_ended(self, key: str, reason: str) -> None:
        """Remember it for ENDED_MEMORY_S. The dict is in the order of the
        times (a key noted again moves to the end), so forgetting is from
        its start, amortized O(1) however many end at once."""
        now = time.monotonic()
        ended = self._ended
        ended.pop(key, None)
        ended[key] = (now, reason)
        while ended:
            oldest = next(iter(ended))
            if now - ended[oldest][0] < ENDED_MEMORY_S:
                break
            del ended[oldest]

    def ended_since(self, name: str, token: str, since: float) -> str | None:
        """The bye reason if the user was disabled, or this token logged out
        or revoked, since `since` (time.monotonic()): a login or resume that
        read the account before the change, and whose connection was not in
        the hub yet when its event came, must not go on. None otherwise."""
        for key in ("u:" + name, "t:" + hash_token(token)):
            hit = self._ended.get(key)
            if hit is not None and hit[0] >= since:
                return hit[1]
        return None

    def _presence_local(self, user: dict[str, Any], online: bool, away: bool = False, status: str = "") -> None:
        """Online or offline: to every other user; `people` connections get
        the user object with `away` and `status` (an event from a node
        before `people` has neither: not away, no status)."""
        frame = encode_frame({"type": "presence", "user": user, "online": online})
        people = encode_frame(
            {"type": "presence", "user": {**user, "away": bool(away), "status": str(status)}, "online": online}
        )
        for name, peers in list(self.by_user.items()):
            if name != user["username"]:
                for peer in tuple(peers):
                    peer.send_bytes(people if FEATURE_PEOPLE in peer.features else frame)

    def _profile_local(self, name: str, profile: Profile, origin: Peer | None) -> None:
        """A user's status or display name changed: their connections here
        take the new name; `presence` goes to every `people` connection
        (theirs too, but `origin`, which made the change) except those of the
        users who block them. Version 1 connections get nothing: their
        `presence` means online or offline, and neither changed."""
        for peer in tuple(self.by_user.get(name, ())):
            if peer.display_name != profile.display_name:
                peer.renamed(profile.display_name)
        frame = encode_frame({"type": "presence", "user": user_wire(name, profile, people=True), "online": True})
        blockers = self._blockers.get(name, ())
        for viewer, peers in list(self.by_user.items()):
            if viewer in blockers:
                continue
            for peer in tuple(peers):
                if peer is not origin and FEATURE_PEOPLE in peer.features:
                    peer.send_bytes(frame)

    def _member_local(self, room: str, user: dict[str, Any], joined: bool) -> None:
        recipients = self._follow_membership(room_id(room), user["username"], joined)
        frame = encode_frame({"type": "member", "room": room, "user": user, "joined": joined})
        for member in recipients:
            for peer in tuple(self.by_user.get(member, ())):
                peer.send_bytes(frame)

    # --- rooms (issue 12): membership with role/by/reason, room objects, invitations ---

    def _membership_local(
        self,
        room: str,
        user: dict[str, Any],
        joined: bool,
        role: str | None,
        by: str | None,
        reason: str | None,
        v1: bool,
        banned: bool = False,
    ) -> None:
        """A membership change: this node's registry follows it at once (a
        kicked user's connections stop getting the room here and now), then
        the `member` event: with role/by/reason (and `banned: true` for a
        ban) on `rooms` connections, the version 1 event on the others (none
        for a role change, `v1` False)."""
        recipients = self._follow_membership(room_id(room), user["username"], joined)
        plain = encode_frame({"type": "member", "room": room, "user": user, "joined": joined}) if v1 else None
        event = {
            "type": "member",
            "room": room,
            "user": user,
            "joined": joined,
            "role": role,
            "by": by,
            "reason": reason,
        }
        if banned:
            event["banned"] = True
        rich = encode_frame(event)
        for member in recipients:
            for peer in tuple(self.by_user.get(member, ())):
                if FEATURE_ROOMS in peer.features:
                    peer.send_bytes(rich)
                elif plain is not None:
                    peer.send_bytes(plain)

    def _room_local(self, room: dict[str, Any], roles: dict[str, str]) -> None:
        """A room object changed (topic, privacy): to its members' `rooms`
        connections, each with their own role in it."""
        cid = room_id(room["name"])
        if room.get("deleted"):
            self._room_gone_local(room["name"], room.get("reason"))
            return
        frames: dict[str, bytes] = {}
        for name in tuple(self.room_local.get(cid, ())):
            peers = [p for p in self.by_user.get(name, ()) if FEATURE_ROOMS in p.features]
            if not peers:
                continue
            role = roles.get(name, ROLE_MEMBER)
            frame = frames.get(role)
            if frame is None:
                frame = frames[role] = encode_frame({"type": "room", "room": {**room, "role": role}})
            for peer in peers:
                peer.send_bytes(frame)

    def _room_gone_local(self, room: str, reason: str | None) -> None:
        """A deleted room: its local members' connections each get their own
        `member` joined false (with `reason` on `rooms` ones) and stop
        receiving it."""
        cid = room_id(room)
        self.order.forget(cid)
        for name in self.room_local.pop(cid, set()):
            for peer in tuple(self.by_user.get(name, ())):
                peer.convs.discard(cid)
                event: dict[str, Any] = {
                    "type": "member",
                    "room": room,
                    "user": {"username": name, "display_name": peer.display_name},
                    "joined": False,
                }
                if FEATURE_ROOMS in peer.features:
                    event.update(role=None, by=None, reason=reason)
                peer.send_bytes(encode_frame(event))

    def _invited_local(self, user: str, room: str, by: str) -> None:
        peers = [p for p in self.by_user.get(user, ()) if FEATURE_ROOMS in p.features]
        if peers:
            frame = invited_frame(room, by)
            for peer in peers:
                peer.send_bytes(frame)

    def membership(
        self,
        room: str,
        user: dict[str, Any],
        joined: bool,
        role: str | None = None,
        by: str | None = None,
        reason: str | None = None,
        *,
        v1: bool = True,
        banned: bool = False,
    ) -> None:
        """Someone joined or left `room`, was kicked or banned (`by`, `reason`,
        `banned`), or (`v1` False) got a new role: every node's registry and
        members hear it."""
        self._membership_local(room, user, joined, role, by, reason, v1, banned)
        self._publish(membership_event(room, user, joined, role, by, reason, v1, banned))

    def room_changed(self, room: dict[str, Any], roles: dict[str, str]) -> None:
        """`room` (name, members, topic, private) changed; `roles` are its
        owners and moderators (everyone else in it is a member)."""
        self._room_local(room, roles)
        self._publish(["o", room, roles])

    def invited(self, user: str, room: str, by: str) -> None:
        """`by` invited `user` to `room`: every connection of theirs with `rooms` hears it."""
        self._invited_local(user, room, by)
        self._publish(["i", user, room, by])

    # --- cluster-wide events (local now, published for other nodes) -------------------

    def message(self, msg: StoredMessage) -> None:
        self._arrive(msg)
        # the version 1 event's shape, then reply_to and prev, as nodes before them read it
        self._publish(["m", msg.conv_id, msg.mid, msg.sender, msg.text, msg.cmid, msg.reply_to, msg.prev])
        if self._listeners:
            self._tell(msg)

    def change(self, change: StoredChange) -> None:
        """A stored change: its event to the members' `messages` connections, everywhere."""
        self._arrive(change)
        # "C": "c" with prev; a node before prev ignores it (it would drop a whole batch with "c" and 11 fields)
        self._publish(["C", *_change_fields(change), change.prev])
        if self._listeners:
            self._tell(change)

    def read(self, user: str, cid: str, upto: str, origin: Peer | None = None) -> None:
        """The user's read marker moved (from `origin`): tell their other
        connections with `read`, on every node."""
        self._read_local(user, cid, upto, origin)
        self._publish(["r", user, cid, upto])

    def to_user(self, user: str, feature: str, frame: bytes, origin: Peer | None = None) -> None:
        """An event for the user's own connections that negotiated `feature`
        (but `origin`, which made the change), on every node: settings that
        follow the user between devices."""
        self._to_user_local(user, feature, frame, origin)
        self._publish(["u", user, feature, frame])

    def typing(self, cid: str, sender: str) -> None:
        self._typing_local(cid, sender)
        self._publish(["t", cid, sender])

    def presence(self, name: str, profile: Profile, online: bool) -> None:
        """The user came online or went offline (their first or last
        connection anywhere)."""
        user = user_wire(name, profile)
        self._presence_local(user, online, profile.away, profile.status)
        # away and status after the version 1 fields, which older nodes read alone
        self._publish(["p", user, online, profile.away, profile.status])

    def profile(self, name: str, profile: Profile, origin: Peer | None = None) -> None:
        """The user's status or display name changed (already stored): tell
        everyone who gets their presence, on every node."""
        self._profile_local(name, profile, origin)
        self._publish(["s", name, profile.display_name, profile.away, profile.status])

    # --- blocks -----------------------------------------------------------------------

    def blocked(self, recipient: str, sender: str) -> bool:
        """Whether `recipient` (a user with connections on this node) blocks
        `sender`: nothing from `sender` may reach them. The one test every
        delivery uses (messages, changes, typing; invitations)."""
        blocks = self._blocks.get(recipient)
        return blocks is not None and sender in blocks

    def blocks_of(self, name: str) -> frozenset[str]:
        """Whom `name` (a user with connections on this node) blocks."""
        return self._blocks.get(name, frozenset())

    def block(self, blocker: str, target: str, on: bool) -> None:
        """`blocker` blocked or unblocked `target` (already stored): in force
        here at once, and on the other nodes as soon as they hear of it."""
        self.block_epoch += 1
        self._block_local(blocker, target, on)
        if blocker in self._rereading:  # a read from before this write is in flight: read once more after it
            self._rereading[blocker] = True
        self._publish(["b", blocker, target, on])

    def _block_local(self, blocker: str, target: str, on: bool) -> None:
        if blocker in self.by_user:
            now = self.blocks_of(blocker)
            self._set_blocks(blocker, now | {target} if on else now - {target})

    def _set_blocks(self, name: str, blocks: frozenset[str]) -> None:
        for gone in self.blocks_of(name) - blocks:
            blockers = self._blockers.get(gone)
            if blockers is not None:
                blockers.discard(name)
                if not blockers:
                    del self._blockers[gone]
        for target in blocks:
            self._blockers[target].add(name)
        if blocks:
            self._blocks[name] = blocks
        else:
            self._blocks.pop(name, None)

    def _reread_blocks(self, name: str) -> None:
        """Read the user's blocks from Redis again, one read at a time per
        user (a second request while one is in flight makes one more read
        after it), so the last read starts after the last change heard and
        the set ends as Redis has it, whatever order the changes came in."""
        if name in self._rereading:
            self._rereading[name] = True
            return
        self._rereading[name] = False
        task = asyncio.get_running_loop().create_task(self._reread(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reread(self, name: str) -> None:
        try:
            while True:
                self._rereading[name] = False
                try:
                    blocks = await self.store.blocks(name)
                except StorageUnavailable as exc:
                    log.warning("could not read the blocks of %s again: %s", name, exc)
                    return
                if name in self.by_user:
                    self._set_blocks(name, blocks)
                if not self._rereading[name]:
                    return
        finally:
            del self._rereading[name]

    def member(self, room: str, user: dict[str, Any], joined: bool) -> None:
        self._member_local(room, user, joined)
        self._publish(["j", room, user, joined])

    def logout(self, token: str, spare: Peer | None = None) -> None:
        """End every connection that authenticated with `token` (now revoked),
        here and on the other nodes; `spare` is the one logging out."""
        digest = hash_token(token)
        self._logout_local(digest, spare)
        self._publish(["x", digest])

    def disabled(self, name: str) -> None:
        """The account is disabled: end all its connections, on every node."""
        self._disabled_local(name)
        self._publish(disabled_event(name))

    def revoked(self, token_hash: str, spare: Peer | None = None) -> None:
        """A session was revoked (its token deleted): end the connections that
        authenticated with it, on every node (`spare`: one that ends by itself)."""
        self._logout_local(token_hash, spare, "revoked")
        self._publish(revoked_event(token_hash))

    def _publish(self, event: list[Any]) -> None:
        self._outbox.append(event)
        if not self._publish_scheduled:
            self._publish_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_outbox)

    def _flush_outbox(self) -> None:
        self._publish_scheduled = False
        events, self._outbox = self._outbox, []
        if events:
            # with the store's next batch: no task or round trip of its own
            sent = self.store.publish_soon(bus_payload(self.node_id.encode(), events))
            self._publishing.add(sent)
            sent.add_done_callback(self._published)

    async def flush(self) -> None:
        """Publish what is queued and wait for it (used at shutdown)."""
        self._flush_outbox()
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=2)

    def _published(self, sent: asyncio.Future[Any]) -> None:
        self._publishing.discard(sent)
        if not sent.cancelled() and (exc := sent.exception()) is not None:  # best effort; replay repairs gaps
            log.warning("publish to other nodes failed: %s", exc)

    def _apply_remote(self, events: list[Any]) -> None:
        for event in events:
            kind = event[0]
            if kind == "m":
                _, cid, mid, sender, text, cmid, *rest = event
                msg = StoredMessage(
                    mid, cid, sender, text, cmid, rest[0] if rest else None, prev=rest[1] if len(rest) > 1 else None
                )
                self._arrive(msg)
                if self._listeners:
                    self._tell(msg)
            elif kind == "c" or kind == "C":
                change = _change_of(event[1:11], event[11] if kind == "C" else None)
                self._arrive(change)
                if self._listeners:
                    self._tell(change)
            elif kind == "r":
                self._read_local(event[1], event[2], event[3], None)
            elif kind == "t":
                self._typing_local(event[1], event[2])
            elif kind == "p":
                self._presence_local(*event[1:5])
            elif kind == "s":
                _, name, display, away, status = event[:5]
                profile = Profile(str(display), bool(away), str(status))
                self.store.remember_profile(name, profile)
                self._profile_local(name, profile, None)
            elif kind == "b":
                _, blocker, target, on = event[:4]
                self.block_epoch += 1
                if blocker in self.by_user:
                    self._block_local(blocker, target, bool(on))
                    self._reread_blocks(blocker)
            elif kind == "j":
                self._member_local(event[1], event[2], event[3])
            elif kind == "x":
                self._logout_local(event[1])
            elif kind == "u":
                self._to_user_local(event[1], event[2], event[3], None)
            elif kind == "k":
                room, user, joined, role, by, reason, v1 = event[1:8]
                self._membership_local(room, user, joined, role, by, reason, v1, len(event) > 8 and event[8] is True)
            elif kind == "o":
                self._room_local(event[1], event[2])
            elif kind == "i":
                self._invited_local(event[1], event[2], event[3])
            elif kind == "d":
                self._disabled_local(event[1])
            elif kind == "v":
                self._logout_local(event[1], None, "revoked")

    # --- the pub/sub reader -----------------------------------------------------------

    async def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read_bus())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def stop(self) -> None:
        self.order.close()
        for task in tuple(self._tasks):
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            # bounded: a subscription stuck on a broken connection must not stall shutdown
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(self._reader, 2)

    def _regained(self) -> None:
        """The subscription is back after a loss (ours, or the client's own
        reconnect): tell the resubscription hooks."""
        log.info("bus subscription made again; events published meanwhile were missed")
        for callback in self._resubscribed:
            try:
                callback()
            except Exception:
                log.exception("a resubscription hook failed")

    def _heard(self, data: bytes) -> None:
        """One bus message (called from the subscription's socket callback):
        another node's events; this node's own come back too, and are skipped."""
        if data.startswith(self._prefix):
            return
        try:
            _, _, body = data.partition(b"|")
            self._apply_remote(msgpack.unpackb(body, raw=False))
        except Exception:
            log.exception("bad event on the bus; skipped")

    async def _read_bus(self) -> None:
        """One reader task; resubscribes after Redis goes away and comes back."""
        delay = 0.1
        lost = False
        while True:
            pubsub = None
            try:
                pubsub = await self.store.subscribe_bus(self._heard, on_reconnect=self._regained)
                self._subscribed.set()
                delay = 0.1
                if lost:
                    lost = False
                    self._regained()
                await pubsub.run()
            except asyncio.CancelledError:
                raise
            except (OSError, StorageUnavailable) as exc:
                lost = True
                log.warning("bus subscription lost (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pubsub.aclose(), 1)


def _change_fields(change: StoredChange) -> list[Any]:
    c = change
    return [c.conv_id, c.id, c.kind.code, c.mid, c.actor, c.text, c.edited, c.emoji, c.on, c.author]


_KINDS = {kind.code: kind for kind in ChangeKind}


def _change_of(fields: list[Any], prev: str | None = None) -> StoredChange:
    cid, change_id, code, mid, actor, text, edited, emoji, on, author = fields
    return StoredChange(change_id, cid, _KINDS[code], mid, actor, text, edited, emoji, on, author, prev)
