"""`chinwag-admin invites ...`: invitation codes for `--registration invite`."""

from __future__ import annotations

import argparse
import secrets
import time
from typing import Any

from ..server.store import InviteRecord
from .common import Admin, AdminError, command, duration, group
from .output import Column, when

MAX_USES = 1_000_000


def _status(r: InviteRecord, now: int) -> str:
    if r.expires <= now:
        return "expired"
    return "used up" if r.left <= 0 else "active"


INVITE_COLUMNS = (
    Column("id", "ID"),
    Column("status", "STATUS"),
    Column("used", "USED"),
    Column("uses", "USES"),
    Column("expires", "EXPIRES", when),
    Column("created", "CREATED", when),
)


def new_code() -> str:
    return secrets.token_urlsafe(12)


async def create(admin: Admin, args: argparse.Namespace) -> None:
    if not 1 <= args.uses <= MAX_USES:
        raise AdminError(f"bad --uses {args.uses}: between 1 and {MAX_USES:,}")
    seconds = duration(args.expires)
    code = new_code()
    record = await admin.store.create_invite(code, args.uses, int(time.time() * 1000) + seconds * 1000)
    admin.out.done(
        f"invitation code (shown only now): {code}\nid {record.id}, {args.uses} use(s), expires {when(record.expires)}",
        {"code": code, "id": record.id, "uses": args.uses, "expires": record.expires},
    )


async def list_invites(admin: Admin, args: argparse.Namespace) -> None:
    now = int(time.time() * 1000)
    rows = [
        {
            "id": r.id,
            "status": _status(r, now),
            "used": r.uses - r.left,
            "uses": r.uses,
            "left": r.left,
            "expires": r.expires,
            "created": r.created,
        }
        for r in await admin.store.invites()
    ]
    admin.out.table(rows, INVITE_COLUMNS, empty="no invitation codes")


async def revoke(admin: Admin, args: argparse.Namespace) -> None:
    named = await admin.store.revoke_invite(args.code)
    if not named:
        raise AdminError(f"no invitation code '{args.code}' (see: chinwag-admin invites list)")
    if len(named) > 1:
        raise AdminError(f"'{args.code}' names {len(named)} codes: give more of the id")
    admin.out.done(f"revoked invitation code {named[0].id}", {"id": named[0].id})


def register(subparsers: Any) -> None:
    invites = group(subparsers, "invites", "invitation codes for registration by invitation")
    p = command(
        invites,
        "create",
        create,
        "make an invitation code",
        "Make an invitation code, printed once (Redis keeps only its hash).",
    )
    p.add_argument("--uses", type=int, default=1, help="registrations it allows (default 1)")
    p.add_argument("--expires", default="7d", metavar="DURATION", help="lifetime, like 12h, 7d, 2w (default 7d)")
    command(invites, "list", list_invites, "the invitation codes, by id (the codes themselves are not kept)")
    p = command(invites, "revoke", revoke, "delete an invitation code")
    p.add_argument("code", metavar="ID|CODE", help="the code, or its id (or the start of it) from `invites list`")
