"""`chinwag-admin sessions ...`: a user's sessions, and revoking them."""

from __future__ import annotations

import argparse
from typing import Any

from ..server.hub import revoked_event
from .common import Admin, AdminError, command, group
from .output import Column, when

SESSION_COLUMNS = (
    Column("id", "ID"),
    Column("client", "CLIENT"),
    Column("created", "CREATED", when),
    Column("last_used", "LAST USED", when),
)


async def list_sessions(admin: Admin, args: argparse.Namespace) -> None:
    name, _ = await admin.user(args.user)
    rows = [
        {"id": r.id, "client": r.client, "created": r.created, "last_used": r.last_used}
        for r in await admin.store.sessions(name)
    ]
    admin.out.table(rows, SESSION_COLUMNS, empty=f"{name} has no sessions")


async def revoke(admin: Admin, args: argparse.Namespace) -> None:
    name, _ = await admin.user(args.user)
    if args.session:
        one = await admin.store.revoke_session(name, args.session)
        if one is None:
            raise AdminError(f"{name} has no session '{args.session}' (see: chinwag-admin sessions list {name})")
        ended = [one]
    else:
        ended = await admin.store.revoke_sessions(name)
    await admin.publish([revoked_event(r.token_hash) for r in ended])  # their connections end now
    admin.out.done(f"revoked {len(ended)} session(s) of {name}", {"username": name, "revoked": [r.id for r in ended]})


def register(subparsers: Any) -> None:
    sessions = group(subparsers, "sessions", "list and revoke a user's sessions (logins)")
    command(sessions, "list", list_sessions, "a user's sessions").add_argument("user")
    p = command(
        sessions,
        "revoke",
        revoke,
        "revoke a user's sessions",
        "Revoke every session of a user, or one with --session: its token stops working and its "
        "connections are closed at once.",
    )
    p.add_argument("user")
    p.add_argument("--session", metavar="ID", help="only this session (an id from `sessions list`)")
