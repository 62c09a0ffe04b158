"""The search index of the real `chinwag-server` process: kept in
`<data-dir>/search` with the embedded Redis, kept across restarts, rebuilt
when deleted and by `--reindex`, which refuses a directory a running server
holds; a second node on the same directory says so and searches from RAM."""

from __future__ import annotations

import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.server.conv import mid_key
from chinwag.server.process import ServerProcess

from ..support.processes import console_server, pid_alive, run_cli
from ..support.waits import eventually
from .helpers import SEARCH, found, next_millisecond, search_client


@pytest.fixture
async def started() -> AsyncIterator[list[ServerProcess]]:
    procs: list[ServerProcess] = []
    yield procs
    for proc in procs:
        if proc.running:
            proc.kill()


async def _start(procs: list[ServerProcess], data: Path, *extra: str) -> ServerProcess:
    proc = console_server(data, extra_args=extra)
    procs.append(proc)
    return await proc.start_async()


async def _client(proc: ServerProcess, name: str, *, register: bool = False) -> ChatClient:
    return await search_client(proc.port, name, register=register)


async def _stop(proc: ServerProcess, *clients: ChatClient) -> None:
    for client in clients:
        await client.close()
    assert await proc.stop_async(signal.SIGTERM) == 0, proc.output()
    assert "Traceback" not in proc.output()


async def test_the_index_lives_in_the_data_dir_and_is_rebuilt(started: list[ServerProcess], tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = await _start(started, data)
    alice = await _client(server, "alice", register=True)
    assert alice.features == frozenset(SEARCH)
    first = await alice.send("#lobby", "the harbour opens at six")
    await next_millisecond()
    second = await alice.send("@alice", "buy harbour tickets")
    assert mid_key(second.mid)[0] > mid_key(first.mid)[0]
    await found(alice, "harbour", "buy harbour tickets", "the harbour opens at six")
    await _stop(server, alice)
    assert (data / "search" / "v1" / "meta.json").is_file()

    status, out, err = await run_cli("--data-dir", str(data), "--reindex")
    assert status == 0, err
    assert "reindexed 2 messages of 2 conversations (2 entries read)" in out
    server = await _start(started, data)
    alice = await _client(server, "alice")
    page = await alice.search("harbour")  # a built index answers at once
    assert [m.text for m in page.results] == ["buy harbour tickets", "the harbour opens at six"]
    await _stop(server, alice)

    shutil.rmtree(data / "search")  # derived data: losing it loses nothing
    server = await _start(started, data)
    alice = await _client(server, "alice")
    await found(alice, "harbour", "buy harbour tickets", "the harbour opens at six")
    status, _, err = await run_cli("--data-dir", str(data), "--reindex")
    assert status == 1
    assert "in use by a running server" in err and "Traceback" not in err
    (worker,) = [pid for pid in _children(server.pid) if "chinwag.server.search.worker" in _cmdline(pid)]
    await alice.close()
    server.kill()  # the index process dies with the server, however it ends
    assert await eventually(lambda: not pid_alive(worker))


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def test_two_nodes_on_one_directory_and_none(
    started: list[ServerProcess], tmp_path: Path, clean_redis: str
) -> None:
    shared = str(tmp_path / "shared")
    nodes: list[Any] = []
    for name in ("a", "b"):
        nodes.append(await _start(started, tmp_path / name, "--redis-url", clean_redis, "--search-dir", shared))
    a, b = nodes
    assert not a.errors_logged()
    (warning,) = b.errors_logged()
    assert "in use by another server" in warning and "RAM" in warning
    alice = await _client(a, "alice", register=True)
    bob = await _client(b, "bob", register=True)
    await alice.send("#lobby", "one directory, two nodes")
    await found(bob, "directory", "one directory, two nodes")
    await found(alice, "directory", "one directory, two nodes")

    bare = await _start(started, tmp_path / "c", "--redis-url", clean_redis)  # no --search-dir: no index
    carol = await _client(bare, "carol", register=True)
    assert carol.features == frozenset({"messages"})
    status, _, err = await run_cli("--redis-url", clean_redis, "--reindex")
    assert status == 1 and "--search-dir" in err
    await _stop(bare, carol)
    await _stop(b, bob)
    await _stop(a, alice)


async def test_a_search_dir_that_cannot_be_used_is_one_line(tmp_path: Path, clean_redis: str) -> None:
    occupied = tmp_path / "a-file"
    occupied.write_text("not a directory")
    status, _, err = await run_cli(
        "--redis-url", clean_redis, "--port", "0", "--search-dir", str(occupied), "--log-level", "WARNING"
    )
    assert status == 1
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("chinwag-server: cannot open the search index") and "--search-dir ''" in line


async def test_a_node_restarted_while_another_served_catches_up(
    started: list[ServerProcess], tmp_path: Path, clean_redis: str
) -> None:
    a = await _start(started, tmp_path / "a", "--redis-url", clean_redis, "--search-dir", str(tmp_path / "a-index"))
    b = await _start(started, tmp_path / "b", "--redis-url", clean_redis, "--search-dir", str(tmp_path / "b-index"))
    alice = await _client(a, "alice", register=True)
    await alice.send("#lobby", "seen by both nodes")
    await found(alice, "nodes", "seen by both nodes")
    await _stop(a, alice)
    bob = await _client(b, "bob", register=True)
    await bob.send("#lobby", "sent while node a was down")
    await next_millisecond()
    await bob.send("@alice", "a direct one, also while a was down")
    await a.start_async()
    alice = await _client(a, "alice")
    await found(alice, "down", "a direct one, also while a was down", "sent while node a was down")
    await found(alice, "nodes", "seen by both nodes")
    await _stop(a, alice)
    await _stop(b, bob)
