"""One conversation's lines in order: messages (in their current state),
the client's own notices, the lines not yet accepted, and the gaps where
history has not been loaded. Pure Python, no Textual, no I/O.

Every history page says what is now known: `history(before=X)` returns the
newest messages older than X, so the page's range, from its oldest message
up to just below X, is complete. A conversation is loaded from its newest
message back, with a hole at the top (`more`); a jump to an old message (a
reply's parent, a search result) loads a page around it, which leaves a
`Gap` between that page and what was loaded before. Gaps close as pages
fill them, from either side.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from ..protocol import limits
from ..protocol.address import Address
from ..protocol.client import Sent
from ..protocol.messages import ChangeEvent, DeletedEvent, EditedEvent, Message, ReactionEvent

NoticeLevel = Literal["info", "error", "event"]  # how a notice line is drawn
Key = tuple[int, int, int]  # (ms, seq, n): messages have n = 0, notices after a message n > 0

ORPHANS_KEPT = 500  # changes to messages not loaded yet, kept per conversation
PROBE_SAMPLE = 50  # loaded messages that estimate how dense a gap's history is
PROBE_FILL = 0.7  # aim a probe at this share of a page
PROBE_DEFAULT_MS = 3_600_000  # with nothing to estimate from: an hour


def mid_key(mid: str) -> Key | None:
    """Where a server mid (a Redis stream id, `ms-seq`) sorts; None for anything else."""
    head, _, tail = mid.partition("-")
    if head.isdigit() and tail.isdigit():
        return (int(head), int(tail), 0)
    return None


def order_key(message: Message) -> Key:
    """Where a message sorts in its conversation; a mid that is not a
    stream id falls back to the timestamp."""
    return mid_key(message.mid) or (message.ts, 0, 0)


def below(key: Key) -> Key:
    """The last key before `key` that no message can have: what a page
    asked for `before=key` is complete up to."""
    return (key[0], key[1], -1)


def key_mid(key: Key) -> str:
    return f"{key[0]}-{key[1]}"


def next_mid(mid: str) -> str:
    """The smallest id after `mid`: `history(before=next_mid(m))` ends with m."""
    ms, _, seq = mid.partition("-")
    if int(seq) < limits.MID_PART_MAX:
        return f"{ms}-{int(seq) + 1}"
    return f"{int(ms) + 1}-0"


def is_action(text: str) -> bool:
    """`/me waves` is sent as text and shown as an action by chinwag clients."""
    return text.startswith("/me ") and len(text) > 4


# --- a message's changes, as the `messages` events describe them ------------------------------


def edited(message: Message, text: str, at: int) -> Message:
    return dataclasses.replace(message, text=text, edited=at)


def deleted(message: Message) -> Message:
    """A tombstone: the text is gone (the server erased it), the place stays."""
    return dataclasses.replace(message, text="", deleted=True, edited=None, reactions={})


def reacted(message: Message, emoji: str, user: str, on: bool) -> Message:
    """Reactions keep the order they were first made in, and each emoji the
    order its users reacted in."""
    reactions = dict(message.reactions)
    users = reactions.get(emoji, ())
    if on and user not in users:
        reactions[emoji] = (*users, user)
    elif not on and user in users:
        rest = tuple(u for u in users if u != user)
        if rest:
            reactions[emoji] = rest
        else:
            del reactions[emoji]
    else:
        return message
    return dataclasses.replace(message, reactions=reactions)


def changed(message: Message, change: ChangeEvent) -> Message:
    """`message` after `change`; a change never brings a deleted message back."""
    if message.deleted:
        return message
    if type(change) is EditedEvent:
        return edited(message, change.text, change.edited)
    if type(change) is DeletedEvent:
        return deleted(message)
    assert type(change) is ReactionEvent
    return reacted(message, change.emoji, change.sender, change.on)


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
    reply_to: str | None = None


@dataclass(slots=True)
class Gap:
    """Loaded history with a hole in it: any message with `lo < key < hi`
    may exist and is not loaded. `hi` is a loaded message's key; `lo` is the
    last key known (a message's, or just below a page's `before`)."""

    lo: Key
    hi: Key
    loading: bool = False

    @property
    def hi_mid(self) -> str:
        return key_mid(self.hi)


Line = Message | Notice


class Conversation:
    """One conversation's lines in order, its unsent lines, its gaps, and its counters."""

    def __init__(self, address: str) -> None:
        self.address = Address.of(address)
        self.lines: list[Line] = []
        self.keys: list[Key] = []
        self.mids: set[str] = set()
        self.pending: dict[str, Pending] = {}
        self.gaps: list[Gap] = []
        self.unread = 0
        self.mentions = 0
        self.marker: str | None = None  # mid of the first unread message: the "new messages" line
        self.read_upto: str | None = None  # `read`: the user's read marker
        self.more: bool | None = None  # older history exists; None: history not fetched yet
        self.loading = False
        self.missing: str | None = None  # why this conversation cannot be read
        self.version = 0  # bumped by every change that is not an append at the end
        self.replay_left = 0  # offline messages still to come, already counted
        self._orphans: OrderedDict[str, list[ChangeEvent]] = OrderedDict()

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

    def messages(self) -> Iterator[Message]:
        return (line for line in self.lines if type(line) is Message)

    def newest(self) -> Message | None:
        for line in reversed(self.lines):
            if type(line) is Message:
                return line
        return None

    # --- finding and changing messages ------------------------------------------------------

    def index_of(self, mid: str) -> int | None:
        if mid not in self.mids:
            return None
        key = mid_key(mid)
        if key is not None:
            at = bisect.bisect_left(self.keys, key)
            line = self.lines[at] if at < len(self.lines) else None
            if type(line) is Message and line.mid == mid:
                return at
        for at, line in enumerate(self.lines):  # a mid that is not a stream id
            if type(line) is Message and line.mid == mid:
                return at
        return None

    def get(self, mid: str) -> Message | None:
        at = self.index_of(mid)
        if at is None:
            return None
        line = self.lines[at]
        return line if type(line) is Message else None

    def apply(self, change: ChangeEvent) -> bool:
        """Apply an edit, deletion or reaction; True if a loaded message
        changed. A change to a message not loaded is kept, and applied when
        the message arrives (a page read before the change, answered after
        it, would otherwise bring the old state back)."""
        at = self.index_of(change.mid)
        if at is None:
            kept = self._orphans.setdefault(change.mid, [])
            kept.append(change)
            self._orphans.move_to_end(change.mid)
            while len(self._orphans) > ORPHANS_KEPT:
                self._orphans.popitem(last=False)
            return False
        old = self.lines[at]
        assert type(old) is Message
        new = changed(old, change)
        if new is old:
            return False
        self.lines[at] = new
        self.version += 1
        return True

    def _adopt(self, message: Message) -> Message:
        for change in self._orphans.pop(message.mid, ()):
            message = changed(message, change)
        return message

    # --- adding lines -----------------------------------------------------------------------

    def add(self, message: Message) -> bool:
        """Insert a message once; False if it is already here."""
        if message.mid in self.mids:
            return False
        if self._orphans:
            message = self._adopt(message)
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

    def add_page(self, messages: Iterable[Message], more: bool, before: str | None) -> int:
        """Merge a page of `history(before=before)` (oldest first; `more`:
        older messages exist); how many were new. The page's range is
        complete, so the hole at the top and the gaps it overlaps shrink, and
        a page older than everything loaded leaves a gap above it."""
        page = list(messages)
        known_lo = order_key(page[0]) if page and more else None  # None: from the very first message
        before_key = mid_key(before) if before is not None else None
        known_hi = below(before_key) if before_key is not None else None  # None: up to the newest
        oldest = next((k for k, line in zip(self.keys, self.lines, strict=True) if type(line) is Message), None)
        gaps = self._subtract(self.gaps, known_lo, known_hi)
        if self.more is None or oldest is None:
            self.more = more if before is None or self.more is None else self.more and more
        elif self.more and (known_lo is None or known_lo < oldest):
            # The page reaches into the hole at the top: what is left of
            # that hole is above the page, plus a gap if the page ends below
            # the oldest loaded message.
            if known_hi is not None and known_hi < below(oldest):
                gaps.append(Gap(known_hi, oldest))
            self.more = known_lo is not None
        self.gaps = sorted(gaps, key=lambda g: g.hi)
        fresh = [m for m in page if m.mid not in self.mids]
        if fresh and not self._orphans and (not self.keys or order_key(fresh[-1]) < self.keys[0]):
            self.lines[:0] = fresh
            self.keys[:0] = [order_key(m) for m in fresh]
            self.mids.update(m.mid for m in fresh)
            for m in fresh:
                if m.cmid is not None:
                    self.pending.pop(m.cmid, None)
        else:
            for m in fresh:
                self.add(m)
        self.version += 1
        return len(fresh)

    def add_below(self, page: list[Message], more: bool, before: str | None, hole: bool) -> int:
        """Merge a catch-up, the history right below `before` (oldest first),
        as `add_page`. With `hole`, it may not reach back to the messages
        held from before a replay that was cut to its newest (a resume's,
        after more than REPLAY_MAX were missed): what lies between is a gap."""
        lo: Key | None = None
        if hole and page:
            top = order_key(page[0])
            at = bisect.bisect_left(self.keys, top)
            lo = next((self.keys[i] for i in range(at - 1, -1, -1) if type(self.lines[i]) is Message), None)
        fresh = self.add_page(page, more, before)
        if lo is not None:
            hi = order_key(page[0])
            if not any(gap.lo <= lo and hi <= gap.hi for gap in self.gaps):
                self.gaps = sorted([*self.gaps, Gap(lo, hi)], key=lambda g: g.hi)
        return fresh

    @staticmethod
    def _subtract(gaps: list[Gap], known_lo: Key | None, known_hi: Key | None) -> list[Gap]:
        """The gaps once every key in [known_lo, known_hi] is known (None: unbounded)."""
        out: list[Gap] = []
        for gap in gaps:
            if (known_hi is not None and known_hi <= gap.lo) or (known_lo is not None and known_lo >= gap.hi):
                out.append(gap)
                continue
            if known_lo is not None and gap.lo < below(known_lo):
                out.append(Gap(gap.lo, known_lo))
            if known_hi is not None and known_hi < below(gap.hi):
                out.append(Gap(known_hi, gap.hi))
        return out

    def probe_step(self, gap: Gap, page: int) -> int:
        """How far past `gap.lo` (ms) a page's `before` should aim to hold
        about PROBE_FILL of a `page`: from how dense the history just below
        the gap is (or else just above it)."""
        at = bisect.bisect_right(self.keys, gap.lo)
        sample = [k for k, line in zip(self.keys[:at], self.lines[:at], strict=True) if type(line) is Message]
        sample = sample[-PROBE_SAMPLE:]
        if len(sample) < 2:  # nothing below to go by (the gap starts at the first message): what is above
            start = bisect.bisect_left(self.keys, gap.hi)
            above = zip(self.keys[start:], self.lines[start:], strict=True)
            sample = [k for k, line in above if type(line) is Message][:PROBE_SAMPLE]
        if len(sample) < 2:
            return PROBE_DEFAULT_MS
        span = max(1, sample[-1][0] - sample[0][0])
        return max(1, int(PROBE_FILL * page * span / (len(sample) - 1)))

    def probe_before(self, gap: Gap, step: int) -> str:
        """The `before` of a page that fills `gap` from its lower end, `step`
        ms past its start (history only pages backwards, so a page that is
        to start at `lo` must end a little after it); the gap's own upper
        end if that is nearer."""
        until = (gap.lo[0] + max(1, step), 0, 0)
        return gap.hi_mid if until >= gap.hi else key_mid(until)

    def reaches(self, gap: Gap, page: list[Message], limit: int) -> bool:
        """A page (asked with `limit`) goes back to the start of `gap`."""
        return len(page) < limit or order_key(page[0]) <= gap.lo

    def gap_after(self, mid: str) -> Gap | None:
        """The gap right after message `mid`, if there is one."""
        at = self.index_of(mid)
        if at is None:
            return None
        key = self.keys[at]
        following = next(
            (k for k, line in zip(self.keys[at + 1 :], self.lines[at + 1 :], strict=True) if type(line) is Message),
            None,
        )
        for gap in self.gaps:
            if key <= gap.lo and (following is None or gap.hi == following):
                return gap
        return None

    def gap_at(self, hi: Key) -> Gap | None:
        for gap in self.gaps:
            if gap.hi == hi:
                return gap
        return None

    def add_notice(self, text: str, level: NoticeLevel, ts: int) -> Notice:
        last = self.keys[-1] if self.keys else (ts, 0, 0)
        notice = Notice(text, level, (last[0], last[1], last[2] + 1), ts)
        self.lines.append(notice)
        self.keys.append(notice.key)
        return notice

    def add_pending(self, cmid: str, text: str, ts: int, reply_to: str | None = None) -> Pending:
        pending = Pending(cmid, text, ts, reply_to=reply_to)
        self.pending[cmid] = pending
        return pending

    def confirm(self, cmid: str, sent: Sent, sender: str) -> bool:
        """The server's `ok` for a pending line; True if the line moved."""
        pending = self.pending.pop(cmid, None)
        if pending is None:
            return False
        if sent.mid not in self.mids:
            self.add(Message(sent.mid, self.address, sender, pending.text, sent.ts, cmid, pending.reply_to))
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
