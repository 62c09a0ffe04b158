"""The IRC driver, for an IRC server as the bench's peer (`--peer ngircd`).

The same generator as chinwag's drivers (bench/traffic.py), mapped onto IRC
(RFC 2812):

- a user is a nick, registered with `NICK`/`USER` (IRC keeps no accounts);
  a room is a channel, `JOIN #room`;
- a send is `PRIVMSG <nick>` (dm) or `PRIVMSG #room`, followed by a `PING`
  with a token of its own: IRC answers nothing to a PRIVMSG that succeeds, and
  a server handles one client's commands in order, so the `PONG` stands for
  chinwag's `ok` (the send was accepted) and drives the same closed loop,
  window and acknowledged counts. An error numeric before the PONG (401 no
  such nick, 404 cannot send to channel, ...) refuses that send;
- IRC has no message id, so the text carries the cmid after the send time
  (`<ns> <cmid> xxx...`, the same 64 characters as chinwag's texts) and the
  mid is `<sender nick>/<cmid>`, made alike on both sides;
- IRC delivers neither the sender's own PRIVMSG back to it nor a channel
  message to its sender (`echoes`, `self_delivery` are False): a dm is one
  delivery, a room message N-1.

`IrcSession` is the protocol without I/O (bytes in, lines out); `IrcConn`
puts it on an asyncio transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, cast

from .clients import HOST
from .drivers import Conn, Reply, Sink, make_text

CHANNEL_PREFIXES = "#&+!"
MAX_LINE = 512  # RFC 2812 2.3: CR-LF included

# Numerics that refuse a PRIVMSG, by the chinwag error code closest to each.
SEND_ERRORS = {
    "401": "no_such_user",  # ERR_NOSUCHNICK
    "403": "no_such_room",  # ERR_NOSUCHCHANNEL
    "404": "not_member",  # ERR_CANNOTSENDTOCHAN
    "407": "bad_request",  # ERR_TOOMANYTARGETS
    "411": "bad_request",  # ERR_NORECIPIENT
    "412": "bad_request",  # ERR_NOTEXTTOSEND
}
REGISTRATION_ERRORS = {"431", "432", "433", "436", "437", "461", "462", "465"}
JOIN_ERRORS = {"403", "405", "471", "473", "474", "475", "476"}


class IrcError(Exception):
    """The server refused what the session needed (a nick, a join), or
    broke the protocol."""


class Line(NamedTuple):
    prefix: str  # "nick!user@host" or a server name; "" when absent
    command: str  # upper case, or a three-digit numeric
    params: list[str]  # the trailing parameter, if any, last


def parse_line(line: str) -> Line:
    """One IRC message, without its CR-LF."""
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    if line.startswith(":"):
        raise IrcError(f"no command in {line!r}")
    head, sep, trailing = line.partition(" :")
    params = head.split()
    if not params:
        raise IrcError("empty line")
    command = params.pop(0).upper()
    if sep:
        params.append(trailing)
    return Line(prefix, command, params)


def nick_of(prefix: str) -> str:
    return prefix.partition("!")[0]


def format_line(command: str, *params: str) -> str:
    """One IRC message with its CR-LF; the last parameter may hold spaces."""
    for p in params:
        if "\r" in p or "\n" in p or "\0" in p:
            raise ValueError(f"CR, LF or NUL in an IRC parameter: {p!r}")
    for p in params[:-1]:
        if not p or " " in p or p.startswith(":"):
            raise ValueError(f"only the last IRC parameter may be empty, hold spaces or start with ':': {p!r}")
    parts = [command, *params]
    if params and (not params[-1] or " " in params[-1] or params[-1].startswith(":")):
        parts[-1] = ":" + params[-1]
    line = " ".join(parts) + "\r\n"
    if len(line.encode()) > MAX_LINE:
        raise ValueError(f"IRC line of {len(line.encode())} bytes exceeds {MAX_LINE}")
    return line


def irc_text(stamp: int, cmid: str, written: int | None = None) -> str:
    return make_text(stamp, cmid, written)


@dataclass
class Pending:
    """A send waiting for its PONG."""

    token: str
    mid: str
    done: Reply
    error: str | None = None


@dataclass
class IrcSession:
    """One client's side of IRC, without I/O: `receive(bytes)` consumes what
    the server sent (answering its PINGs, completing sends, handing
    PRIVMSGs to `sink`); what to send accumulates for `take_output()`."""

    nick: str
    sink: Sink | None = None
    registered: bool = False
    joined: set[str] = field(default_factory=set)
    failure: IrcError | None = None
    heard: int = 0
    on_change: Callable[[], None] | None = None  # registration, join or failure
    _out: list[str] = field(default_factory=list)
    _partial: str = ""
    _pending: deque[Pending] = field(default_factory=deque)
    _tokens: int = 0

    # --- what the client says ------------------------------------------------------

    def register(self) -> None:
        self._out.append(format_line("NICK", self.nick))
        self._out.append(format_line("USER", self.nick, "0", "*", self.nick))

    def join(self, channel: str) -> None:
        self._out.append(format_line("JOIN", channel))

    def privmsg(self, target: str, stamp: int, cmid: str, done: Reply, written: int | None = None) -> None:
        """Send `PRIVMSG target` and the PING whose PONG completes it."""
        self._tokens += 1
        token = str(self._tokens)
        # format_line(...) for both, without its checks: the bench makes the
        # target and the text, of the safe characters (tests hold them equal)
        self._out.append(f"PRIVMSG {target} :{irc_text(stamp, cmid, written)}\r\nPING {token}\r\n")
        self._pending.append(Pending(token, f"{self.nick}/{cmid}", done))

    def quit(self, reason: str) -> None:
        self._out.append(format_line("QUIT", reason))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def take_output(self) -> bytes:
        out, self._out = self._out, []
        return "".join(out).encode()

    @property
    def has_output(self) -> bool:
        return bool(self._out)

    # --- what the server says ------------------------------------------------------

    def receive(self, data: bytes) -> None:
        text = self._partial + data.decode("utf-8", "replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE * 8:
            self._fail(IrcError("the server sent a line far over 512 bytes"))
            return
        for raw in lines:
            if raw.endswith("\r"):
                raw = raw[:-1]
            if raw:
                self._line(parse_line(raw))

    def _line(self, line: Line) -> None:
        command = line.command
        params = line.params
        if command == "PRIVMSG" and len(params) == 2:
            self._privmsg(nick_of(line.prefix), params[0], params[1])
        elif command == "PONG":
            self._pong(params[-1] if params else "")
        elif command == "PING":
            self._out.append(format_line("PONG", params[-1] if params else ""))
        elif command == "001":
            self.registered = True
            self._changed()
        elif command == "366" and len(params) >= 2:  # RPL_ENDOFNAMES: the join is complete
            self.joined.add(params[1].lower())
            self._changed()
        elif command in SEND_ERRORS and self._pending:
            head = self._pending[0]
            if head.error is None:
                head.error = SEND_ERRORS[command]
        elif not self.registered and command in REGISTRATION_ERRORS:
            self._fail(IrcError(f"{self.nick}: registration refused: {' '.join(params)}"))
        elif command in JOIN_ERRORS:
            self._fail(IrcError(f"{self.nick}: join refused: {' '.join(params)}"))
        elif command == "ERROR":
            self._fail(IrcError(f"{self.nick}: server closed: {' '.join(params)}"))

    def _privmsg(self, sender: str, target: str, text: str) -> None:
        self.heard += 1
        sink = self.sink
        if sink is None:
            return
        parts = text.split(" ", 2)
        if len(parts) < 2:
            return  # not one of the bench's texts
        cmid = parts[1]
        conv = target if target[:1] in CHANNEL_PREFIXES else "@" + sender
        sink(conv, f"{sender}/{cmid}", sender, text, cmid)

    def _pong(self, token: str) -> None:
        if not self._pending:
            return  # a PONG the bench did not ask for
        head = self._pending[0]
        if head.token != token:
            self._fail(IrcError(f"{self.nick}: PONG {token!r} while waiting for {head.token!r}"))
            return
        self._pending.popleft()
        if head.error is None:
            head.done(head.mid, None)
        else:
            head.done(None, head.error)

    def _fail(self, error: IrcError) -> None:
        if self.failure is None:
            self.failure = error
        self.abandon("closed")
        self._changed()

    def abandon(self, code: str) -> None:
        """The connection is gone: every send still waiting is refused with `code`."""
        pending, self._pending = self._pending, deque()
        for p in pending:
            p.done(None, code)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


class IrcConn(Conn, asyncio.Protocol):
    """An `IrcSession` on an asyncio transport: what the session queues in
    one loop turn leaves in one write, as with the chinwag drivers, so both
    servers see the same batching from the generator."""

    echoes = False
    self_delivery = False

    def __init__(self, nick: str) -> None:
        Conn.__init__(self, nick)
        self.loop = asyncio.get_running_loop()
        self.session = IrcSession(nick, sink=self._deliver, on_change=self._wake)
        self.transport: asyncio.Transport | None = None
        self.flush_scheduled = False
        self.changed: asyncio.Event = asyncio.Event()
        self.lost: asyncio.Future[None] = self.loop.create_future()

    def _deliver(self, conv: str, mid: str, sender: str, text: str, cmid: str) -> None:
        self.heard += 1
        sink = self.sink
        if sink is not None:
            sink(conv, mid, sender, text, cmid)

    def _wake(self) -> None:
        self.changed.set()

    # --- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        session = self.session
        session.receive(data)
        if session.has_output:
            self._schedule()
        if session.failure is not None and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.session.abandon("closed")
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake()

    # --- writing -------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(self.session.take_output())

    def send(self, to: str, stamp: int, cmid: str, done: Reply, written: int | None = None) -> bool:
        if self.closed:
            return False
        self.session.privmsg(to[1:] if to.startswith("@") else to, stamp, cmid, done, written)
        self._schedule()
        return True

    async def until(self, ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        async def wait() -> None:
            while not ready():
                if self.session.failure is not None:
                    raise self.session.failure
                if self.closed:
                    raise IrcError(f"{self.name}: connection closed while waiting for {what}")
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def join(self, room: str) -> None:
        channel = "#" + room
        self.session.join(channel)
        self._schedule()
        await self.until(lambda: channel.lower() in self.session.joined, f"JOIN {channel}")

    async def close(self) -> None:
        if self.transport is None or self.closed:
            return
        # QUIT, then let the server close: closing first would leave it
        # writing the QUIT notices of others to a closed socket (its log
        # counts those as errors)
        self.session.quit("bench done")
        self._flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.lost), 5)
        self.transport.close()


async def open_irc(port: int, nick: str) -> IrcConn:
    """Connect and register `nick` (until RPL_WELCOME)."""
    loop = asyncio.get_running_loop()
    conn = IrcConn(nick)
    await asyncio.wait_for(loop.create_connection(lambda: conn, HOST, port), 30)
    conn.session.register()
    conn._schedule()
    try:
        await conn.until(lambda: conn.session.registered, "registration")
    except BaseException:
        if conn.transport is not None:
            conn.transport.close()
        raise
    return conn
