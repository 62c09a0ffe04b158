"""What each subcommand does, on one `ChatClient` connection each.

Exit statuses (the same for every subcommand): 0 done, 1 refused or timed
out (one line on stderr says why), 2 bad usage, 3 the server could not be
reached or went away.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..protocol import limits
from ..protocol.client import ChatClient
from ..protocol.errors import ConnectionClosed, ServerError
from ..protocol.messages import ByeEvent, Message
from ..tui.text import shown

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3
CLIENT_NAME = "chinwag-cli/0.1"


@dataclass(frozen=True, slots=True)
class Link:
    host: str
    port: int
    tls: bool = False
    ca: str | None = None

    def client(self, *, auto_ack: bool = False) -> ChatClient:
        return ChatClient(
            self.host, self.port, tls=self.tls or None, ca=self.ca, client_name=CLIENT_NAME, auto_ack=auto_ack
        )


def cmid_for(key: str) -> str:
    """The cmid of `--idempotency-key KEY`: the same key sends once, from
    any retry, for a day (`limits.CMID_TTL_S`)."""
    return "k" + hashlib.sha256(key.encode()).hexdigest()[: limits.CMID_MAX - 1]


def message_record(msg: Message) -> dict[str, Any]:
    """A message as `tail --json` prints it: one JSON object a line."""
    out: dict[str, Any] = {"mid": msg.mid, "conv": msg.conv, "from": msg.sender, "text": msg.text, "ts": msg.ts}
    if msg.reply_to is not None:
        out["reply_to"] = msg.reply_to
    return out


def message_json(msg: Message) -> str:
    return json.dumps(message_record(msg), ensure_ascii=False)


def message_line(msg: Message) -> str:
    """A message as a human reads it, on one line, through the one rule for
    other people's strings (tui/text.py): a control character is shown, never
    obeyed, so someone else's text cannot drive the terminal."""
    return f"{msg.conv} <{msg.sender}> {shown(msg.text)}"


async def login(link: Link, username: str, password: str) -> str:
    client = link.client()
    try:
        await client.connect()
        return (await client.login(username, password)).token
    finally:
        await client.close()


async def send(link: Link, token: str, to: str, text: str, key: str | None) -> str:
    """Send once; the mid. With `key`, a retry of the same command stores
    nothing new and answers the mid stored the first time."""
    client = link.client()
    try:
        await client.connect()
        await client.resume(token)
        sent = await client.send(to, text, cmid=cmid_for(key) if key else None)
        return sent.mid
    finally:
        await client.close()


async def _history_after(client: ChatClient, conv: str, after: str | None, last: int | None) -> list[Message]:
    """The messages of `conv` after mid `after` (or its `last` newest), oldest first."""
    found: list[Message] = []
    before: str | None = None
    while True:
        page, more = await client.history(conv, before=before, limit=limits.HISTORY_MAX)
        older = [m for m in page if after is None or limits.mid_order(m.mid) > limits.mid_order(after)]
        found[:0] = older
        if last is not None and len(found) >= last:
            return found[-last:]
        if not more or not page or len(older) < len(page):
            return found
        before = page[0].mid


async def tail(
    link: Link,
    token: str,
    conv: str,
    out: TextIO,
    *,
    as_json: bool,
    after: str | None,
    last: int | None,
    follow: bool,
) -> int:
    """Print `conv`'s messages: from history (`after`, `last`), then what
    arrived since this user's cursor, then live (`follow`, until SIGTERM or
    SIGINT); each acked once printed, so a tail started again goes on where
    it stopped. A message printed just before a crash, its ack not yet
    written, is printed again: at least once, never lost."""
    client = link.client()
    show: Callable[[Message], str] = (
        (lambda m: json.dumps(message_record(m), ensure_ascii=False)) if as_json else message_line
    )
    seen: set[str] = set()

    def emit(msg: Message) -> None:
        if msg.mid in seen:
            return
        seen.add(msg.mid)
        out.write(show(msg) + "\n")
        out.flush()
        client.ack(msg.conv, msg.mid)

    try:
        await client.connect()
        await client.resume(token)
        if after is not None or last is not None:
            for msg in await _history_after(client, conv, after, last):
                emit(msg)
        if follow:
            status = await _follow(client, conv, emit)
            if status != OK:
                return status
        await client.ping()  # every ack is taken before we go
        return OK
    finally:
        await client.close()


async def _follow(client: ChatClient, conv: str, emit: Callable[[Message], None]) -> int:
    """Live messages until SIGTERM or SIGINT (OK) or the server ends the session."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopped = loop.create_task(stop.wait())
    try:
        while True:
            nxt = loop.create_task(client.next_event())
            await asyncio.wait({nxt, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                nxt.cancel()
                return OK
            event = nxt.result()
            if isinstance(event, Message) and event.conv == conv:
                emit(event)
            elif isinstance(event, ByeEvent):
                print(f"chinwag: the server ended the session ({event.reason})", file=sys.stderr)
                return UNREACHABLE
    finally:
        stopped.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def wait_for(
    link: Link, token: str, pattern: re.Pattern[str], timeout: float, conv: str | None, out: TextIO
) -> int:
    """Exit OK when a message matching `pattern` arrives (in `conv`, if
    given) after the wait began; REFUSED after `timeout` seconds. Messages
    from before (the login's replay of offline ones) do not count: a
    conversation's messages count from after its newest at the start."""
    client = link.client(auto_ack=True)
    try:
        await client.connect()
        await client.resume(token)
        newest = {str(address): last.mid for address, last in await client.conversations() if last is not None}

        async def watch() -> Message:
            while True:
                event = await client.next_event()
                if not isinstance(event, Message) or (conv is not None and event.conv != conv):
                    continue
                start = newest.get(event.conv)
                if start is not None and limits.mid_order(event.mid) <= limits.mid_order(start):
                    continue
                if pattern.search(event.text):
                    return event

        try:
            msg = await asyncio.wait_for(watch(), timeout)
        except TimeoutError:
            print(f"chinwag: no message matching {pattern.pattern!r} in {timeout:g} s", file=sys.stderr)
            return REFUSED
        out.write(message_line(msg) + "\n")
        out.flush()
        return OK
    finally:
        await client.close()


def failure(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one line for an error of a subcommand."""
    if isinstance(exc, ServerError):
        return REFUSED, f"chinwag: {exc.message} ({exc.code})"
    if isinstance(exc, (ConnectionClosed, OSError)):
        return UNREACHABLE, f"chinwag: cannot reach the server: {exc}"
    raise exc
