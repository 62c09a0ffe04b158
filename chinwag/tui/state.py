"""What the client knows about a chat session: conversations, people, rooms,
unread counts and typing. Pure Python, no Textual, no I/O: the chat screen
feeds it events and asks it what to show, so the rules live in one place.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..protocol import limits
from ..protocol.address import Address
from ..protocol.client import Sent
from ..protocol.messages import Message, User

NoticeLevel = Literal["info", "error", "event"]  # how a notice line is drawn

LOBBY = Address.room(limits.LOBBY)
TYPING_SHOWN_S = 6.0
Key = tuple[int, int, int]


def order_key(message: Message) -> Key:
    """Where a message sorts in its conversation. Server mids are Redis stream
    ids (`ms-seq`); anything else falls back to the timestamp."""
    head, _, tail = message.mid.partition("-")
    if head.isdigit() and tail.isdigit():
        return (int(head), int(tail), 0)
    return (message.ts, 0, 0)


def mention_pattern(username: str) -> re.Pattern[str]:
    """`@alice` or `alice` as a whole word, any case."""
    return re.compile(rf"(?<![\w.-])@?{re.escape(username)}(?![\w-])", re.IGNORECASE)


def is_action(text: str) -> bool:
    """`/me waves` is sent as text and shown as an action by chinwag clients."""
    return text.startswith("/me ") and len(text) > 4


@dataclass(slots=True)
class Notice:
    """A line only this client shows: command output, errors, joins."""

    text: str
    level: NoticeLevel
    key: Key
    ts: int


@dataclass(slots=True)
class Pending:
    """A line the user sent that the server has not accepted yet."""

    cmid: str
    text: str
    ts: int
    error: str | None = None


Line = Message | Notice


class Conversation:
    """One conversation's lines in order, its unsent lines, and its counters."""

    def __init__(self, address: str) -> None:
        self.address = Address.of(address)
        self.lines: list[Line] = []
        self.keys: list[Key] = []
        self.mids: set[str] = set()
        self.pending: dict[str, Pending] = {}
        self.unread = 0
        self.mentions = 0
        self.marker: str | None = None  # mid of the first unread message
        self.more: bool | None = None  # None: history not fetched yet
        self.loading = False
        self.missing: str | None = None  # why this conversation cannot be read
        self.version = 0  # bumped by every change that is not an append at the end
        self.replay_left = 0  # offline messages still to come, already counted
        self._notices = 0

    @property
    def is_room(self) -> bool:
        return self.address.is_room

    @property
    def name(self) -> str:
        return self.address.name

    @property
    def oldest_mid(self) -> str | None:
        for line in self.lines:
            if type(line) is Message:
                return line.mid
        return None

    def add(self, message: Message) -> bool:
        """Insert a message once; False if it is already here."""
        if message.mid in self.mids:
            return False
        self.mids.add(message.mid)
        key = order_key(message)
        if not self.keys or key > self.keys[-1]:
            self.lines.append(message)
            self.keys.append(key)
        else:
            at = bisect.bisect_right(self.keys, key)
            self.lines.insert(at, message)
            self.keys.insert(at, key)
            self.version += 1
        if message.cmid is not None and message.cmid in self.pending:
            del self.pending[message.cmid]
        return True

    def add_history(self, messages: Iterable[Message], more: bool) -> int:
        """Merge a page of older messages (oldest first); how many were new."""
        fresh = [m for m in messages if m.mid not in self.mids]
        self.more = more
        if not fresh:
            self.version += 1
            return 0
        keys = [order_key(m) for m in fresh]
        if not self.keys or keys[-1] < self.keys[0]:
            self.lines[:0] = fresh
            self.keys[:0] = keys
            self.mids.update(m.mid for m in fresh)
            for m in fresh:
                if m.cmid is not None:
                    self.pending.pop(m.cmid, None)
        else:
            for m in fresh:
                self.add(m)
        self.version += 1
        return len(fresh)

    def add_notice(self, text: str, level: NoticeLevel, ts: int) -> Notice:
        self._notices += 1
        last = self.keys[-1] if self.keys else (ts, 0, 0)
        notice = Notice(text, level, (last[0], last[1], last[2] + 1), ts)
        self.lines.append(notice)
        self.keys.append(notice.key)
        return notice

    def add_pending(self, cmid: str, text: str, ts: int) -> Pending:
        pending = Pending(cmid, text, ts)
        self.pending[cmid] = pending
        return pending

    def confirm(self, cmid: str, sent: Sent, sender: str) -> bool:
        """The server's `ok` for a pending line; True if the line moved."""
        pending = self.pending.pop(cmid, None)
        if pending is None:
            return False
        if sent.mid not in self.mids:
            self.add(Message(sent.mid, self.address, sender, pending.text, sent.ts, cmid))
        return True

    def fail(self, cmid: str, reason: str) -> bool:
        pending = self.pending.get(cmid)
        if pending is None:
            return False
        pending.error = reason
        return True

    def clear_marker(self) -> None:
        if self.marker is not None:
            self.marker = None
            self.version += 1


@dataclass(slots=True)
class Person:
    username: str
    display_name: str
    online: bool = False
    talked: bool = False  # there is a direct conversation with them


@dataclass(frozen=True, slots=True)
class SidebarEntry:
    address: Address
    label: str
    unread: int
    mentions: int
    online: bool | None  # None for rooms
    section: Literal["rooms", "people"]


@dataclass(slots=True)
class Arrival:
    """What one incoming message changed."""

    conversation: Conversation
    new: bool
    counted: bool = False  # raised an unread badge
    mention: bool = False
    alert: bool = False  # worth a bell (see ChatState.receive)


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

    def __post_init__(self) -> None:
        self._mention = mention_pattern(self.me.username)
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

    # --- session ---------------------------------------------------------------------------

    def begin_session(self, unread: dict[str, int]) -> None:
        """Counts from `login`: the offline messages that follow are already counted."""
        self.catching_up = bool(unread)
        for address, count in unread.items():
            conv = self.conversation(address)
            conv.unread += count if address != self.current else 0
            conv.replay_left = min(count, limits.REPLAY_MAX)

    # --- events -------------------------------------------------------------------------------

    def talked_in(self, address: str) -> None:
        """A direct conversation has lines: its person stays in the sidebar."""
        address = Address.of(address)
        if not address.is_room:
            self.person(address.name).talked = True

    def receive(self, message: Message) -> Arrival:
        """Take in one message. The alert rule lives here: a direct message
        or a mention rings the bell (and counts in the window title) when it
        is out of view and live, not replayed; or when it is in view but the
        terminal window is not in front, once the catch-up is over."""
        conv = self.conversation(message.conv)
        if not conv.add(message):
            return Arrival(conv, False)
        self.talked_in(conv.address)
        arrival = Arrival(conv, True)
        if message.sender == self.me.username:
            return arrival
        self.stop_typing(message.conv, message.sender)
        replayed = conv.replay_left > 0
        if replayed:
            conv.replay_left -= 1
        in_view = message.conv == self.current
        mention = conv.is_room and self.mentions_me(message.text)
        arrival.mention = mention
        if conv.marker is None and (replayed or not in_view):
            conv.marker = message.mid
        for_me = mention or not conv.is_room
        if not in_view:
            if not replayed:
                conv.unread += 1
                arrival.counted = True
            if mention:
                conv.mentions += 1
            arrival.alert = for_me and not replayed
        else:
            arrival.alert = for_me and not self.window_focused and not self.catching_up
        return arrival

    def set_presence(self, user: User, online: bool) -> None:
        if user.username == self.me.username:
            return
        self.person(user.username, user.display_name).online = online
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
        self.conversation(Address.room(room))

    def left(self, room: str) -> None:
        address = Address.room(room)
        self.rooms.pop(room, None)
        self.conversations.pop(address, None)
        self.typing.pop(address, None)
        if self.current == address:
            self.current = LOBBY

    def online_count(self) -> int:
        """People online, this user included."""
        return 1 + sum(1 for p in self.people.values() if p.online and p.username != self.me.username)

    def set_rooms(self, listing: Iterable[dict[str, object]]) -> None:
        for room in listing:
            name, members = str(room.get("name")), room.get("members")
            count = members if isinstance(members, int) else 0
            if room.get("joined"):
                self.rooms[name] = count
                self.conversation(Address.room(name))
            else:
                self.other_rooms[name] = count

    # --- navigation -------------------------------------------------------------------------

    def open(self, address: str) -> Conversation:
        """Make `address` the conversation in view; the one left loses its
        "new messages" line, the one opened loses its badge."""
        previous = self.conversations.get(self.current)
        if previous is not None and previous.address != address:
            previous.clear_marker()
        conv = self.conversation(address)
        self.current = conv.address
        conv.unread = 0
        conv.mentions = 0
        return conv

    def sidebar(self) -> list[SidebarEntry]:
        """Rooms (lobby first) then people: online, then offline ones talked to."""
        out: list[SidebarEntry] = []
        for room in sorted(self.rooms, key=lambda r: (r != limits.LOBBY, r)):
            address = Address.room(room)
            conv = self.conversations.get(address)
            out.append(
                SidebarEntry(address, room, conv.unread if conv else 0, conv.mentions if conv else 0, None, "rooms")
            )

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
            conv = self.conversations.get(address)
            out.append(
                SidebarEntry(
                    address, p.username, conv.unread if conv else 0, conv.mentions if conv else 0, p.online, "people"
                )
            )
        return out

    def step(self, delta: int) -> Address:
        """The conversation `delta` places from the current one in sidebar order."""
        addresses = [e.address for e in self.sidebar()]
        if self.current not in addresses:
            return addresses[0]
        return addresses[(addresses.index(self.current) + delta) % len(addresses)]

    def next_unread(self) -> Address | None:
        """The next conversation with unread lines after the current one,
        preferring mentions and direct messages."""
        entries = self.sidebar()
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
