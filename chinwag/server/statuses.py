"""The status codes the Lua scripts answer with, defined once.

scripts.py writes these values into the scripts' source (`$SEND_NEW` and
the like, see `scripts.STATUS_CODES`), so the Python side that reads a
reply and the Lua side that produces it cannot drift apart. The store
turns replies into these types; nothing else reads raw script replies.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class SendStatus(IntEnum):
    """What SEND / SEND_MANY did with one message."""

    NEW = 0  # stored; the mid is the new entry's
    DUPLICATE = 1  # the cmid was already used: mid and conversation are the original's
    NOT_MEMBER = 2  # the sender is not a member of the room; nothing stored
    FAILED = -1  # SEND_MANY only: this message's write failed (alone); never a result


class SendResult(NamedTuple):
    """The outcome of `Store.send`: `mid` is empty for NOT_MEMBER; `conv` is
    the conversation the message is stored in (for DUPLICATE, the original's,
    which may differ from the one the retry named). A NamedTuple, not a
    frozen dataclass: one is made per message, and it is cheaper to build."""

    mid: str
    status: SendStatus
    conv: str


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


__all__ = ["LoginStatus", "RoomCreation", "SendResult", "SendStatus"]
