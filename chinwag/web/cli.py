"""`chinwag web`: serve the chinwag client to browsers (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_WEB_PORT = 7880


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chinwag web",
        description="Serve the chinwag client in a browser: every tab that opens the page runs its own "
        "client on this machine. It listens on 127.0.0.1 unless told otherwise; it has no login of its "
        "own beyond the chat's, so put it behind a TLS proxy before exposing it (docs/operations.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_WEB_PORT, help=f"port to listen on, 0 for any (default: {DEFAULT_WEB_PORT})"
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when it is not http://HOST:PORT (behind a proxy: https://chat.example.org)",
    )
    parser.add_argument(
        "--max-sessions", type=int, default=20, metavar="N", help="browser sessions at once, at most (default: 20)"
    )
    # Passed on, as given, to the client each session runs.
    parser.add_argument("--server", metavar="HOST:PORT", help="the chat server the clients connect to")
    parser.add_argument("--tls", action="store_true", help="the clients connect with TLS")
    parser.add_argument("--ca", metavar="FILE", help="PEM file of the certificate authority the clients trust")
    return parser


def client_args(args: argparse.Namespace) -> list[str]:
    """The `chinwag` options each session's client gets: ours, never a
    request's; the server locked, so a visitor cannot point this host at
    another address from the login screen."""
    words: list[str] = ["--lock-server"]
    if args.server:
        words += ["--server", args.server]
    if args.tls:
        words.append("--tls")
    if args.ca:
        words += ["--ca", args.ca]
    return words


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port < 65536:
        parser.error(f"--port {args.port}: not a port number (0-65535)")
    if args.max_sessions < 1:
        parser.error("--max-sessions must be at least 1")
    from .server import WebServer, exposure_warning, session_command  # late: --help stays fast

    try:
        server = WebServer(
            session_command(client_args(args)),
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            max_sessions=args.max_sessions,
        )
        server.bind()
    except ValueError as exc:
        print(f"chinwag web: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"chinwag web: cannot listen on {args.host} port {args.port}: {reason}", file=sys.stderr)
        return 2
    if warning := exposure_warning(args.host):
        print(f"chinwag web: {warning}", file=sys.stderr)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
