"""The status codes the Lua scripts answer with, defined once.

scripts.py writes these values into the scripts' source (`$SEND_NEW` and
the like, see `scripts.STATUS_CODES`), so the Python side that reads a
reply and the Lua side that produces it cannot drift apart. The store
turns replies into these types; nothing else reads raw script replies.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple


class SendStatus(IntEnum):
    """What SEND / SEND_MANY did with one message."""

    NEW = 0  # stored; the mid is the new entry's
    DUPLICATE = 1  # the cmid was already used: mid and conversation are the original's
    NOT_MEMBER = 2  # the sender is not a member of the room; nothing stored
    NO_SUCH_MESSAGE = 3  # reply_to names no message of this conversation; nothing stored
    FAILED = -1  # SEND_MANY only: this message's write failed (alone); never a result


class SendResult(NamedTuple):
    """The outcome of `Store.send`: `mid` is empty for NOT_MEMBER; `conv` is
    the conversation the message is stored in (for DUPLICATE, the original's,
    which may differ from the one the retry named). A NamedTuple, not a
    frozen dataclass: one is made per message, and it is cheaper to build."""

    mid: str
    status: SendStatus
    conv: str
    prev: str | None = None  # a new message's predecessor in its stream ('' for none; None: not known)


class ChangeStatus(IntEnum):
    """What EDIT, DELETE and REACT did."""

    DONE = 0  # applied; a change entry was added
    NO_SUCH_MESSAGE = 1  # no message with that mid in the conversation (or, for edit and react, deleted)
    FORBIDDEN = 2  # the actor may not do it
    UNCHANGED = 3  # nothing to do (a reaction already set or absent, a message already deleted): ok
    TOO_MANY = 4  # react: the message has the most distinct emoji it may
    LEGACY = 5  # delete: the stream still holds the text (round 1 data); rebuild it first


class ChangeKind(StrEnum):
    """A change entry's kind: the wire name of its event, and the one-letter
    code the stream stores (`k`)."""

    EDITED = "edited"
    DELETED = "deleted"
    REACTION = "reaction"

    @property
    def code(self) -> str:
        return self.value[0]


class ChangeResult(NamedTuple):
    """The outcome of Store.edit/delete/react: `id` is the change entry's
    (empty unless DONE); `edited` is an edit's timestamp (ms)."""

    status: ChangeStatus
    id: str = ""
    edited: int = 0
    prev: str | None = None  # the entry before the change entry ('' for none; None: not known)


class RoomCreation(IntEnum):
    """CREATE_ROOM's answer."""

    EXISTS = 0
    CREATED = 1
    FULL = -1  # the server holds the most rooms it may


class LoginStatus(IntEnum):
    """LOGIN_USER's status (before a password is verified)."""

    GO = 0
    DELAYED = 1  # too many failures: the growing delay applies
    TOO_MANY = 2  # too many logins for the user in the window


# --- rooms (issue 12) -------------------------------------------------------------


class RoomStatus(IntEnum):
    """What the room scripts (ROOM_JOIN, ROOM_REMOVE, ROOM_ROLE, ROOM_TOPIC,
    ROOM_INVITE) did. Anything but DONE and UNCHANGED changed nothing."""

    DONE = 0
    UNCHANGED = 1  # already so (a second join, the same role, the same topic): ok, no event
    NOT_MEMBER = 2  # the actor is not a member (and not an admin)
    FORBIDDEN = 3  # the actor's role does not allow it
    OUTRANKED = 4  # the target's role is not below the actor's (a moderator and the owner)
    LAST_OWNER = 5  # it would leave a room with members and no owner
    BANNED = 6  # join: the user is banned; invite: the invited user is
    INVITE_ONLY = 7  # join of a private room without a pending invitation
    TARGET_NOT_MEMBER = 8  # kick, role: the target is not in the room
    LOBBY = 9  # the lobby has no owner and no one leaves, is kicked or banned from it


# --- accounts -----------------------------------------------------------------------


class SessionStatus(IntEnum):
    """RESUME_STATE's answer for a resume with a valid token (its session part)."""

    OK = 0
    REVOKED = 1  # a token the session index does not list, of a user whose sessions were revoked since
    DISABLED = 2  # the account is disabled


class InviteStatus(IntEnum):
    """INVITE_TAKE's answer for a registration's invitation code."""

    OK = 0  # one use taken
    UNKNOWN = 1  # no such code (never made, revoked, or long expired)
    EXPIRED = 2
    USED_UP = 3


__all__ = [
    "ChangeKind",
    "ChangeResult",
    "ChangeStatus",
    "InviteStatus",
    "LoginStatus",
    "RoomCreation",
    "RoomStatus",
    "SendResult",
    "SendStatus",
    "SessionStatus",
]
