"""How a node's index comes to hold everything in Redis: the first build
(answered `unavailable` meanwhile), a restart catching up after its marks,
a deleted directory rebuilt, events the bus lost read back after the
subscription returns, and a directory another server holds."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from pathlib import Path

import pytest
import redis as sync_redis

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer

from ..support.events import error_of
from ..support.settings import fast_settings
from .helpers import found, search_client, search_until, texts_of


async def _login(server: ChatServer, name: str, *, register: bool = False) -> ChatClient:
    return await search_client(server.port, name, register=register)


async def test_a_search_during_the_first_build_is_unavailable(clean_redis: str, tmp_path: Path) -> None:
    seed = ChatServer(fast_settings(search_dir=""), clean_redis)
    await seed.start()
    alice = await _login(seed, "alice", register=True)
    await alice.send("#lobby", "written before any index existed")
    # more than one page of catch-up: the build is still reading when its index process is stopped
    await asyncio.gather(*(seed.store.send("#lobby", "alice", f"filler {n}", None) for n in range(1_500)))
    await alice.close()
    await seed.stop()

    node = ChatServer(fast_settings(search_dir=str(tmp_path / "search")), clean_redis)
    assert node.search is not None
    await node.start()
    child = node.search.index.pid
    assert child is not None
    os.kill(child, signal.SIGSTOP)  # the build's writes wait: it cannot finish
    try:
        alice = await _login(node, "alice")
        error = await error_of(alice.search("written"), "unavailable")
        assert error.message == "the search index is being built; try again shortly"
    finally:
        os.kill(child, signal.SIGCONT)
    await found(alice, "written", "written before any index existed")
    await alice.close()
    await node.stop()


async def test_the_index_process_is_restarted_when_it_dies(make_server, tmp_path: Path) -> None:
    node = await make_server(search_dir=str(tmp_path / "search"))
    assert node.search is not None
    alice = await _login(node, "alice", register=True)
    await alice.send("#lobby", "before the crash")
    await found(alice, "crash", "before the crash")
    first = node.search.index.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await alice.send("#lobby", "crash while it was down")
    await found(alice, "crash", "crash while it was down", "before the crash")
    assert node.search.index.pid not in (None, first)


async def test_a_restarted_node_catches_up_after_its_marks(make_server, tmp_path: Path) -> None:
    a_dir = str(tmp_path / "a")
    a = await make_server(search_dir=a_dir)
    b = await make_server(search_dir=str(tmp_path / "b"))
    alice = await _login(b, "alice", register=True)
    old = [await alice.send("#lobby", f"old news {n}") for n in range(30)]
    await a.stop()
    a = await make_server(search_dir=a_dir)  # its start reads the 30 from Redis and marks them
    reader = await _login(a, "alice")
    await search_until(reader, "news", lambda p: len(p.results) == 20)
    await reader.close()
    await a.stop()

    await alice.edit("#lobby", old[0].mid, "old news rewritten as fresh")
    await alice.delete("#lobby", old[1].mid)
    await alice.send("#lobby", "fresh while the node was down")
    a = await make_server(search_dir=a_dir)
    assert a.search is not None
    reader = await _login(a, "alice")
    await found(reader, "fresh", "fresh while the node was down", "old news rewritten as fresh")
    assert texts_of(await reader.search('"old news 1"')) == []
    assert a.search.read_back == 3  # what came after its marks, not the conversation again
    await reader.close()
    await alice.close()


async def test_a_deleted_index_directory_is_rebuilt_from_redis(make_server, tmp_path: Path) -> None:
    where = tmp_path / "search"
    node = await make_server(search_dir=str(where))
    alice = await _login(node, "alice", register=True)
    await alice.send("#lobby", "keep me findable")
    await alice.send("@alice", "a note to myself")
    await found(alice, "keep", "keep me findable")
    await alice.close()
    await node.stop()

    shutil.rmtree(where)
    node = await make_server(search_dir=str(where))
    alice = await _login(node, "alice")
    await found(alice, "keep", "keep me findable")
    await found(alice, "note", "a note to myself", conv="@alice")
    assert (where / "v1" / "meta.json").is_file()
    await alice.close()


async def test_events_the_bus_lost_are_read_back_after_the_subscription_returns(
    make_server, tmp_path: Path, clean_redis: str
) -> None:
    a = await make_server(search_dir=str(tmp_path / "a"))
    b = await make_server(search_dir=str(tmp_path / "b"))
    alice = await _login(a, "alice", register=True)
    bob = await _login(b, "bob", register=True)
    await alice.send("#lobby", "heard by everyone")
    await found(bob, "heard", "heard by everyone")
    # stored, never published: as when a node dies between its write and its publish
    await a.store.send("#lobby", "alice", "never on the bus", None)
    admin = sync_redis.Redis.from_url(clean_redis)
    try:
        assert admin.client_kill_filter(_type="pubsub") >= 2
    finally:
        admin.close()
    await found(bob, "bus", "never on the bus")
    await found(alice, "bus", "never on the bus")
    await alice.close()
    await bob.close()


async def test_a_directory_in_use_falls_back_to_ram(make_server, tmp_path: Path, caplog) -> None:
    shared = str(tmp_path / "shared")
    first = await make_server(search_dir=shared)
    alice = await _login(first, "alice", register=True)
    await alice.send("#lobby", "before the second node")
    with caplog.at_level(logging.WARNING, logger="chinwag.server.search.service"):
        second = await make_server(search_dir=shared)
    (line,) = [r.getMessage() for r in caplog.records if "in use by another server" in r.getMessage()]
    assert "RAM" in line and "--search-dir" in line
    bob = await _login(second, "bob", register=True)
    await alice.send("#lobby", "after the second node")
    await found(bob, "node", "after the second node", "before the second node")
    await found(alice, "node", "after the second node", "before the second node")
    await alice.close()
    await bob.close()


@pytest.mark.parametrize("search_dir", ["", None])
async def test_no_search_dir_no_index(make_server, search_dir: str | None) -> None:
    node = await make_server(search_dir=search_dir)
    assert node.search is None
    alice = await _login(node, "alice", register=True)
    await error_of(alice.search("anything"), "unavailable")
    await alice.close()
