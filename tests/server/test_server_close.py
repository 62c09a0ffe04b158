"""A stopped server closes every socket it opened to Redis: the start
freezes the garbage collector's view of its objects (gc.freeze), so a pooled
connection left open would never be closed, and a process that starts
servers (the test suite, an embedding program) would run out of files."""

from __future__ import annotations

import os

from ..support.settings import PASSWORD


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_stopping_a_server_closes_its_redis_connections(make_server, connect) -> None:
    async def one_round(name: str) -> None:
        server = await make_server()
        client = await connect(server)
        await client.register(name, PASSWORD)
        await client.close()
        await server.stop()

    await one_round("alice")  # the first start opens what the process keeps (the loop's own files)
    before = open_files()
    for i in range(5):
        await one_round(f"alice{i}")
    assert open_files() <= before
