"""`chinwag`: the terminal client."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..protocol import DEFAULT_PORT

if TYPE_CHECKING:
    from .app import ChinwagApp


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chinwag",
        description="The chinwag terminal chat client. The last server and username are "
        "remembered in ~/.config/chinwag/config.toml (never the password).",
        epilog="Subcommands: `chinwag web` serves this client to a browser; `chinwag send|tail|wait|login` "
        "are the chat from scripts (each with --help).",
    )
    parser.add_argument("--version", action="version", version=f"chinwag {__version__}")
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help=f"the server to connect to (default: the last one, or 127.0.0.1:{DEFAULT_PORT})",
    )
    parser.add_argument(
        "--user", metavar="NAME", help="log in as NAME (the login screen then asks only for the password)"
    )
    parser.add_argument(
        "--lock-server",
        action="store_true",
        help="keep to --server: the login and register screens cannot change it (chinwag web passes this)",
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--ca", metavar="FILE", help="PEM file of the certificate authority to trust (implies --tls)")
    parser.add_argument(
        "--config", metavar="FILE", type=Path, help="settings file (default: ~/.config/chinwag/config.toml)"
    )
    return parser


def run(app: ChinwagApp, *, headless: bool = False, log_path: Path | None = None) -> int:
    """Run the app; the exit status. An error nothing caught, inside the app
    or around it, ends in one printed line, a log file and status 1."""
    from .crash import print_report

    try:
        app.run(headless=headless)
    except Exception as exc:  # reported, never a silent 0
        error: BaseException | None = exc
    else:
        error = app.crash
    if error is not None:
        print_report(error, log_path)
        return 1
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    from .app import ChinwagApp  # imported late so --help stays fast

    app = ChinwagApp(
        server=args.server,
        username=args.user,
        tls=args.tls or bool(args.ca),
        ca=args.ca,
        config_path=args.config,
        lock_server=args.lock_server,
    )
    return run(app)


if __name__ == "__main__":
    sys.exit(main())
