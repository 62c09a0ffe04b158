"""What the composer's line means: a message, or one of the slash commands.

Parsing is pure; the chat screen carries a `Command` out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import limits
from ..protocol.address import USER_SIGIL, bare_room

HELP = """\
/join ROOM      join (or create) a room
/leave [ROOM]   leave a room (default: this one)
/msg USER TEXT  send a direct message
/me ACTION      say what you do: * you wave
/who            who is online
/search WORDS   search messages (also ctrl+f)
/help           this help · //text sends "/text"
ctrl+k switch · ctrl+n/ctrl+p next/previous
alt+u next unread · pageup/pagedown scroll
up (empty line) or alt+k select a message, then
  r reply · e edit · d delete · + react · y copy
ctrl+up/down sent lines · escape composer · ctrl+q quit"""


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # "say", "join", "leave", "msg", "who", "search", "help"
    target: str = ""
    text: str = ""


class CommandError(ValueError):
    """A line that cannot be carried out; the message says what to type instead."""


def _room(arg: str, usage: str) -> str:
    room = limits.normalize_room(bare_room(arg))
    if room is None:
        raise CommandError(f"'{arg}' is not a room name ({limits.ROOM_NAME_RULE}); usage: {usage}")
    return room


def parse_line(line: str) -> Command | None:
    """The command a composer line asks for; None for a blank line."""
    if not line.strip():
        return None
    if line.startswith("//"):
        return Command("say", text=line[1:])
    if not line.startswith("/"):
        return Command("say", text=line)
    word, _, rest = line[1:].partition(" ")
    word, rest = word.lower(), rest.strip()
    if word == "me":
        if not rest:
            raise CommandError("usage: /me ACTION, for example /me waves")
        return Command("say", text="/me " + rest)
    if word == "join":
        if not rest or " " in rest:
            raise CommandError("usage: /join ROOM, for example /join rust")
        return Command("join", target=_room(rest, "/join ROOM"))
    if word in ("leave", "part"):
        if " " in rest:
            raise CommandError("usage: /leave [ROOM]")
        return Command("leave", target=_room(rest, "/leave [ROOM]") if rest else "")
    if word in ("msg", "query"):
        user, _, text = rest.partition(" ")
        name = limits.normalize_username(user.lstrip(USER_SIGIL))
        if name is None:
            raise CommandError("usage: /msg USER TEXT, for example /msg bob hello")
        return Command("msg", target=name, text=text.strip())
    if word == "who":
        return Command("who")
    if word in ("search", "find"):
        return Command("search", text=rest)
    if word in ("help", "?"):
        return Command("help")
    raise CommandError(f"unknown command /{word}: /help lists the commands (// sends a line starting with /)")
