"""What the client knows about a chat session: conversations, people, rooms,
unread counts and typing. Pure Python, no Textual, no I/O: the chat screen
feeds it events and asks it what to show, so the rules live in one place.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..protocol import limits
from ..protocol.address import Address
from ..protocol.messages import ChangeEvent, MemberEvent, Message, NotifySettings, Room, RoomInfo, User
from .desktop_notify import highlight_hit, should_notify
from .history import CATCH_UP_MAX, CATCH_UP_MOST
from .timeline import Conversation, Key, Line, Notice, NoticeLevel, Pending, is_action, mid_key, order_key

__all__ = [
    "LOBBY",
    "Arrival",
    "Backlog",
    "CatchUp",
    "ChatState",
    "Conversation",
    "Key",
    "Line",
    "MemberRow",
    "Notice",
    "NoticeLevel",
    "Pending",
    "Person",
    "RoomDetail",
    "SidebarEntry",
    "is_action",
    "mention_pattern",
    "order_key",
]

LOBBY = Address.room(limits.LOBBY)
TYPING_SHOWN_S = 6.0
MODERATORS = (limits.ROLE_OWNER, limits.ROLE_MODERATOR)  # the roles that may moderate a room
ROLE_GROUPS = ((limits.ROLE_OWNER, "Owner"), (limits.ROLE_MODERATOR, "Moderators"), (limits.ROLE_MEMBER, "Members"))


def mention_pattern(username: str) -> re.Pattern[str]:
    """`@alice` or `alice` as a whole word, any case."""
    return re.compile(rf"(?<![\w.-])@?{re.escape(username)}(?![\w-])", re.IGNORECASE)


@dataclass(slots=True)
class Person:
    username: str
    display_name: str
    online: bool = False
    talked: bool = False  # there is a direct conversation with them
    away: bool = False
    status: str = ""  # their own words (`people`): another party's string

    def take(self, user: User) -> None:
        """What a user object says about them (display name, and with `people` away and status)."""
        self.display_name = user.display_name or self.display_name
        if user.away is not None:
            self.away = user.away
        if user.status is not None:
            self.status = user.status


@dataclass(slots=True)
class RoomDetail:
    """What `rooms` says about one room: its topic, privacy, this user's
    role there, and (once `room_info` answered) who is in it with what role."""

    topic: str = ""
    private: bool = False
    role: str | None = None  # this user's own; None if not a member (or unknown)
    members: dict[str, str] = field(default_factory=dict)  # username -> role
    loaded: bool = False  # members came from room_info (and events since)
    more: bool = False  # room_info was cut to fit a frame: more members than listed


@dataclass(frozen=True, slots=True)
class MemberRow:
    username: str
    display_name: str
    role: str
    online: bool
    away: bool
    status: str
    me: bool = False


@dataclass(frozen=True, slots=True)
class SidebarEntry:
    address: Address
    label: str
    unread: int
    mentions: int
    online: bool | None  # None for rooms
    section: Literal["rooms", "people", "invitations"]
    detail: str = ""  # invitations: who invited
    away: bool = False  # people: online but away (`people`)


@dataclass(slots=True)
class Arrival:
    """What one incoming message changed."""

    conversation: Conversation
    new: bool
    counted: bool = False  # raised an unread badge
    mention: bool = False
    notify: bool = False  # worth a desktop notification or the bell (see ChatState.notifies)


@dataclass(slots=True)
class Backlog:
    """A conversation's offline messages from others as the login/resume
    reply counted them (`unread`), and what its replay brought of them: the
    replay carries only the newest REPLAY_MAX, so the rest is fetched
    (`catch_up`) once the conversation is opened."""

    unread: int
    after: str | None = None  # `read`: the read marker the count starts after (None: from the first message)
    first: str | None = None  # the oldest message the replay brought (None: it brought none)
    held: int = 0  # messages from others, not deleted, the replay brought: counted as `unread` counts
    loading: bool = False

    @property
    def missing(self) -> int:
        return self.unread - self.held


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What to ask `catch_up` for a backlog: history back from `before`
    until the messages from others, `held` of them held already, reach
    `target` (the backlog's count, or fewer: CATCH_UP_MAX)."""

    address: Address
    before: str | None
    held: int
    target: int
    capped: bool  # `target` is below the count: older unread messages are left for scrolling
    backlog: Backlog


@dataclass
class ChatState:
    me: User
    current: Address = LOBBY
    conversations: dict[str, Conversation] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    rooms: dict[str, int] = field(default_factory=dict)  # joined room -> members
    other_rooms: dict[str, int] = field(default_factory=dict)  # rooms not joined
    typing: dict[str, dict[str, float]] = field(default_factory=dict)
    catching_up: bool = False
    window_focused: bool = True  # the terminal window is in front (the screen keeps it current)
    features: frozenset[str] = frozenset()  # the extensions in effect (PROTOCOL-EXTENSIONS.md)
    replaying: bool = False  # `read`: what arrives now was counted by login/resume already
    details: dict[str, RoomDetail] = field(default_factory=dict)  # room -> topic, privacy, roles
    invitations: dict[str, str] = field(default_factory=dict)  # room -> who invited this user
    blocked: set[str] = field(default_factory=set)
    admin: bool = False  # a server admin (acts as owner of every room), if the server said so
    away: bool = False  # this user's own status
    status: str = ""
    # `notify`: levels per conversation and highlight keywords (the defaults until the server says)
    notify_settings: NotifySettings = field(default_factory=lambda: NotifySettings({}, ()))
    backlogs: dict[str, Backlog] = field(default_factory=dict)  # what login/resume counted and may not have brought
    recording: bool = False  # a replay is arriving: `_replayed` notes what it brings
    _replayed: dict[str, Backlog] = field(default_factory=dict)  # per conversation: first mid, messages from others
    _read_before: dict[str, str] = field(default_factory=dict)  # read markers when the replay began

    def __post_init__(self) -> None:
        self._mention = mention_pattern(self.me.username)
        self.away = self.away or bool(self.me.away)  # `people`: as the login left them
        self.status = self.status or (self.me.status or "")
        self.rooms.setdefault(limits.LOBBY, 0)
        self.conversation(LOBBY)

    # --- lookups ------------------------------------------------------------------------

    def conversation(self, address: str) -> Conversation:
        conv = self.conversations.get(address)
        if conv is None:
            conv = Conversation(address)
            self.conversations[conv.address] = conv
            if conv.is_room:
                self.rooms.setdefault(conv.name, 0)
                self.other_rooms.pop(conv.name, None)
            else:
                self.person(conv.name)
        return conv

    def person(self, username: str, display_name: str | None = None) -> Person:
        person = self.people.get(username)
        if person is None:
            person = self.people[username] = Person(username, display_name or username)
        elif display_name:
            person.display_name = display_name
        return person

    def mentions_me(self, text: str) -> bool:
        return self._mention.search(text) is not None

    @property
    def mention_re(self) -> re.Pattern[str]:
        return self._mention

    @property
    def changes(self) -> bool:
        """`messages`: messages can be edited, deleted, replied to and reacted to."""
        return limits.FEATURE_MESSAGES in self.features

    @property
    def read_markers(self) -> bool:
        """`read`: unread counts and the "new messages" line follow the
        server's read marker, shared by the user's devices."""
        return limits.FEATURE_READ in self.features

    def may_edit(self, message: Message) -> bool:
        return message.sender == self.me.username and not message.deleted

    def may_delete(self, message: Message) -> bool:
        """The one rule for who may delete a message here: its author, and in
        a room its owner and moderators (this user's role there) and the
        server's admins."""
        if message.deleted:
            return False
        if message.sender == self.me.username:
            return True
        address = Address.of(message.conv)
        return address.is_room and self.may_moderate(address.name)

    def role_in(self, room: str) -> str | None:
        detail = self.details.get(room)
        return detail.role if detail is not None else None

    def may_moderate(self, room: str) -> bool:
        """Owner, moderator, or an admin (who acts as owner everywhere)."""
        return self.admin or self.role_in(room) in MODERATORS

    # --- session ---------------------------------------------------------------------------

    def begin_session(
        self, unread: Mapping[str, int], read: Mapping[str, str] | None = None, features: Iterable[str] = ()
    ) -> None:
        """Counts from `login`: the offline messages that follow are already
        counted. With `read` the counts are from the read markers, exact."""
        self.features = frozenset(features)
        self.catching_up = bool(unread)
        if self.read_markers:
            self.replaying = True
            for address, mid in (read or {}).items():
                if _is_address(address):
                    self.conversation(address).read_upto = mid
        self._record_replay()
        if self.read_markers:
            for address, count in unread.items():
                self.conversation(address).unread = count
            return
        for address, count in unread.items():
            conv = self.conversation(address)
            conv.unread += count if address != self.current else 0
            conv.replay_left = min(count, limits.REPLAY_MAX)

    def reconnecting(self) -> None:
        """The link is being made again: with `read`, what the resume
        replays is counted by its reply, not one by one."""
        self._record_replay()
        if self.read_markers:
            self.replaying = True

    def _record_replay(self) -> None:
        """What arrives until the link is up again is the replay: note, per
        conversation, its oldest message and how many of `unread` it brought,
        and the read markers as they were before it (the view may move them
        while the replay comes)."""
        self.recording = True
        self._replayed = {}
        self._read_before = {a: c.read_upto for a, c in self.conversations.items() if c.read_upto is not None}

    def _take_backlogs(self, unread: Mapping[str, int], read: Mapping[str, str]) -> None:
        """The replay is over: where the reply counted more messages from
        others than the replay brought, the conversation has a backlog to
        fetch when it is opened. A count of `read` is exact and replaces
        what was known; one without it (after the delivery cursor) counts
        only what came since, so an older backlog not yet fetched stays
        unless the new one has a hole of its own."""
        self.recording = False
        replayed, self._replayed = self._replayed, {}
        if self.read_markers:
            self.backlogs = {}
        for address, count in unread.items():
            if not _is_address(address) or type(count) is not int or count <= 0:
                continue
            address = Address.of(address)
            seen = replayed.get(address)
            backlog = Backlog(count, self._read_upto(address, read.get(address)) if self.read_markers else None)
            if seen is not None:
                backlog.first, backlog.held = seen.first, seen.held
            if backlog.missing > 0:
                self.backlogs[address] = backlog

    def resumed(self, unread: Mapping[str, int], read: Mapping[str, str]) -> list[tuple[Address, str]]:
        """The link is up and its catch-up done: with `read`, take the
        server's markers (a device may have read meanwhile) and exact counts.
        Returns the markers this client moved that the server has not heard
        of (sent while the link was down), to send again."""
        self.replaying = False
        self._take_backlogs(unread, read)
        if not self.read_markers:
            return []
        again: list[tuple[Address, str]] = []
        for address, conv in self.conversations.items():
            server = read.get(address)
            if server is not None:
                self.mark_read(address, server)
            local = conv.read_upto
            local_key = mid_key(local) if local is not None else None
            server_key = mid_key(server) if server is not None else None
            if local is not None and local_key is not None and (server_key is None or local_key > server_key):
                again.append((conv.address, local))
                conv.unread = self._unread_after(conv, local_key)
            else:
                conv.unread = unread.get(address, 0)
        return again

    # --- events -------------------------------------------------------------------------------

    def talked_in(self, address: str) -> None:
        """A direct conversation has lines: its person stays in the sidebar."""
        address = Address.of(address)
        if not address.is_room:
            self.person(address.name).talked = True

    def receive(self, message: Message) -> Arrival:
        """Take in one message. Whether it notifies (`notifies`: by the
        conversation's level, a direct message or a mention by default) is
        decided here for a live one, not replayed, and in view only once
        the catch-up is over."""
        conv = self.conversation(message.conv)
        if not conv.add(message):
            return Arrival(conv, False)
        if self.recording:
            self._note_replayed(conv, message)
        self.talked_in(conv.address)
        arrival = Arrival(conv, True)
        if message.sender == self.me.username:
            return arrival
        self.stop_typing(message.conv, message.sender)
        if self.read_markers:
            return self._receive_unread(conv, message, arrival)
        replayed = conv.replay_left > 0
        if replayed:
            conv.replay_left -= 1
        in_view = message.conv == self.current
        mention = conv.is_room and self.mentions_me(message.text)
        arrival.mention = mention
        if conv.marker is None and (replayed or not in_view):
            conv.marker = message.mid
        if not in_view:
            if not replayed:
                conv.unread += 1
                arrival.counted = True
            if mention:
                conv.mentions += 1
        live = not replayed and not (in_view and self.catching_up)
        arrival.notify = live and self.notifies(conv, message, mention, in_view)
        return arrival

    def _read_upto(self, address: str, server: str | None) -> str | None:
        """The later of the server's read marker and this client's before
        the replay (moved while the link was down, not heard of there yet)."""
        local = self._read_before.get(address)
        if local is None or server is None:
            return local or server
        return local if (mid_key(local) or (0, 0, 0)) > (mid_key(server) or (0, 0, 0)) else server

    def _note_replayed(self, conv: Conversation, message: Message) -> None:
        seen = self._replayed.get(conv.address)
        if seen is None:
            seen = self._replayed[conv.address] = Backlog(0, first=message.mid)
        if message.sender != self.me.username and not message.deleted:
            seen.held += 1

    def _receive_unread(self, conv: Conversation, message: Message, arrival: Arrival) -> Arrival:
        """`receive` with read markers: a message at or before the marker
        was read on another device; one after it is unread until it has been
        on screen, in view or not (the screen moves the marker)."""
        if conv.read_upto is not None and order_key(message) <= (mid_key(conv.read_upto) or (0, 0, 0)):
            return arrival
        in_view = conv.address == self.current
        replayed = self.replaying
        mention = conv.is_room and self.mentions_me(message.text)
        arrival.mention = mention
        if not replayed:
            conv.unread += 1
            arrival.counted = not in_view
        if mention:
            conv.mentions += 1
        if conv.marker is None and (replayed or not in_view or not self.window_focused):
            conv.marker = message.mid
        arrival.notify = not replayed and self.notifies(conv, message, mention, in_view)
        return arrival

    def notifies(self, conv: Conversation, message: Message, mention: bool, in_view: bool) -> bool:
        """Whether a live message from someone else is worth a desktop
        notification: by the conversation's level (the user's, from the
        server), unless it is in front of them (desktop_notify.should_notify)."""
        settings = self.notify_settings
        return should_notify(
            settings.level(conv.address),
            direct=not conv.is_room,
            mentioned=mention,
            highlighted=not message.deleted and highlight_hit(message.text, settings.words),
            focused=self.window_focused,
            open_here=in_view,
        )

    def apply_change(self, change: ChangeEvent) -> Conversation:
        """An edit, deletion or reaction (never counted as unread)."""
        conv = self.conversation(change.conv)
        conv.apply(change)
        return conv

    def mark_read(self, address: str, mid: str) -> bool:
        """Move the read marker of `address` forward to `mid` (seen here, or
        on another device); the messages it passes are no longer unread.
        False if it did not move."""
        conv = self.conversations.get(address)
        key = mid_key(mid)
        if conv is None or key is None:
            return False
        old = mid_key(conv.read_upto) if conv.read_upto is not None else None
        if old is not None and key <= old:
            return False
        conv.read_upto = mid
        newest = conv.newest()
        if newest is None or order_key(newest) <= key:
            conv.unread = conv.mentions = 0
            return True
        passed = mentions = 0
        start = bisect.bisect_right(conv.keys, old) if old is not None else 0
        for line in conv.lines[start : bisect.bisect_right(conv.keys, key)]:
            if type(line) is Message and line.sender != self.me.username:
                passed += 1
                mentions += conv.is_room and self.mentions_me(line.text)
        conv.unread = max(0, conv.unread - passed)
        conv.mentions = max(0, conv.mentions - mentions)
        return True

    def _unread_after(self, conv: Conversation, key: Key) -> int:
        start = bisect.bisect_right(conv.keys, key)
        return sum(1 for line in conv.lines[start:] if type(line) is Message and line.sender != self.me.username)

    def first_unread(self, conv: Conversation) -> str | None:
        """The first loaded message from someone else after the read marker."""
        return self._first_after(conv, conv.read_upto)

    def _first_after(self, conv: Conversation, mid: str | None) -> str | None:
        key = mid_key(mid) if mid is not None else None
        start = bisect.bisect_right(conv.keys, key) if key is not None else 0
        for line in conv.lines[start:]:
            if type(line) is Message and line.sender != self.me.username:
                return line.mid
        return None

    # --- backlogs: what a replay left out ---------------------------------------------------

    def catch_up_for(self, address: str) -> CatchUp | None:
        """The catch-up conversation `address` wants, if its replay is over
        and it holds fewer of its backlog than the reply counted; marked as
        loading (one at a time)."""
        backlog = self.backlogs.get(address)
        conv = self.conversations.get(address)
        if backlog is None or backlog.loading or self.recording or conv is None:
            return None
        want = min(backlog.missing, CATCH_UP_MAX)
        if want <= 0:
            del self.backlogs[address]
            return None
        backlog.loading = True
        return CatchUp(conv.address, backlog.first, backlog.held, backlog.held + want, want < backlog.missing, backlog)

    def catch_up_failed(self, plan: CatchUp) -> None:
        """Kept to be tried again: at the next opening, or when the link is back."""
        plan.backlog.loading = False

    def caught_up(self, plan: CatchUp, messages: list[Message]) -> None:
        """Merge what a catch-up brought (oldest first, all older than
        `plan.before`) and, in the conversation in view, put the "new
        messages" line at the first unread message. With `read`, that is the
        first from others after the read marker the count started from,
        exact: the line goes there (from where opening the conversation put
        it, before the read marker moved). Without, the count is of the
        newest messages from others after the delivery cursor, so the first
        is that many back, and the line moves there only if it is earlier:
        a version 1 line marks what arrived unseen, which a resume does not
        change."""
        if self.backlogs.get(plan.address) is plan.backlog:
            del self.backlogs[plan.address]
        conv = self.conversations.get(plan.address)
        if conv is None:
            return
        me = self.me.username
        counted = plan.held + sum(1 for m in messages if m.sender != me and not m.deleted)
        reached = counted >= plan.target
        bounded = not reached and len(messages) >= CATCH_UP_MOST  # stopped reading, older ones left for scrolling
        more = reached or bounded  # if neither, the server had no older messages
        conv.add_below(messages, more, plan.before, hole=(plan.capped or bounded) and more)
        if messages:
            self.talked_in(conv.address)
        if conv.address != self.current:
            return  # the line is the opened conversation's; this one was left meanwhile
        if self.read_markers:
            first = self._first_after(conv, plan.backlog.after)
        else:
            first, need = None, plan.backlog.missing
            for message in reversed(messages):
                if message.sender != me and not message.deleted:
                    first, need = message.mid, need - 1
                    if need <= 0:
                        break
        if first is None:
            return
        at, now = conv.index_of(first), conv.index_of(conv.marker) if conv.marker is not None else None
        if at is not None and at != now and (self.read_markers or now is None or at < now):
            conv.marker = first
            conv.version += 1

    def history_loaded(self, conv: Conversation) -> None:
        """With `read`: a page loaded into the conversation in view may hold
        where its unread messages start."""
        if self.read_markers and conv.address == self.current and conv.marker is None and conv.unread:
            conv.marker = self.first_unread(conv)
            if conv.marker is not None:
                conv.version += 1

    def set_presence(self, user: User, online: bool) -> None:
        if user.username == self.me.username:
            self.me = User(user.username, user.display_name or self.me.display_name, self.me.online)
            return
        person = self.person(user.username)
        person.take(user)
        person.online = online
        if not online:
            for typers in self.typing.values():
                typers.pop(user.username, None)

    def set_typing(self, conv: str, sender: str, now: float) -> None:
        if sender != self.me.username:
            self.typing.setdefault(conv, {})[sender] = now + TYPING_SHOWN_S

    def stop_typing(self, conv: str, sender: str) -> None:
        typers = self.typing.get(conv)
        if typers:
            typers.pop(sender, None)

    def typers(self, conv: str, now: float) -> list[str]:
        typers = self.typing.get(conv)
        if not typers:
            return []
        for name, until in list(typers.items()):
            if until <= now:
                del typers[name]
        return sorted(typers)

    def joined(self, room: str, members: int) -> None:
        self.rooms[room] = members
        self.other_rooms.pop(room, None)
        self.invitations.pop(room, None)
        self.conversation(Address.room(room))

    def left(self, room: str) -> None:
        address = Address.room(room)
        self.rooms.pop(room, None)
        self.details.pop(room, None)
        self.backlogs.pop(address, None)
        self.conversations.pop(address, None)
        self.typing.pop(address, None)
        if self.current == address:
            self.current = LOBBY

    def online_count(self) -> int:
        """People online, this user included."""
        return 1 + sum(1 for p in self.people.values() if p.online and p.username != self.me.username)

    def set_rooms(self, listing: Iterable[Room]) -> None:
        for room in listing:
            if room.joined:
                self.rooms[room.name] = room.members
                self.conversation(Address.room(room.name))
                self.set_room(room)
            else:
                self.other_rooms[room.name] = room.members

    # --- rooms (`rooms`): topic, privacy, roles, members ---------------------------------

    def detail(self, room: str) -> RoomDetail:
        found = self.details.get(room)
        if found is None:
            found = self.details[room] = RoomDetail()
        return found

    def set_room(self, room: Room) -> None:
        """A room object (join, rooms, room_info, the `room` event)."""
        detail = self.detail(room.name)
        detail.topic, detail.private, detail.role = room.topic or "", bool(room.private), room.role
        if room.name in self.rooms and room.members:
            self.rooms[room.name] = room.members
        if detail.loaded and room.role is not None:
            detail.members[self.me.username] = room.role

    def set_room_info(self, info: RoomInfo) -> None:
        """`room_info`: the member list, replacing what was known."""
        self.set_room(info.room)
        detail = self.detail(info.room.name)
        detail.members = {}
        for member in info.members:
            detail.members[member.user] = member.role
            if member.user == self.me.username:
                detail.role = member.role
                continue
            person = self.person(member.user, member.display_name or None)
            person.online = bool(member.online)
            if member.away is not None:
                person.away = bool(member.away)
            if member.status is not None:
                person.status = member.status
        detail.loaded, detail.more = True, info.more
        if detail.role is not None and self.me.username not in detail.members:
            detail.members[self.me.username] = detail.role

    def member_changed(self, event: MemberEvent) -> str | None:
        """A `member` event: who is in the room and with what role. Returns
        the member's role before the event (None if they were not in it)."""
        detail = self.details.get(event.room)
        name = event.user.username
        before = detail.members.get(name) if detail is not None else None
        if name != self.me.username:
            self.person(name).take(event.user)
        if detail is None:
            return before
        if event.joined:
            role = event.role or before or limits.ROLE_MEMBER
            if detail.loaded or name == self.me.username:
                detail.members[name] = role
            if name == self.me.username:
                detail.role = role
        else:
            detail.members.pop(name, None)
        return before

    def members(self, room: str) -> list[tuple[str, list[MemberRow]]]:
        """The member list of `room` grouped by role (owner, moderators,
        members), each group online first (not away before away), then by name."""
        detail = self.details.get(room)
        if detail is None:
            return []
        groups: dict[str, list[MemberRow]] = {role: [] for role, _ in ROLE_GROUPS}
        for name, role in detail.members.items():
            if name == self.me.username:
                row = MemberRow(name, self.me.display_name, role, True, self.away, self.status, me=True)
            else:
                p = self.person(name)
                row = MemberRow(name, p.display_name, role, p.online, p.away, p.status)
            groups.get(role, groups[limits.ROLE_MEMBER]).append(row)
        out = []
        for role, heading in ROLE_GROUPS:
            rows = sorted(groups[role], key=lambda r: (not r.online, r.away, r.username))
            if rows:
                out.append((heading, rows))
        return out

    def invited(self, room: str, by: str) -> None:
        if room not in self.rooms:
            self.invitations[room] = by

    # --- navigation -------------------------------------------------------------------------

    def open(self, address: str) -> Conversation:
        """Make `address` the conversation in view; the one left loses its
        "new messages" line, the one opened loses its badge (with `read`,
        the badge is not shown while in view, and counts down as lines are seen)."""
        previous = self.conversations.get(self.current)
        if previous is not None and previous.address != address:
            previous.clear_marker()
        conv = self.conversation(address)
        self.current = conv.address
        if self.read_markers:  # the count stays until the lines have been seen
            if conv.marker is None and conv.unread:
                conv.marker = self.first_unread(conv)
            return conv
        conv.unread = 0
        conv.mentions = 0
        return conv

    def sidebar(self) -> list[SidebarEntry]:
        """Rooms (lobby first) then people: online, then offline ones talked to."""
        out: list[SidebarEntry] = []
        for room, by in sorted(self.invitations.items()):
            out.append(SidebarEntry(Address.room(room), room, 0, 0, None, "invitations", by))

        def counts(address: Address) -> tuple[int, int]:
            conv = self.conversations.get(address)
            if conv is None or (address == self.current and self.read_markers):
                return 0, 0
            return conv.unread, conv.mentions

        for room in sorted(self.rooms, key=lambda r: (r != limits.LOBBY, r)):
            address = Address.room(room)
            out.append(SidebarEntry(address, room, *counts(address), None, "rooms"))

        def listed(p: Person) -> bool:
            address = Address.user(p.username)
            if address == self.current:
                return True
            conv = self.conversations.get(address)
            return (p.online or p.talked) and not (conv is not None and conv.missing)

        people = [p for p in self.people.values() if p.username != self.me.username and listed(p)]
        people.sort(key=lambda p: (not p.online, p.username))
        for p in people:
            address = Address.user(p.username)
            out.append(SidebarEntry(address, p.username, *counts(address), p.online, "people", away=p.away))
        return out

    def step(self, delta: int) -> Address:
        """The conversation `delta` places from the current one in sidebar order."""
        addresses = [e.address for e in self.sidebar() if e.section != "invitations"]
        if self.current not in addresses:
            return addresses[0]
        return addresses[(addresses.index(self.current) + delta) % len(addresses)]

    def next_unread(self) -> Address | None:
        """The next conversation with unread lines after the current one,
        preferring mentions and direct messages."""
        entries = [e for e in self.sidebar() if e.section != "invitations"]
        addresses = [e.address for e in entries]
        start = addresses.index(self.current) + 1 if self.current in addresses else 0
        ordered = entries[start:] + entries[:start]
        urgent = [e for e in ordered if e.mentions or (e.unread and e.section == "people")]
        rest = [e for e in ordered if e.unread]
        for entry in urgent + rest:
            if entry.address != self.current:
                return entry.address
        return None

    def alerts(self) -> int:
        """Unread direct messages plus mentions: the number in the window title."""
        total = 0
        for conv in self.conversations.values():
            total += conv.mentions if conv.is_room else conv.unread
        return total


def _is_address(text: str) -> bool:
    try:
        Address.of(text)
    except ValueError:
        return False
    return True
