"""`chinwag-admin users ...`: list, show, create, disable, enable,
reset-password, make-admin, remove-admin."""

from __future__ import annotations

import argparse
from typing import Any

from ..protocol import limits
from ..server.auth import PasswordService
from ..server.hub import disabled_event, revoked_event
from ..server.settings import Settings
from .common import Admin, AdminError, command, group, new_password, password_from_stdin
from .output import Column, when

LIST_LIMIT = 10_000

USER_COLUMNS = (
    Column("username", "USER"),
    Column("display_name", "DISPLAY NAME"),
    Column("admin", "ADMIN"),
    Column("disabled", "DISABLED"),
    Column("online", "ONLINE"),
    Column("created", "CREATED", when),
)


def _row(name: str, info: dict[str, str], connections: int) -> dict[str, Any]:
    created = info.get("ct")
    return {
        "username": name,
        "display_name": info.get("dn", name),
        "admin": info.get("admin") == "1",
        "disabled": info.get("disabled") == "1",
        "online": connections > 0,
        "created": int(created) if created and created.isdigit() else None,
    }


async def list_users(admin: Admin, args: argparse.Namespace) -> None:
    names = await admin.store.search_users(args.prefix, args.limit)
    infos = await admin.store.users_info(names)
    online = await admin.store.online_counts(names) if names else {}
    rows = [_row(n, infos[n], online.get(n, 0)) for n in names if n in infos]
    admin.out.table(rows, USER_COLUMNS, empty="no users")


async def show(admin: Admin, args: argparse.Namespace) -> None:
    name, info = await admin.user(args.user)
    online = (await admin.store.online_counts([name])).get(name, 0)
    row = _row(name, info, online)
    row["connections"] = online
    row["sessions"] = len(await admin.store.sessions(name))
    admin.out.record(row, (*USER_COLUMNS, Column("connections", "CONNECTIONS"), Column("sessions", "SESSIONS")))


async def _hash(password: str) -> str:
    passwords = PasswordService(Settings())
    try:
        return await passwords.hash(password)
    finally:
        passwords.close()


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was generated (then printed once)."""
    if args.stdin:
        return password_from_stdin(), False
    return new_password(), True


async def create(admin: Admin, args: argparse.Namespace) -> None:
    name = limits.normalize_username(args.user)
    if name is None:
        raise AdminError(f"'{args.user}' cannot be a username: {limits.username_problem(args.user) or 'invalid'}")
    display = args.display_name or name
    if (problem := limits.display_name_problem(display)) is not None:
        raise AdminError(f"bad --display-name: {problem}")
    if await admin.store.user_exists(name):
        raise AdminError(f"the username '{name}' is taken")
    password, generated = _password(args)
    if not await admin.store.create_user(name, display, await _hash(password)):
        raise AdminError(f"the username '{name}' is taken")
    if args.admin:
        await admin.store.set_admin(name, True)
    data: dict[str, Any] = {"username": name, "display_name": display, "admin": bool(args.admin)}
    text = f"created user {name}"
    if generated:
        data["password"] = password
        text += f"; password (shown only now): {password}"
    admin.out.done(text, data)


async def _flag(admin: Admin, args: argparse.Namespace, which: str, on: bool) -> str:
    name, _ = await admin.user(args.user)
    setter = admin.store.set_admin if which == "admin" else admin.store.set_disabled
    if not await setter(name, on):
        raise AdminError(f"there is no user '{args.user}'")
    return name


async def disable(admin: Admin, args: argparse.Namespace) -> None:
    name = await _flag(admin, args, "disabled", True)
    await admin.publish([disabled_event(name)])  # its live connections end now, on every node
    admin.out.done(f"disabled {name}: it cannot log in, and its connections were closed", {"username": name})


async def enable(admin: Admin, args: argparse.Namespace) -> None:
    name = await _flag(admin, args, "disabled", False)
    admin.out.done(f"enabled {name}", {"username": name})


async def make_admin(admin: Admin, args: argparse.Namespace) -> None:
    name = await _flag(admin, args, "admin", True)
    admin.out.done(f"{name} is a server admin", {"username": name, "admin": True})


async def remove_admin(admin: Admin, args: argparse.Namespace) -> None:
    name = await _flag(admin, args, "admin", False)
    admin.out.done(f"{name} is no longer a server admin", {"username": name, "admin": False})


async def reset_password(admin: Admin, args: argparse.Namespace) -> None:
    name, _ = await admin.user(args.user)
    password, generated = _password(args)
    await admin.store.set_password_hash(name, await _hash(password))
    ended = [] if args.keep_sessions else await admin.store.revoke_sessions(name)
    await admin.publish([revoked_event(r.token_hash) for r in ended])
    data: dict[str, Any] = {"username": name, "sessions_revoked": len(ended)}
    text = f"new password for {name}"
    if generated:
        data["password"] = password
        text += f" (shown only now): {password}"
    if ended:
        text += f"; {len(ended)} session(s) revoked"
    admin.out.done(text, data)


def register(subparsers: Any) -> None:
    users = group(subparsers, "users", "list, show, create, disable and enable users; passwords; server admins")
    p = command(users, "list", list_users, "list users (alphabetically)")
    p.add_argument("--prefix", help="only names starting with this")
    p.add_argument("--limit", type=int, default=LIST_LIMIT, help=f"at most this many (default {LIST_LIMIT})")
    p = command(users, "show", show, "one user's profile, flags, connections and sessions")
    p.add_argument("user")
    p = command(
        users,
        "create",
        create,
        "create a user",
        "Create a user. The password is generated and printed once, or read from the first line of stdin "
        "with --stdin (never from the command line).",
    )
    p.add_argument("user")
    p.add_argument("--display-name", help="the display name (default: the username)")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--admin", action="store_true", help="make the user a server admin")
    for name, run, text in (
        ("disable", disable, "disable an account: no login or resume, its connections closed at once"),
        ("enable", enable, "enable a disabled account again"),
        ("make-admin", make_admin, "make a user a server admin (an owner of every room)"),
        ("remove-admin", remove_admin, "make a server admin an ordinary user"),
    ):
        command(users, name, run, text).add_argument("user")
    p = command(
        users,
        "reset-password",
        reset_password,
        "set a new password",
        "Set a user's password: generated and printed once, or read from the first line of stdin with --stdin "
        "(never from the command line). Every session of the user is revoked unless --keep-sessions.",
    )
    p.add_argument("user")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--keep-sessions", action="store_true", help="do not revoke the user's sessions")
