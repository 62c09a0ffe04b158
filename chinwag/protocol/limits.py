"""Every limit and name rule of the protocol, in one place, for both sides."""

from __future__ import annotations

import re
import unicodedata

DEFAULT_MAX_TEXT = 4_000  # characters of a message; a server may announce another in `hello`
USERNAME_MIN, USERNAME_MAX = 2, 32
DISPLAY_NAME_MAX = 64
ROOM_NAME_MIN, ROOM_NAME_MAX = 1, 32
PASSWORD_MIN, PASSWORD_MAX = 8, 1_024
CMID_MAX = 64
HISTORY_DEFAULT, HISTORY_MAX = 50, 200
USERS_DEFAULT, USERS_MAX = 50, 200
REPLAY_MAX = 500
TOKEN_MIN_VALID_S = 7 * 24 * 3600
CMID_TTL_S = 24 * 3600
TYPING_INTERVAL_S = 3.0  # a client sends `typing` at most this often per conversation
LOBBY = "lobby"
MID_PART_MAX = 2**64 - 1  # a message id is two unsigned 64-bit numbers, `ms-seq`
SEARCH_QUERY_MIN, SEARCH_QUERY_MAX = 1, 200  # characters of a `search` query
SEARCH_DEFAULT, SEARCH_MAX = 20, 50  # results of one `search` page

# The extensions (PROTOCOL-EXTENSIONS.md), negotiated in `hello`.
FEATURE_MESSAGES, FEATURE_READ, FEATURE_SEARCH, FEATURE_ROOMS, FEATURE_PEOPLE = (
    "messages",
    "read",
    "search",
    "rooms",
    "people",
)
# chinwag's own extension (docs/protocol.md): notification settings that follow the user
FEATURE_NOTIFY = "notify"
FEATURES_MAX = 32  # names a `hello` may list (unknown ones are ignored)
EMOJI_MAX = 16  # code points of one reaction
REACTIONS_MAX = 20  # distinct emoji on one message
SEARCH_PAGE_MAX = 512  # characters of an opaque `page`

# `rooms` and `people` (PROTOCOL-EXTENSIONS.md)
ROLE_OWNER, ROLE_MODERATOR, ROLE_MEMBER = "owner", "moderator", "member"
ROLES = (ROLE_OWNER, ROLE_MODERATOR, ROLE_MEMBER)  # highest first
TOPIC_MAX = 300  # characters of a room's topic
STATUS_MAX = 100  # characters of a status text
REASON_MAX = 300  # characters of a kick or ban reason
INVITE_TTL_S = 7 * 24 * 3600  # a room invitation lasts until the user joins, or this long
REGISTRATION_OPEN, REGISTRATION_INVITE, REGISTRATION_CLOSED = "open", "invite", "closed"
REGISTRATION_POLICIES = (REGISTRATION_OPEN, REGISTRATION_INVITE, REGISTRATION_CLOSED)
INVITE_CODE_MAX = 128  # characters of a registration invitation code
SESSION_ID_MAX = 64  # characters of a session id (from `sessions`)

# `notify`: when a conversation notifies (without a setting: a direct
# conversation "all", a room "mentions"), and the highlight keywords
NOTIFY_ALL, NOTIFY_MENTIONS, NOTIFY_NONE = "all", "mentions", "none"
NOTIFY_LEVELS = (NOTIFY_ALL, NOTIFY_MENTIONS, NOTIFY_NONE)
HIGHLIGHTS_MAX = 20  # keywords per user
HIGHLIGHT_MAX = 40  # characters of one keyword

# The name rules, and the words that state them, both built from the limits above.
_USERNAME = re.compile(rf"[a-z][a-z0-9_.\-]{{{USERNAME_MIN - 1},{USERNAME_MAX - 1}}}")
_ROOM = re.compile(rf"[a-z0-9_\-]{{{ROOM_NAME_MIN},{ROOM_NAME_MAX}}}")
_MID_DIGITS = len(str(MID_PART_MAX))
_MID = re.compile(rf"[0-9]{{1,{_MID_DIGITS}}}-[0-9]{{1,{_MID_DIGITS}}}")
ROOM_NAME_RULE = f"{ROOM_NAME_MIN}-{ROOM_NAME_MAX} of a-z 0-9 _ -"
USERNAME_RULE = f"{USERNAME_MIN}-{USERNAME_MAX} characters: letters, digits, _ . - ; starts with a letter"


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


# --- control characters in names and other text shown to other people ---------

# Unicode's formal aliases (NameAliases.txt): control characters have no name.
_C0_NAMES = (
    "NULL",
    "START OF HEADING",
    "START OF TEXT",
    "END OF TEXT",
    "END OF TRANSMISSION",
    "ENQUIRY",
    "ACKNOWLEDGE",
    "ALERT",
    "BACKSPACE",
    "CHARACTER TABULATION",
    "LINE FEED",
    "LINE TABULATION",
    "FORM FEED",
    "CARRIAGE RETURN",
    "SHIFT OUT",
    "SHIFT IN",
    "DATA LINK ESCAPE",
    "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO",
    "DEVICE CONTROL THREE",
    "DEVICE CONTROL FOUR",
    "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE",
    "END OF TRANSMISSION BLOCK",
    "CANCEL",
    "END OF MEDIUM",
    "SUBSTITUTE",
    "ESCAPE",
    "INFORMATION SEPARATOR FOUR",
    "INFORMATION SEPARATOR THREE",
    "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
)
_C1_NAMES = (
    "PADDING CHARACTER",
    "HIGH OCTET PRESET",
    "BREAK PERMITTED HERE",
    "NO BREAK HERE",
    "INDEX",
    "NEXT LINE",
    "START OF SELECTED AREA",
    "END OF SELECTED AREA",
    "CHARACTER TABULATION SET",
    "CHARACTER TABULATION WITH JUSTIFICATION",
    "LINE TABULATION SET",
    "PARTIAL LINE FORWARD",
    "PARTIAL LINE BACKWARD",
    "REVERSE LINE FEED",
    "SINGLE SHIFT TWO",
    "SINGLE SHIFT THREE",
    "DEVICE CONTROL STRING",
    "PRIVATE USE ONE",
    "PRIVATE USE TWO",
    "SET TRANSMIT STATE",
    "CANCEL CHARACTER",
    "MESSAGE WAITING",
    "START OF GUARDED AREA",
    "END OF GUARDED AREA",
    "START OF STRING",
    "SINGLE GRAPHIC CHARACTER INTRODUCER",
    "SINGLE CHARACTER INTRODUCER",
    "CONTROL SEQUENCE INTRODUCER",
    "STRING TERMINATOR",
    "OPERATING SYSTEM COMMAND",
    "PRIVACY MESSAGE",
    "APPLICATION PROGRAM COMMAND",
)
# C0, DEL, C1, and the bidirectional embeddings/overrides/isolates, which can
# make a line read differently from what it says (Trojan Source).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def is_control(ch: str) -> bool:
    """A character a terminal may obey rather than show, or that reorders
    what is shown around it: C0, DEL, C1 and the bidi controls."""
    return _CONTROL.fullmatch(ch) is not None


def character_name(ch: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE`: a character as a sentence names it."""
    code = ord(ch)
    if code < 0x20:
        name = _C0_NAMES[code]
    elif code == 0x7F:
        name = "DELETE"
    elif 0x80 <= code <= 0x9F:
        name = _C1_NAMES[code - 0x80]
    else:
        name = unicodedata.name(ch, "")
    return f"U+{code:04X} {name}" if name else f"U+{code:04X}"


def control_problem(field: str, text: str) -> str | None:
    """A sentence naming the first control character in `text`, or None.
    The rule for every string the server shows to other people that must
    stay on one line and mean what it says (display names; status texts and
    topics reuse it)."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return f"{field} contains {character_name(found.group())}, a control character"


def display_name_problem(name: str, field: str = "display_name") -> str | None:
    """A sentence saying what is wrong with a display name, or None:
    1-64 printable characters, not only spaces, no control character."""
    problem = control_problem(field, name)
    if problem is not None:
        return problem
    for ch in name:
        if not ch.isprintable():
            return f"{field} contains {character_name(ch)}, which is not a printable character"
    if not 1 <= len(name) <= DISPLAY_NAME_MAX or name.isspace():
        return f"a display name has 1 to {DISPLAY_NAME_MAX} printable characters"
    return None


def line_problem(field: str, text: str, most: int) -> str | None:
    """A sentence saying what is wrong with a one-line text shown to other
    people (a topic, a status, a reason), or None: at most `most`
    characters, no control character. Empty is allowed (it clears)."""
    if len(text) > most:
        return f"{field} has {len(text)} characters; the limit is {most}"
    return control_problem(field, text)


def highlight_problem(word: str) -> str | None:
    """A sentence saying what is wrong with a highlight keyword, or None:
    1-40 characters, not only spaces, no control character."""
    if not word.strip() or len(word) > HIGHLIGHT_MAX:
        return f"a highlight keyword has 1 to {HIGHLIGHT_MAX} characters"
    return control_problem("a highlight keyword", word)


def valid_display_name(name: str) -> bool:
    return display_name_problem(name) is None


def emoji_problem(emoji: str) -> str | None:
    """A sentence saying what is wrong with a reaction, or None: 1-16 code
    points, no whitespace, no control or other unprintable character."""
    if not 1 <= len(emoji) <= EMOJI_MAX:
        return f"a reaction has 1 to {EMOJI_MAX} characters"
    for ch in emoji:
        if ch.isspace():
            return f"a reaction contains {character_name(ch)}, a space"
        # ZWJ (U+200D) and the variation selectors join emoji; they are
        # "format" characters but belong in a reaction.
        if is_control(ch) or (not ch.isprintable() and ch != "\u200d" and not "\ufe00" <= ch <= "\ufe0f"):
            return f"a reaction contains {character_name(ch)}, which is not a printable character"
    return None


def mid_order(mid: str) -> tuple[int, int]:
    """A stream id's place in its conversation's order: (ms, sequence)."""
    ms, _, seq = mid.partition("-")
    return int(ms), int(seq or 0)


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
