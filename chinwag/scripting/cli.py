"""The scripting subcommands of `chinwag`: `send`, `tail`, `wait`, `login`.

chinwag send --to '#ops' 'deploy done'
echo 'multi-line text' | chinwag send --to @alice -
chinwag tail '#ops' --json
chinwag wait --for-message 'deployed v[0-9.]+' --timeout 300 --in '#ops'
chinwag login --user bot --print-token > ~/.config/chinwag/bot.token
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from ..protocol.address import Address
from ..protocol.errors import RequestError
from . import credentials
from .actions import USAGE, Link, failure, login, send, tail, wait_for

SUBCOMMANDS = ("send", "tail", "wait", "login")


def _link_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="HOST:PORT", help="the server (default: the TUI's last one)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--ca", metavar="FILE", help="PEM file of the certificate authority to trust (implies --tls)")


def _token_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file", type=Path, metavar="FILE", help=f"read the token from FILE (default: ${credentials.TOKEN_ENV})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chinwag", description="chinwag from scripts and bots.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("send", help="send one message", description="Send one message; prints its mid.")
    p.add_argument("--to", required=True, metavar="ADDRESS", help="#room or @user")
    p.add_argument("text", help="the message, or - to read it from stdin")
    p.add_argument("--idempotency-key", metavar="KEY", help="a retry with the same KEY sends the message once")
    _link_options(p)
    _token_option(p)

    about = "Print a conversation's messages as they arrive, acking each: started again, it goes on where it stopped."
    p = sub.add_parser("tail", help="print a conversation's messages", description=about)
    p.add_argument("conv", metavar="ADDRESS", help="#room or @user")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--after", metavar="MID", help="first print the history after this message")
    start.add_argument("--last", type=int, metavar="N", help="first print the N newest messages")
    p.add_argument("--no-follow", action="store_true", help="stop after the history instead of waiting for more")
    _link_options(p)
    _token_option(p)

    about = "Wait for a message matching REGEX; exit 0 when it arrives, 1 on timeout."
    p = sub.add_parser("wait", help="wait for a message", description=about)
    p.add_argument("--for-message", required=True, metavar="REGEX", help="a Python regular expression")
    p.add_argument("--timeout", required=True, type=float, metavar="SECONDS")
    p.add_argument("--in", dest="conv", metavar="ADDRESS", help="only in this conversation")
    _link_options(p)
    _token_option(p)

    about = (
        "Log in (the password from the terminal, or stdin's first line) and print the session token,"
        f" for ${credentials.TOKEN_ENV} or --token-file."
    )
    p = sub.add_parser("login", help="log in once and print a token", description=about)
    p.add_argument("--user", required=True, metavar="NAME")
    p.add_argument("--print-token", action="store_true", required=True, help="print the token on stdout")
    _link_options(p)
    return parser


def _link(args: argparse.Namespace) -> Link:
    from ..tui.config import default_config_path, load_config
    from ..tui.connection import ServerAddress

    text = args.server or load_config(default_config_path()).server
    address = ServerAddress.parse(text)
    return Link(address.host, address.port, bool(args.tls or args.ca), args.ca)


def _address(text: str) -> str:
    try:
        return str(Address.parse(text))
    except RequestError as exc:
        raise ValueError(f"{exc.message} (an address is #room or @user)") from None


async def _run(args: argparse.Namespace) -> int:
    link = _link(args)
    if args.command == "login":
        print(await login(link, args.user, credentials.password()))
        return 0
    token = credentials.token(args.token_file)
    if args.command == "send":
        text = sys.stdin.read() if args.text == "-" else args.text
        print(
            await send(
                link, token, _address(args.to), text.rstrip("\n") if args.text == "-" else text, args.idempotency_key
            )
        )
        return 0
    if args.command == "tail":
        options = {"as_json": args.json, "after": args.after, "last": args.last, "follow": not args.no_follow}
        return await tail(link, token, _address(args.conv), sys.stdout, **options)
    pattern = re.compile(args.for_message)
    conv = _address(args.conv) if args.conv else None
    return await wait_for(link, token, pattern, args.timeout, conv, sys.stdout)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "tail" and args.last is not None and not 1 <= args.last <= 10_000:
        parser.error("--last takes 1 to 10000")
    if args.command == "wait" and args.timeout <= 0:
        parser.error("--timeout must be more than 0 seconds")
    try:
        return asyncio.run(_run(args))
    except credentials.CredentialError as exc:
        print(f"chinwag: {exc}", file=sys.stderr)
        return USAGE
    except (ValueError, re.error) as exc:
        print(f"chinwag: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        status, line = failure(exc)
        print(line, file=sys.stderr)
        return status
