"""What the chat screen's workers and pump report back: one Textual
message per burst of server events or per answered request, and the small
values (alerts, the draft being written) the screen passes around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.message import Message as TextualMessage

from ...protocol.address import Address
from ...protocol.client import Sent
from ...protocol.errors import ConnectionClosed, ServerError
from ...protocol.messages import DeletedEvent, EditedEvent, Message, ReactionEvent, Room, RoomInfo, User
from ...protocol.reconnect import LinkEvent
from ..commands import Command
from ..room_commands import Result
from ..state import CatchUp
from ..timeline import Key


class ServerEvents(TextualMessage):
    """A burst of events from the server, in order."""

    def __init__(self, events: list[LinkEvent]) -> None:
        super().__init__()
        self.events = events


@dataclass(frozen=True, slots=True)
class Alerts:
    """What the window title and the notifications show: unread direct
    messages plus mentions, and the messages of this batch worth a desktop
    notification (or the bell), by the user's levels (`notes`; `ring`: any)."""

    count: int
    ring: bool
    notes: tuple[Message, ...] = ()


@dataclass
class HistoryLoaded(TextualMessage):
    """A page of `history(before=before)`: older history (the top), the
    page around a message jumped to (`jump`), or a page into a gap."""

    address: str
    messages: list[Message]
    more: bool
    error: Exception | None = None
    before: str | None = None
    gap: Key | None = None
    downward: bool = False
    jump: str | None = None


@dataclass
class CaughtUp(TextualMessage):
    """What a catch-up brought of a backlog the replay left out (oldest
    first), or why it brought nothing."""

    plan: CatchUp
    messages: list[Message]
    error: Exception | None = None


@dataclass
class ChangeDone(TextualMessage):
    """The answer to an edit, delete or reaction this user made."""

    address: str
    what: str
    change: EditedEvent | DeletedEvent | ReactionEvent | None
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class Draft:
    """A reply or an edit being written in the composer."""

    kind: Literal["reply", "edit"]
    address: Address
    message: Message


@dataclass
class SendDone(TextualMessage):
    address: str
    cmid: str
    sent: Sent | None
    error: BaseException | None


@dataclass
class DirectoryLoaded(TextualMessage):
    rooms: list[Room]
    online: list[User]
    users: list[User]
    blocked: list[str] | None = None  # `people`: whom this user blocks


@dataclass
class RoomInfoLoaded(TextualMessage):
    """`room_info`'s answer (the member panel), or why there is none."""

    room: str
    info: RoomInfo | None
    error: BaseException | None


@dataclass
class CommandDone(TextualMessage):
    """The answer to a command of `rooms` or `people` typed in `origin`."""

    command: Command
    room: str
    origin: Address
    result: Result | None
    error: BaseException | None


@dataclass
class TalkedTo(TextualMessage):
    usernames: list[str]


def reason(error: BaseException) -> str:
    """An error in words, for a notice."""
    if isinstance(error, ServerError):
        return error.message
    if isinstance(error, ConnectionClosed):
        return "not connected; try again once the link is back"
    return str(error) or type(error).__name__
