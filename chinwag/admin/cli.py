"""chinwag-admin: argv -> one command, run against the server's Redis.

Command groups: each is one module of this package with a
`register(subparsers)` function that adds its group (see common.group and
common.command); `GROUPS` below lists them, in the order `--help` shows.
Adding a group is writing its module and adding it to `GROUPS`.

Redis: `--redis-url URL`, or the embedded Redis of a server running with
`--data-dir DIR` (found from the files it keeps there; the server's default
data directory if neither is given). `CHINWAG_REDIS_URL`,
`CHINWAG_DATA_DIR` and the server's config file (`--config`,
`CHINWAG_CONFIG`) are read as chinwag-server reads them. chinwag-admin
never starts that Redis itself: a server starting meanwhile would stop it
as a leftover.

Every error ends in one line on stderr and exit status 1 (2 for a usage
error), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
from pathlib import Path

from .. import __version__
from ..server import config_file
from ..server.embedded_redis import EmbeddedRedisError, running_url
from ..server.settings import default_data_dir, env_overrides
from ..server.store import StorageUnavailable, Store
from . import invites, rooms, sessions, users
from .common import Admin, AdminError, Parser
from .output import Output

GROUPS = (users, sessions, invites, rooms)

REDIS_TIMEOUT_S = 5.0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="chinwag-admin",
        description="Administer a chinwag server: users, sessions, invitation codes, rooms. It works on the "
        "server's Redis while servers run; running servers hear of its changes at once.",
    )
    parser.add_argument("--version", action="version", version=f"chinwag-admin {__version__}")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--redis-url", metavar="URL", help="the Redis the servers use (default: CHINWAG_REDIS_URL)")
    where.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        help="the data directory of a chinwag-server running with its embedded Redis "
        f"(default: CHINWAG_DATA_DIR, else {default_data_dir()})",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the server's config file, for its redis_url or data_dir (default: CHINWAG_CONFIG)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    subparsers = parser.add_subparsers(title="command groups", metavar="GROUP", required=True)
    for module in GROUPS:
        module.register(subparsers)
    return parser


def redis_url(args: argparse.Namespace, environ: dict[str, str] | None = None) -> str:
    """The URL to reach, as chinwag-server would find its Redis (flags >
    CHINWAG_* > the config file): --redis-url, else the embedded Redis of
    the data directory."""
    env = env_overrides(environ)
    config = args.config or ((environ or os.environ).get("CHINWAG_CONFIG") or None)
    try:
        values = config_file.load(Path(config)) if config else {}
    except config_file.ConfigError as exc:
        raise AdminError(str(exc)) from None
    if args.redis_url or (not args.data_dir and (env.get("redis_url") or values.get("redis_url"))):
        return str(args.redis_url or env.get("redis_url") or values["redis_url"])
    data_dir = Path(args.data_dir or env.get("data_dir") or values.get("data_dir") or default_data_dir()).expanduser()
    try:
        return running_url(data_dir)
    except EmbeddedRedisError as exc:
        raise AdminError(f"{exc} (or name the Redis with --redis-url)") from None


async def run(args: argparse.Namespace) -> None:
    url = redis_url(args)
    store = Store(url, timeout=REDIS_TIMEOUT_S)
    try:
        try:
            await store.start()
        except Exception as exc:
            raise AdminError(f"cannot reach Redis at {url} ({exc})") from None
        admin = Admin(store, Output(args.json), b"admin-" + secrets.token_hex(4).encode())
        try:
            await args.run(admin, args)
        except StorageUnavailable as exc:
            raise AdminError(f"Redis at {url} failed: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), REDIS_TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(run(args))
    except AdminError as exc:
        print(f"chinwag-admin: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
