"""What every command group shares: the context a command runs with, the
error that ends it in one line, and the small parsers (durations, a
password from stdin)."""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ..protocol import limits
from ..server.hub import bus_payload
from ..server.store import Store
from .output import Output


class AdminError(Exception):
    """A problem the operator can fix: printed as one line, exit status 1."""


@dataclass(slots=True)
class Admin:
    """What a command runs with: the Store (the only way to Redis), where to
    print, and how to tell running servers."""

    store: Store
    out: Output
    origin: bytes  # this run's id on the node bus (servers skip only their own)

    async def publish(self, events: list[list[Any]]) -> None:
        """Tell every running node (the same events a node sends), so live
        connections hear of a change at once."""
        if events:
            await self.store.publish(bus_payload(self.origin, events))

    async def user(self, name: str) -> tuple[str, dict[str, str]]:
        """The normalized name and profile of an existing user, else AdminError."""
        normal = limits.normalize_username(name)
        info = (await self.store.users_info([normal])).get(normal) if normal else None
        if normal is None or info is None:
            raise AdminError(f"there is no user '{name}' (see: chinwag-admin users list)")
        return normal, info


Run = Callable[[Admin, argparse.Namespace], Awaitable[None]]


class Parser(argparse.ArgumentParser):
    """A usage error is one line, not the whole usage (see --help); exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def command(groups: Any, name: str, run: Run, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """Add one command to a group's subparsers; `run` does it."""
    parser: argparse.ArgumentParser = groups.add_parser(name, help=help, description=description or help)
    parser.set_defaults(run=run)
    # also after the command (`users list --json`), not only before the group
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    return parser


def group(subparsers: Any, name: str, help: str) -> Any:
    """Add a command group (`users`, `sessions`, ...); returns its subparsers."""
    parser = subparsers.add_parser(name, help=help, description=help)
    return parser.add_subparsers(title="commands", metavar="COMMAND", required=True)


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_DURATION_S = 366 * 86_400


def duration(text: str) -> int:
    """`30m`, `12h`, `7d`, `2w` in seconds; AdminError for anything else."""
    match = _DURATION.match(text)
    if not match:
        raise AdminError(f"bad duration '{text}': write a number and a unit (s, m, h, d, w), like 12h or 7d")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not 0 < seconds <= MAX_DURATION_S:
        raise AdminError(f"bad duration '{text}': between 1 s and 366 days")
    return seconds


def new_password() -> str:
    return secrets.token_urlsafe(12)


def password_from_stdin() -> str:
    """One line of stdin, the line ending dropped (never argv: argv is seen by
    every user of the machine in the process list)."""
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password.removesuffix("\r")
    if (problem := limits.password_problem(password)) is not None:
        raise AdminError(f"the password on stdin is not accepted: {problem}")
    return password
