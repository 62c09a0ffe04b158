"""What the composer's line means: a message, or one of the slash commands.

Parsing is pure; the chat screen carries a `Command` out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import limits
from ..protocol.address import USER_SIGIL, bare_room

HELP = """\
/join ROOM      join (or create) a room
/create ROOM [private]  create a room (private: invitation only)
/leave [ROOM]   leave a room (default: this one)
/msg USER TEXT  send a direct message
/me ACTION      say what you do: * you wave
/who            who is online
/search WORDS   search messages (also ctrl+f)
/topic TEXT     set this room's topic (/topic - clears it)
/invite USER    invite someone to this room
/kick USER [REASON] · /ban USER [REASON] · /unban USER
/role USER owner|moderator|member
/away [TEXT] · /back   your status
/block USER · /unblock USER   hide (or show again) all they send
/nick NAME      change your display name
/notify all|mentions|none|default   desktop notifications for this conversation
/highlight [WORD…]   notify on these words too (/highlight - clears)
/edit           write this message in $EDITOR (also ctrl+x ctrl+e)
/logout         sign out of this device
/help           this help · //text sends "/text"
ctrl+k switch (and "account") · ctrl+n/ctrl+p next/previous
ctrl+g members of this room
alt+u next unread · pageup/pagedown scroll
up (empty line) or alt+k select a message, then
  r reply · e edit · d delete · + react · y copy
enter sends · alt+enter, ctrl+j (or shift+enter) a new line
tab completes @nick, #room, /command · ctrl+up/down sent lines
escape composer · ctrl+r retry now (reconnecting) · ctrl+q quit"""

# Every command, for tab completion (parse_line knows each of them).
COMMANDS = (
    "join",
    "create",
    "leave",
    "msg",
    "me",
    "who",
    "search",
    "topic",
    "invite",
    "kick",
    "ban",
    "unban",
    "role",
    "away",
    "back",
    "block",
    "unblock",
    "nick",
    "notify",
    "highlight",
    "edit",
    "logout",
    "help",
)
NOTIFY_DEFAULT = "default"  # `/notify default`: back to the conversation kind's default


@dataclass(frozen=True, slots=True)
class Command:
    # "say", "join", "create", "leave", "msg", "who", "search", "help", "topic", "invite",
    # "kick", "ban", "unban", "role", "away", "back", "block", "unblock", "nick", "logout",
    # "notify" (text: a level, "default", or "" to show it), "highlight" (target "set" with
    # the words in text one a line, or "" to show them), "edit"
    name: str
    target: str = ""
    text: str = ""


class CommandError(ValueError):
    """A line that cannot be carried out; the message says what to type instead."""


def _room(arg: str, usage: str) -> str:
    room = limits.normalize_room(bare_room(arg))
    if room is None:
        raise CommandError(f"'{arg}' is not a room name ({limits.ROOM_NAME_RULE}); usage: {usage}")
    return room


def _user(arg: str, usage: str) -> str:
    name = limits.normalize_username(arg.lstrip(USER_SIGIL))
    if name is None:
        raise CommandError(f"usage: {usage}" + (f" ('{arg}' is not a username)" if arg else ""))
    return name


def _no_args(word: str, rest: str) -> None:
    if rest:
        raise CommandError(f"usage: /{word} (it takes nothing after it)")


# /word USER [REASON]: the person, then free text
_USER_AND_REASON = {"kick": "/kick USER [REASON]", "ban": "/ban USER [REASON]"}
_USER_ONLY = {"invite": "/invite USER", "unban": "/unban USER", "block": "/block USER", "unblock": "/unblock USER"}


def _rooms_and_people(word: str, rest: str) -> Command | None:
    """The commands of rooms (topic, moderation) and people (status, blocks, name)."""
    if word == "create":
        name, _, flag = rest.partition(" ")
        flag = flag.strip().lower()
        if not name or flag not in ("", "private"):
            raise CommandError("usage: /create ROOM [private], for example /create ops private")
        return Command("create", target=_room(name, "/create ROOM [private]"), text=flag)
    if word in _USER_ONLY:
        if " " in rest:
            raise CommandError(f"usage: {_USER_ONLY[word]}")
        return Command(word, target=_user(rest, _USER_ONLY[word]))
    if word in _USER_AND_REASON:
        user, _, why = rest.partition(" ")
        return Command(word, target=_user(user, _USER_AND_REASON[word]), text=why.strip())
    if word == "role":
        user, _, role = rest.partition(" ")
        role = role.strip().lower()
        if role not in limits.ROLES:
            raise CommandError("usage: /role USER " + "|".join(limits.ROLES))
        return Command("role", target=_user(user, "/role USER " + "|".join(limits.ROLES)), text=role)
    if word == "topic":
        if len(rest) > limits.TOPIC_MAX:
            raise CommandError(f"a topic has at most {limits.TOPIC_MAX} characters; this one has {len(rest)}")
        return Command("topic", text=rest)
    if word == "away":
        if len(rest) > limits.STATUS_MAX:
            raise CommandError(f"a status has at most {limits.STATUS_MAX} characters; this one has {len(rest)}")
        return Command("away", text=rest)
    if word == "nick":
        if not rest:
            raise CommandError("usage: /nick DISPLAY NAME, for example /nick Alice L.")
        problem = limits.display_name_problem(rest, "a display name")
        if problem:
            raise CommandError(problem)
        return Command("nick", text=rest)
    if word in ("back", "logout", "edit"):
        _no_args(word, rest)
        return Command(word)
    return _notifications(word, rest)


def _notifications(word: str, rest: str) -> Command | None:
    """/notify LEVEL and /highlight WORD…: the `notify` extension's settings."""
    if word == "notify":
        level = rest.lower()
        if level not in (*limits.NOTIFY_LEVELS, NOTIFY_DEFAULT, ""):
            raise CommandError("usage: /notify " + "|".join((*limits.NOTIFY_LEVELS, NOTIFY_DEFAULT)))
        return Command("notify", text=level)
    if word == "highlight":
        if not rest:
            return Command("highlight")
        words = [] if rest == "-" else list(dict.fromkeys(rest.split()))
        if len(words) > limits.HIGHLIGHTS_MAX:
            raise CommandError(f"at most {limits.HIGHLIGHTS_MAX} highlight keywords; that is {len(words)}")
        for highlight in words:
            problem = limits.highlight_problem(highlight)
            if problem:
                raise CommandError(problem)
        return Command("highlight", target="set", text="\n".join(words))
    return None


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
    command = _rooms_and_people(word, rest)
    if command is not None:
        return command
    raise CommandError(f"unknown command /{word}: /help lists the commands (// sends a line starting with /)")
