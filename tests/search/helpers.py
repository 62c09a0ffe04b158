"""Waiting for the search index through the wire: it commits what the hub
feeds it every ~150 ms, so a test polls (with a deadline) instead of
sleeping and hoping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from chinwag.protocol.client import ChatClient, SearchPage, Sent
from chinwag.protocol.errors import ServerError

from ..support.settings import PASSWORD

SEARCH = ["messages", "search"]  # the features a searching test client asks for
DEADLINE_S = 5.0
CONTRACT_S = 1.0  # "an accepted message is findable within 1 s of its ok"


async def search_until(
    client: ChatClient,
    query: str,
    predicate: Callable[[SearchPage], bool],
    timeout: float = DEADLINE_S,
    **fields: Any,
) -> SearchPage:
    """Search until `predicate` holds for the page; AssertionError with the
    last page if it does not within `timeout` s. An `unavailable` (the
    index being built) counts as not yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        page: SearchPage | None = None
        try:
            page = await client.search(query, **fields)
        except ServerError as exc:
            if exc.code != "unavailable":
                raise
        if page is not None and predicate(page):
            return page
        if loop.time() >= deadline:
            raise AssertionError(f"search {query!r} {fields} after {timeout} s: {page}")
        await asyncio.sleep(0.02)


async def found(client: ChatClient, query: str, *texts: str, timeout: float = DEADLINE_S, **fields: Any) -> SearchPage:
    """Search until the first page's texts are exactly `texts` (newest first)."""
    return await search_until(client, query, lambda p: texts_of(p) == list(texts), timeout, **fields)


def texts_of(page: SearchPage) -> list[str]:
    return [m.text for m in page.results]


async def every_page(client: ChatClient, query: str, page: str | None = None, **fields: Any) -> list[SearchPage]:
    """The pages from `page` (None: the first) to the last."""
    pages = [await client.search(query, page=page, **fields)]
    while pages[-1].next is not None:
        pages.append(await client.search(query, page=pages[-1].next, **fields))
    return pages


async def search_client(port: int, name: str, *, register: bool = False) -> ChatClient:
    """A client with `messages` and `search`, logged in as `name` (registered first if asked)."""
    client = ChatClient("127.0.0.1", port, features=SEARCH)
    await client.connect()
    if register:
        await client.register(name, PASSWORD)
    await client.login(name, PASSWORD)
    return client


async def apart(sent: Sent) -> Sent:
    """Return once the wall clock is past `sent`'s millisecond, so the next
    message's mid is newer in every conversation: streams of two
    conversations can give the same id in one ms, and results of equal ids
    are ordered by conversation, not by when they were sent."""
    wait = (int(sent.mid.partition("-")[0]) + 1) / 1000 - time.time()
    if wait > 0:
        await asyncio.sleep(wait + 0.0005)
    return sent


async def next_millisecond() -> None:
    """Let Redis's clock pass a millisecond: two messages in different
    conversations sent in one millisecond can get the same mid, and results
    that tie go by conversation id, not by which was sent first."""
    await asyncio.sleep(0.002)
