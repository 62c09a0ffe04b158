"""Redis key names, in one place. Only `store.py` uses them.

Every multi-key operation stays inside one hash slot (the `{...}` tag), so
the same layout works on a single Redis and on a Redis Cluster:
a conversation's stream, texts, states, members and rebuild copies share its
tag; a user's profile, conversation set, cursors, read markers and cmid
records share the user's tag; all presence keys
share `{presence}`; the room index shares the slot of the room set; an
address's or a user's throttle counters share its tag.
"""

from __future__ import annotations

BUS_CHANNEL = "chinwag:bus"
USERS_INDEX = "users"  # zset of every username, score 0, for prefix search
ROOMS = "rooms"  # set of every room name
# zset room name -> member count, for the busiest rooms without reading every
# room; its tag is the slot of ROOMS (the tag of "rooms" is the whole name).
ROOMS_BY_SIZE = "{rooms}:size"
PRESENCE_ONLINE = "{presence}:online"  # hash username -> live connection count
PRESENCE_NODES = "{presence}:nodes"  # zset node id -> expiry (ms)


def user(name: str) -> str:
    return f"u:{{{name}}}"


def user_convs(name: str) -> str:
    return f"convs:{{{name}}}"


def cursors(name: str) -> str:
    return f"cur:{{{name}}}"


def markers(name: str) -> str:
    """Hash conv id -> the user's read marker there (a mid); next to the cursors."""
    return f"rd:{{{name}}}"


def notify_levels(name: str) -> str:
    """Hash conv id -> the user's notification level there (`notify`); next to the cursors."""
    return f"nl:{{{name}}}"


def highlights(name: str) -> str:
    """The user's highlight keywords, a JSON list (`notify`)."""
    return f"hl:{{{name}}}"


def token(token_hash: str) -> str:
    return f"tok:{{{token_hash}}}"


def stream(conv_id: str) -> str:
    return f"c:{{{conv_id}}}"


def conv_of_stream(key: str) -> str:
    """The conversation id of a stream's key (the inverse of `stream`)."""
    return key[3:-1]


def texts(conv_id: str) -> str:
    """Hash mid -> the message's current text: out of the stream, so an edit
    replaces it and a delete erases it (a stream entry cannot be erased)."""
    return f"t:{{{conv_id}}}"


def states(conv_id: str) -> str:
    """Hash mid -> the state of a message that changed (edited, deleted, reactions)."""
    return f"s:{{{conv_id}}}"


def rebuild(conv_id: str, tag: str) -> str:
    """A copy of the stream being rebuilt without its legacy texts (see Store.delete)."""
    return f"c:{{{conv_id}}}:rebuild:{tag}"


def members(conv_id: str) -> str:
    return f"m:{{{conv_id}}}"


def cmid(sender: str, client_id: str) -> str:
    """A user's record of a cmid: "conv mid" of the message it was stored as."""
    return f"cm:{{{sender}}}:{client_id}"


def cmid_in_conv(conv_id: str, sender: str, client_id: str) -> str:
    """On a cluster, the same record in the conversation's slot, so storing a
    message and its cmid stays one atomic script."""
    return f"cm:{{{conv_id}}}:{sender}:{client_id}"


def presence_node(node_id: str) -> str:
    return f"{{presence}}:n:{node_id}"


# --- throttles (each subject's keys share its tag, so one script can take
# from all of them: an address's counters, a user's counters) ---------------


def login_attempts_address(address: str) -> str:
    return f"th:li:{{{address}}}"


def login_failures_address(address: str) -> str:
    return f"th:la:{{{address}}}"


def login_failures_user(name: str) -> str:
    """Hash n (failures from addresses the user never logged in from), t (ms of the last)."""
    return f"th:lu:{{{name}}}"


def login_failures_pair(name: str, address: str) -> str:
    """Hash n, t: failures for the user from one address."""
    return f"th:lp:{{{name}}}:{address}"


def logins_user(name: str) -> str:
    return f"th:ls:{{{name}}}"


def known_addresses(name: str) -> str:
    """Zset: hashed address -> ms of the last login or resume from it."""
    return f"kn:{{{name}}}"


def resumes_address(address: str) -> str:
    return f"th:rs:{{{address}}}"


def resumes_user(name: str) -> str:
    return f"th:ru:{{{name}}}"


def registrations_address(address: str) -> str:
    return f"th:ra:{{{address}}}"


def room_creations_user(name: str) -> str:
    return f"th:rc:{{{name}}}"


# --- rooms (issue 12): a room's data shares the tag of its members set,
# `{#name}`, so every check-and-change of a room is one script; the set of
# private rooms shares the slot of the room set, so creating a private room
# never lists it as public, even for a moment. ----------------------------

PRIVATE_ROOMS = "{rooms}:private"  # set of the private rooms' names (never in ROOMS_BY_SIZE)


def room_meta(conv_id: str) -> str:
    """Hash: topic, private ("1"/"0"), created (ms), creator."""
    return f"ri:{{{conv_id}}}"


def room_roles(conv_id: str) -> str:
    """Hash username -> "owner" | "moderator"; a member absent from it is a plain member."""
    return f"ro:{{{conv_id}}}"


def room_bans(conv_id: str) -> str:
    """Hash username -> JSON {by, reason, at (ms)}."""
    return f"rb:{{{conv_id}}}"


def room_invites(conv_id: str) -> str:
    """Hash username -> "<expiry ms> <inviter>": who may join a private room
    (the truth a join checks)."""
    return f"rv:{{{conv_id}}}"


def user_invites(name: str) -> str:
    """Hash room -> "<expiry ms> <inviter>": the same invitations in the
    user's slot, for sending them at login."""
    return f"iv:{{{name}}}"


# --- accounts: sessions and invitation codes -------------------------------------


def sessions(name: str) -> str:
    """Hash session id -> JSON {t: token hash, c: client, cr: created ms,
    lu: last used ms}: the user's sessions, in the user's slot."""
    return f"ss:{{{name}}}"


def invite_code(code_hash: str) -> str:
    """Hash uses, left, exp (ms), cr (ms) of one invitation code, named by the
    code's hash: Redis never holds a code itself."""
    return f"ic:{{{code_hash}}}"


# zset code hash -> expiry (ms): every invitation code, for `chinwag-admin invites list`
INVITE_CODES = "{icodes}:all"


# --- people -------------------------------------------------------------------


def blocks(name: str) -> str:
    """Set of the usernames `name` blocks: in the blocker's slot, read with
    the rest of their login state in one round trip."""
    return f"bl:{{{name}}}"
