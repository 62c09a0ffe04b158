"""The web server: textual-serve's, with what a chat client served to browsers
needs on top.

- The command each browser session runs is built once, here, from
  `chinwag web`'s own arguments, each one shell-quoted (textual-serve runs it
  through the shell). Nothing from a request reaches it.
- It listens where it is told (loopback by default) on the port it is given,
  or an ephemeral one for port 0, and prints the address it got.
- The websocket that starts a session is refused to pages of another origin:
  a browser lets any site open a websocket to 127.0.0.1, and without the check
  any page the user visits could start clients here (cross-site websocket
  hijacking, or the same through DNS rebinding).
- At most `max_sessions` clients run at once; past that a new tab is refused
  rather than starting one more process.
- The page may not be framed by another site, and loads nothing from
  elsewhere (templates/app_index.html).
"""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

TEMPLATES = Path(__file__).with_name("templates")
SHUTDOWN_WAIT_S = 5.0  # how long a stop waits for the sessions' clients to quit
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is only reachable from this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """`0.0.0.0`, `::` or empty: every interface, so no one address to put in the page."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The line `chinwag web` prints when it listens beyond this machine."""
    if is_loopback(host):
        return None
    return (
        f"warning: serving on {host}, reachable from other machines. The chat login is the only check, "
        "and this server speaks plain HTTP: put it behind a TLS proxy (see docs/operations.md, 'In a browser')."
    )


def session_command(client_args: Sequence[str], python: str = sys.executable) -> str:
    """The shell command textual-serve runs for each browser session: the
    per-session wrapper (session.py) around the TUI, with `client_args`
    (from our own command line only), every word quoted for the shell, which
    then gives way to it (exec)."""
    return "exec " + shlex.join([python, "-m", "chinwag.web.session", *client_args])


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased, the port left out where
    it is the scheme's own; "" for what is not a URL (an Origin header is
    whatever the request says), which matches no origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return ""
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{url_host(host)}"
    return f"{scheme}://{url_host(host)}:{port}"


class WebServer(Server):
    """textual-serve's Server, bound by us (so port 0 works and the page's
    URLs name the real port), with the origin check and the session cap."""

    def __init__(
        self,
        command: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        max_sessions: int = 20,
        title: str = "chinwag",
    ) -> None:
        if public_url is None and is_wildcard(host):
            raise ValueError(f"listening on {host or 'every interface'}: give --public-url, the address browsers use")
        super().__init__(command, host=host, port=port, title=title, public_url=public_url, templates_path=TEMPLATES)
        self._given_public_url = public_url
        self.max_sessions = max_sessions
        self._sessions: set[asyncio.Task[Any]] = set()  # the handler of each open session
        self._sockets: set[web.WebSocketResponse] = set()  # their sockets, while the page is there
        self.origins: frozenset[str] = frozenset()
        self._socket: socket.socket | None = None

    def bind(self) -> socket.socket:
        """Listen now (before the event loop runs), and settle the public URL
        and the origins allowed to open sessions from the port we got."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host.strip("[]"), self.port), family=family, backlog=128)
        self.port = sock.getsockname()[1]
        if self._given_public_url is None:
            self.public_url = f"http://{url_host(self.host)}:{self.port}"
        origins = {origin_of(self.public_url)}
        if is_loopback(self.host):  # the same page, reached by another name for this machine
            origins |= {f"http://{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        self.origins = frozenset(origins)
        self._socket = sock
        return sock

    def initialize_logging(self) -> None:
        """Plain log lines on stderr (textual-serve's are rich, for a terminal)."""
        import logging

        logging.basicConfig(level="DEBUG" if self.debug else "WARNING", format="chinwag web: %(message)s")

    async def on_startup(self, app: web.Application) -> None:
        print(f"chinwag web: serving the chinwag client on {self.public_url} (Ctrl+C stops)", flush=True)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.on_response_prepare.append(_no_framing)
        return app

    def origin_allowed(self, origin: str | None) -> bool:
        """A browser always sends Origin on a websocket handshake; a request
        without one is not a page's, so there is no other site to refuse."""
        return origin is None or origin_of(origin) in self.origins

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if not self.origin_allowed(request.headers.get("Origin")):
            raise web.HTTPForbidden(text="this page may only be opened from its own address")
        if len(self._sessions) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(text=f"{self.max_sessions} sessions are open already; try again later")
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs each request in a task of its own
        self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self._sessions.discard(task)

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
        """textual-serve's loop over what the page sends, with the socket kept
        where a stop can close it."""
        self._sockets.add(websocket)
        try:
            await super()._process_messages(websocket, app_service)
        finally:
            self._sockets.discard(websocket)

    async def on_shutdown(self, app: web.Application) -> None:
        """aiohttp lets running handlers finish before it exits, and a
        session's lasts as long as its tab: close each session's socket, so
        that textual-serve tells its client to quit and waits for it (and for
        the wrapper's cleanup: the client's output ends when both are gone)."""
        sessions = list(self._sessions)
        closing = [ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping") for ws in list(self._sockets)]
        await asyncio.gather(*closing, return_exceptions=True)
        if sessions:
            await asyncio.wait(sessions, timeout=SHUTDOWN_WAIT_S)

    def serve(self, debug: bool = False) -> None:
        """Run until SIGINT or SIGTERM (textual-serve's serve, on our socket)."""
        self.debug = debug
        self.initialize_logging()
        sock = self._socket or self.bind()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_exit)
        web.run_app(
            self._make_app(),
            sock=sock,
            handle_signals=False,
            loop=loop,
            print=None,
            shutdown_timeout=SHUTDOWN_WAIT_S,
        )


async def _no_framing(request: web.Request, response: web.StreamResponse) -> None:
    """The page takes keystrokes: no other site may show it in a frame."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
