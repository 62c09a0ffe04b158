"""Every limit and name rule of the protocol, in one place, for both sides."""

from __future__ import annotations

import re

DEFAULT_MAX_TEXT = 4_000
USERNAME_MIN, USERNAME_MAX = 2, 32
DISPLAY_NAME_MAX = 64
ROOM_NAME_MAX = 32
PASSWORD_MIN, PASSWORD_MAX = 8, 1_024
CMID_MAX = 64
HISTORY_DEFAULT, HISTORY_MAX = 50, 200
USERS_DEFAULT, USERS_MAX = 50, 200
REPLAY_MAX = 500
TOKEN_MIN_VALID_S = 7 * 24 * 3600
CMID_TTL_S = 24 * 3600
TYPING_INTERVAL_S = 3.0
LOBBY = "lobby"

_USERNAME = re.compile(r"[a-z][a-z0-9_.\-]{1,31}")
_ROOM = re.compile(r"[a-z0-9_\-]{1,32}")
_MID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def normalize_username(name: str) -> str | None:
    """The canonical (lower-case) username, or None if it breaks the rules."""
    if not name.isascii():  # .lower() maps a few non-ASCII letters (KELVIN SIGN) to ASCII
        return None
    lowered = name.lower()
    return lowered if _USERNAME.fullmatch(lowered) else None


def normalize_room(name: str) -> str | None:
    """The canonical room name, or None if it breaks the rules.

    Rooms are matched case-insensitively like usernames: `#Lobby` is `#lobby`.
    """
    if not name.isascii():
        return None
    lowered = name.lower()
    return lowered if _ROOM.fullmatch(lowered) else None


def valid_display_name(name: str) -> bool:
    return 1 <= len(name) <= DISPLAY_NAME_MAX and name.isprintable() and not name.isspace()


MID_PART_MAX = 2**64 - 1  # a message id is two unsigned 64-bit numbers


def valid_mid(mid: str) -> bool:
    if _MID.fullmatch(mid) is None:
        return False
    ms, _, seq = mid.partition("-")
    return int(ms) <= MID_PART_MAX and int(seq) <= MID_PART_MAX


def username_problem(name: str) -> str | None:
    """A sentence saying what is wrong with a username, for forms and errors."""
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        return f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters"
    if not name[:1].isalpha() or not name[:1].isascii():
        return "a username starts with a letter"
    if normalize_username(name) is None:
        return "a username uses only letters, digits, '_', '.' and '-'"
    return None


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"a password needs at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"a password has at most {PASSWORD_MAX} characters"
    return None
