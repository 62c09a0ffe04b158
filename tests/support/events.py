"""Waiting for what a real client receives: the next event of a kind, the
next N messages, everything before a ping barrier, and (where no barrier can
prove it) everything until a quiet period."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed, ServerError
from chinwag.protocol.messages import ByeEvent, Event, Message

TIMEOUT = 5.0
E = TypeVar("E")


async def next_of(client: ChatClient, kind: type[E], timeout: float = TIMEOUT) -> E:
    """The next event of one type, skipping others (presence, member, ...)."""
    while True:
        event = await client.next_event(timeout=timeout)
        if isinstance(event, kind):
            return event


async def barrier(*clients: ChatClient, timeout: float = TIMEOUT) -> None:
    """Ping each client in turn and await its `ok`.

    The server handles a connection's requests (and notifications such as
    `typing`) in order and writes that connection's frames in order, and on
    one node it hands an event to every local recipient's queue before it
    answers the request that caused it. So once a connection's ping is
    answered, every event already queued for it has arrived; and a barrier on
    the sender followed by one on the receiver proves that everything the
    sender caused before its ping has reached the receiver. Not for events
    that come from another node (through Redis pub/sub) or a server timer."""
    for client in clients:
        await asyncio.wait_for(client.ping(), timeout)


async def pending(client: ChatClient) -> list[Event]:
    """The events already received and not yet taken (no waiting). An
    auto-acking client then acks what was taken, now, as asking for one more
    event would (a quiet-period wait did that when it timed out)."""
    events: list[Event] = []
    while client.pending_events():
        events.append(await client.next_event())
    if client.auto_ack:
        client.flush_acks()
    return events


async def settled(client: ChatClient, *after: ChatClient) -> list[Event]:
    """Every event `client` gets from what it and `after` did so far: a
    barrier on each of `after`, then on `client`, then what arrived."""
    await barrier(*after, client)
    return await pending(client)


async def settled_messages(client: ChatClient, *after: ChatClient) -> list[Message]:
    return [e for e in await settled(client, *after) if isinstance(e, Message)]


async def drain(client: ChatClient, quiet: float = 0.2) -> list[Event]:
    """Every event until the connection is quiet for `quiet` s: for events a
    barrier cannot wait for (another node's, a timer's)."""
    events: list[Event] = []
    while True:
        try:
            events.append(await client.next_event(timeout=quiet))
        except TimeoutError:
            return events


async def messages(client: ChatClient, quiet: float = 0.15) -> list[Message]:
    """The message events that arrive until the connection is quiet."""
    return [e for e in await drain(client, quiet) if isinstance(e, Message)]


async def collect(client: ChatClient, count: int, timeout: float = TIMEOUT, conv: str | None = None) -> list[Message]:
    """Exactly the next `count` message events (of `conv`, if given)."""
    out: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(out) < count:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"only {len(out)} of {count} messages arrived")
        try:
            event = await client.next_event(timeout=left)
        except TimeoutError:
            raise AssertionError(f"only {len(out)} of {count} messages arrived") from None
        if isinstance(event, Message) and (conv is None or event.conv == conv):
            out.append(event)
    return out


async def full_history(client: ChatClient, conv: str, page: int = 200) -> list[Message]:
    """Every message of `conv`, oldest first, by paging with `before`."""
    pages: list[list[Message]] = []
    before = None
    while True:
        batch, more = await client.history(conv, before=before, limit=page)
        pages.append(batch)
        if not more or not batch:
            break
        before = batch[0].mid
    return [m for batch in reversed(pages) for m in batch]


async def error_of(awaitable: Awaitable[Any], code: str, timeout: float = TIMEOUT) -> ServerError:
    """Await a request that must fail with `code`; returns the error."""
    try:
        result = await asyncio.wait_for(awaitable, timeout)
    except ServerError as exc:
        assert exc.code == code, f"expected {code}, got {exc.code}: {exc.message}"
        assert isinstance(exc.message, str) and exc.message, "an error without a human message"
        return exc
    raise AssertionError(f"expected error {code}, got ok: {result!r}")


async def closed_after_bye(client: ChatClient, reason: str, timeout: float = TIMEOUT) -> None:
    """The server says `bye` with `reason`, then closes the connection."""
    assert (await next_of(client, ByeEvent, timeout=timeout)).reason == reason
    try:
        while True:
            await client.next_event(timeout=timeout)
    except ConnectionClosed:
        return
