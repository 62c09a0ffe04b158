"""What the commands of `rooms` and `people` ask of the server, and what
the log says when the server agrees. The chat screen runs `carry_out` in a
worker and shows `done_line` (or the server's refusal) when it returns;
state changes happen on the screen, from the `Result`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import limits
from ..protocol.address import Address
from ..protocol.messages import NotifySettings, Room, User
from ..protocol.reconnect import ReconnectingClient
from .commands import NOTIFY_DEFAULT, Command

# The commands that act on the room in view (and need one).
IN_A_ROOM = frozenset({"topic", "invite", "kick", "ban", "unban", "role"})
# The commands `carry_out` knows; the screen runs the others itself.
SERVER_COMMANDS = IN_A_ROOM | {"create", "away", "back", "block", "unblock", "nick", "logout", "notify", "highlight"}


@dataclass(frozen=True, slots=True)
class Result:
    """What the server said yes to: the room made (create) or the user as now shown (nick)."""

    room: Room | None = None
    user: User | None = None
    settings: NotifySettings | None = None  # notify, highlight: the settings as they are now


async def carry_out(link: ReconnectingClient, command: Command, room: str) -> Result:
    """Send what `command` asks; `room` is the room in view (for IN_A_ROOM).
    Raises ServerError (the server's refusal) or ConnectionClosed."""
    name, target, text = command.name, command.target, command.text
    if name == "create":
        reply = await link.join(target, private=text == "private" or None)
        return Result(room=Room.from_wire(reply))
    if name == "topic":
        await link.set_topic(room, "" if text == "-" else text)
    elif name == "invite":
        await link.invite(room, target)
    elif name == "kick":
        await link.kick(room, target, text or None)
    elif name in ("ban", "unban"):
        await link.ban(room, target, name == "ban", text or None)
    elif name == "role":
        await link.set_role(room, target, text)
    elif name in ("away", "back"):
        await link.set_status(name == "away", text)
    elif name in ("block", "unblock"):
        await link.block(target, name == "block")
    elif name == "nick":
        return Result(user=await link.set_display_name(text))
    elif name == "logout":
        await link.logout()
    elif name == "notify":  # target: the conversation in view
        if not text:
            return Result(settings=await link.notify_settings())
        return Result(settings=await link.set_notify(target, None if text == NOTIFY_DEFAULT else text))
    elif name == "highlight":
        if not target:
            return Result(settings=await link.notify_settings())
        return Result(settings=await link.set_highlights(text.split("\n") if text else []))
    else:
        raise ValueError(f"not a server command: {name}")
    return Result()


def done_line(command: Command, room: str, result: Result) -> str:
    """The log line for a command the server carried out."""
    name, target, text = command.name, command.target, command.text
    where = Address.room(room) if room else ""
    if name == "create":
        made = result.room
        address = Address.room(target)
        if made is not None and made.role == limits.ROLE_OWNER and made.members <= 1:
            return f"you created {address}" + (" (private: members invite others)" if made.private else "")
        return f"{address} already exists: you joined it" + (" (as it is; not made private)" if text else "")
    if name == "topic":
        return f"you cleared the topic of {where}" if text in ("", "-") else f"you set the topic of {where}"
    if name == "invite":
        return f"you invited {target} to {where}: they see it in their sidebar"
    if name == "kick":
        return f"you removed {target} from {where}" + (f": {text}" if text else "")
    if name == "ban":
        return f"you banned {target} from {where}" + (f": {text}" if text else "")
    if name == "unban":
        return f"{target} may join {where} again"
    if name == "role":
        return f"{target} is now {role_words(text)} of {where}"
    if name == "away":
        return "you are away" + (f": {text}" if text else "") + " · /back when you return"
    if name == "back":
        return "you are back"
    if name == "block":
        return f"you blocked {target}: nothing they send reaches you, and they are not told · /unblock {target}"
    if name == "unblock":
        return f"you unblocked {target}"
    if name == "nick":
        return f"you are now shown as {result.user.display_name if result.user else text}"
    if name == "notify":
        return notify_line(target, result.settings)
    if name == "highlight":
        words = result.settings.words if result.settings else ()
        listed = ", ".join(words) if words else "none"
        return f"highlight keywords: {listed} · /highlight WORD… sets them, /highlight - clears them"
    return ""


def default_level(address: str) -> str:
    """The level a conversation has until the user sets one (docs/protocol.md, "notify")."""
    return limits.NOTIFY_MENTIONS if Address.of(address).is_room else limits.NOTIFY_ALL


def notify_line(address: str, settings: NotifySettings | None) -> str:
    """What `/notify` says about a conversation's level."""
    level = settings.levels.get(address) if settings is not None else None
    words = {
        limits.NOTIFY_ALL: "every message",
        limits.NOTIFY_MENTIONS: "mentions and highlight keywords",
        limits.NOTIFY_NONE: "nothing",
    }
    chosen = level or default_level(address)
    how = "" if level else " (the default)"
    return f"notifications for {Address.of(address)}: {words[chosen]}{how} · /notify all|mentions|none|default"


def role_words(role: str) -> str:
    """`owner` -> `an owner`: for log lines about roles."""
    words = {limits.ROLE_OWNER: "an owner", limits.ROLE_MODERATOR: "a moderator", limits.ROLE_MEMBER: "a member"}
    return words.get(role, role)
