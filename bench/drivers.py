"""How the traffic engine talks to a server: one `Conn` per logged-in user,
whatever the wire. The engine (bench/traffic.py) only ever calls `send`,
sets `sink` and reads the counters, so the same generator drives:

- `client`: the real `ChatClient` (bench/clients.py), the realistic client,
  with its event queue, typed events and coalesced acks;
- `raw`: bench/raw.py, the chinwag wire protocol spoken directly, with as
  little work per message as the protocol allows, so that the load generator
  costs far less than the server it measures;
- `irc`: bench/irc.py, for an IRC server as the peer (`--peer ngircd`).

A driver hands every message it receives to `sink(conv, mid, sender, text,
cmid)`: `conv` is the address as the receiver sees it (`@sender` or
`#room`), `mid` whatever identifies the message within `conv` (the server's
mid; for IRC, which has none, one made from the sender and the cmid).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from chinwag.protocol.errors import ConnectionClosed, ServerError
from chinwag.protocol.messages import Message

from .clients import BenchClient, login_client

DriverName = Literal["client", "raw", "irc"]
CHINWAG_DRIVERS: tuple[DriverName, ...] = ("raw", "client")

# (conv, mid, sender, text, cmid)
Sink = Callable[[str, str, str, str, str], None]
# (mid, None) for an accepted send, (None, error code) for a refused one
Reply = Callable[[str | None, str | None], None]

TEXT_LEN = 64
_PAD = "x" * TEXT_LEN


def make_text(ns: int, cmid: str = "", written: int | None = None) -> str:
    """A message text: the send (or scheduled) time in CLOCK_MONOTONIC
    nanoseconds first, for the receiver's latency, padded to TEXT_LEN; after
    a scheduled time, `/` and the time the send was written (open loop), for
    the latency without the generator's own lateness. `cmid` goes in the text
    only where the wire has no field for it (IRC)."""
    when = f"{ns}/{written}" if written is not None else str(ns)
    head = f"{when} {cmid} " if cmid else f"{when} "
    return head + _PAD[len(head) :]


def stamp_of(text: str) -> int:
    return int(text[: text.index(" ")].partition("/")[0])


def written_of(text: str) -> int | None:
    """The time the send was written, where the text has one."""
    written = text[: text.index(" ")].partition("/")[2]
    return int(written) if written else None


class Conn:
    """One logged-in user on one connection.

    `echoes`: a direct message comes back to the sender's own connection
    (chinwag does, PROTOCOL.md: every connection of every member; IRC does
    not). `self_delivery`: a room message reaches its sender's connection too
    (chinwag yes, IRC no). The engine's loss checks depend on both."""

    echoes = True
    self_delivery = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self._acks = 0  # ack frames sent since reset_acks()
        self.heard = 0  # events received, setup traffic included (settling watches it)
        self.sink: Sink | None = None

    def acks_sent(self) -> int:
        """Ack frames sent since `reset_acks()`: each is a cursor write on the
        server, part of what a message costs."""
        return self._acks

    def reset_acks(self) -> None:
        self._acks = 0

    def send(self, to: str, stamp: int, cmid: str, done: Reply, written: int | None = None) -> bool:
        """Send one message; `done` is called once with the outcome. False,
        and `done` never called, if the connection is closed. `written`: see
        make_text."""
        raise NotImplementedError

    async def send_wait(self, to: str, stamp: int, cmid: str, timeout: float = 30.0) -> str:
        """Send one message and wait for the server to accept it; its mid."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def done(mid: str | None, error: str | None) -> None:
            if future.done():
                return
            if mid is None:
                future.set_exception(RuntimeError(f"send to {to} refused: {error}"))
            else:
                future.set_result(mid)

        if not self.send(to, stamp, cmid, done):
            raise ConnectionClosed(f"{self.name}: connection closed")
        return await asyncio.wait_for(future, timeout)

    async def join(self, room: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class ClientConn(Conn):
    """The real `ChatClient`: a pump task takes its events one by one (so its
    inbox marks each seen and its coalesced acks fall due as in any client)
    and hands the messages to the sink."""

    def __init__(self, name: str, client: BenchClient) -> None:
        super().__init__(name)
        self.client = client
        self.pump = asyncio.ensure_future(self._pump())

    def acks_sent(self) -> int:
        return self.client.acks_sent

    def reset_acks(self) -> None:
        self.client.acks_sent = 0

    async def _pump(self) -> None:
        client = self.client
        while True:
            try:
                event = await client.next_event()
            except ConnectionClosed:
                self.closed = True
                return
            self.heard += 1
            sink = self.sink
            if sink is not None and type(event) is Message:
                sink(event.conv, event.mid, event.sender, event.text, event.cmid or "")

    def send(self, to: str, stamp: int, cmid: str, done: Reply, written: int | None = None) -> bool:
        try:
            future = self.client.request_nowait("send", to=to, text=make_text(stamp, written=written), cmid=cmid)
        except ConnectionClosed:
            self.closed = True
            return False

        def replied(f: asyncio.Future[dict[str, object]]) -> None:
            exc = f.exception()
            if exc is None:
                done(str(f.result()["mid"]), None)
            else:
                done(None, exc.code if isinstance(exc, ServerError) else type(exc).__name__)

        future.add_done_callback(replied)
        return True

    async def join(self, room: str) -> None:
        await self.client.join(room)

    async def close(self) -> None:
        await self.client.close()
        self.pump.cancel()


async def open_conn(driver: DriverName, port: int, name: str, auto_ack: bool = True) -> Conn:
    """A logged-in `Conn` for `name` on `port` (chinwag: an account that
    exists, password bench.clients.PASSWORD; IRC: a free nick)."""
    if driver == "client":
        return ClientConn(name, await login_client(port, name, auto_ack))
    if driver == "raw":
        from .raw import open_raw

        return await open_raw(port, name, auto_ack)
    if driver == "irc":
        from .irc import open_irc

        return await open_irc(port, name)
    raise ValueError(f"unknown driver {driver!r}")
