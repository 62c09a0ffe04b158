"""The embedded Redis is supervised: `kill -9` of the redis-server under a
running chinwag-server is followed by a restart on the same data directory
and address, one WARNING line, and service again within seconds, with every
acknowledged message still in history. A redis-server that keeps dying ends
the server with one clear line and a non-zero status. `--check` works on the
embedded Redis through the data directory.

Each test runs its own server and so its own embedded Redis: nothing here
touches the suite's shared Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ConnectionClosed, ServerError
from chinwag.server.embedded_redis import EmbeddedRedis, EmbeddedRedisError, find_redis_server, recorded_pid

from ..support.processes import console_server, pid_alive, run_cli

PASSWORD = "correct horse battery"
SUPERVISOR = "WARNING chinwag.server.embedded_redis"


@pytest.fixture(params=["unix-socket", "loopback-port"])
def data_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A short path (Redis listens on a unix socket in it) and one too long
    for a socket (Redis listens on a loopback port): a restart must keep
    either address."""
    base = Path(tempfile.mkdtemp(prefix="cw-sup-", dir="/tmp"))
    path = base / "d" if request.param == "unix-socket" else base / ("x" * 60) / ("y" * 60)
    try:
        yield path
    finally:
        pid = recorded_pid(path)
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


async def _logged_in(port: int, name: str, register: bool = False) -> ChatClient:
    client = ChatClient("127.0.0.1", port, connect_timeout=5)
    await asyncio.wait_for(client.connect(), 5)
    if register:
        await asyncio.wait_for(client.register(name, PASSWORD), 10)
    await asyncio.wait_for(client.login(name, PASSWORD), 10)
    return client


async def _kill_redis(data_dir: Path) -> int:
    """SIGKILL the embedded redis-server; returns once it is gone."""
    pid = recorded_pid(data_dir)
    assert pid is not None and pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if not pid_alive(pid):
            return pid
        await asyncio.sleep(0.02)
    raise AssertionError(f"redis-server {pid} survived SIGKILL")


async def _until_served(port: int, text: str, timeout: float = 10.0) -> tuple[ChatClient, float]:
    """Log in and send until both work; (the client, seconds it took)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    last: Exception | None = None
    while loop.time() - start < timeout:
        client: ChatClient | None = None
        try:
            client = await _logged_in(port, "alice")
            await asyncio.wait_for(client.send("@bob", text), 5)
            return client, loop.time() - start
        except (TimeoutError, ServerError, ConnectionClosed, OSError) as exc:
            last = exc
            if client is not None:
                await client.close()
            await asyncio.sleep(0.1)
    raise AssertionError(f"not serving again {timeout} s after the Redis kill: {last!r}")


async def test_kill_9_of_the_embedded_redis_is_survived(data_dir: Path) -> None:
    server = await console_server(data_dir).start_async()
    try:
        alice = await _logged_in(server.port, "alice", register=True)
        bob = await _logged_in(server.port, "bob", register=True)
        await bob.close()
        before = [(await alice.send("@bob", f"before {i}")).mid for i in range(5)]
        await alice.close()

        old_pid = await _kill_redis(data_dir)
        alice, _ = await _until_served(server.port, "after")  # within 10 s, or it fails
        new_pid = recorded_pid(data_dir)
        assert new_pid is not None and new_pid != old_pid and pid_alive(new_pid)

        messages, _ = await asyncio.wait_for(alice.history("@bob"), 5)
        texts = [m.text for m in messages]
        assert [m.mid for m in messages if m.text.startswith("before")] == before
        assert texts[-1] == "after"
        await alice.close()
        bob = await _logged_in(server.port, "bob")  # the other user, too
        await bob.close()
        status = await server.stop_async()
    finally:
        if server.running:
            server.kill()
    err = server.output()
    assert status == 0, err
    assert "Traceback" not in err and " ERROR " not in err, err
    restarts = [line for line in err.splitlines() if SUPERVISOR in line]
    assert len(restarts) == 1, err
    assert f"pid {old_pid}" in restarts[0] and "SIGKILL" in restarts[0]


async def test_a_redis_that_keeps_dying_ends_the_server(data_dir: Path) -> None:
    server = await console_server(data_dir, ["--redis-max-deaths", "3", "--redis-death-window", "60"]).start_async()
    try:
        await (await _logged_in(server.port, "bob", register=True)).close()
        await (await _logged_in(server.port, "alice", register=True)).close()
        for death in range(2):  # restarted each time: serving again
            await _kill_redis(data_dir)
            client, _ = await _until_served(server.port, f"after death {death}")
            await client.close()
        await _kill_redis(data_dir)  # the third death within the window
        status = await server.wait_async(20)
    finally:
        if server.running:
            server.kill()
    err = server.output()
    assert status != 0, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("chinwag-server: the embedded redis-server died 3 times within 60 s"), err
    assert "redis.log" in last
    assert len([line for line in err.splitlines() if SUPERVISOR in line]) == 2, err


async def test_check_in_embedded_mode(data_dir: Path) -> None:
    status, out, err = await run_cli("--check", "--data-dir", str(data_dir))
    assert status == 1, (out, err)
    assert out.startswith("unhealthy:") and "chinwag-server running" in out, out

    server = await console_server(data_dir).start_async()
    try:
        status, out, err = await run_cli("--check", "--data-dir", str(data_dir))
        assert status == 0, (out, err)
        assert out.startswith("ok: Redis ") and str(data_dir) in out, out
        assert len(out.strip().splitlines()) == 1

        pid = recorded_pid(data_dir)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # a Redis that does not answer
        try:
            status, out, err = await run_cli("--check", "--data-dir", str(data_dir), timeout=40)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert status == 1, (out, err)
        assert out.startswith("unhealthy: Redis at ") and "does not answer" in out, out
        assert len(out.strip().splitlines()) == 1 and "Traceback" not in err

        assert await server.stop_async() == 0
    finally:
        if server.running:
            server.kill()
    status, out, err = await run_cli("--check", "--data-dir", str(data_dir))
    assert status == 1, (out, err)
    assert out.startswith("unhealthy:"), out


async def test_a_restart_that_dies_at_start_is_one_death_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A replacement redis-server that dies while starting (killed, or it
    refuses to start) is the next death: one WARNING for it, not a second
    "restart failed" line as well, and it counts towards giving up."""
    caplog.set_level(logging.WARNING, logger="chinwag.server.embedded_redis")
    starts = tmp_path / "starts"
    wrapper = tmp_path / "redis-server"
    wrapper.write_text(  # the real binary the first time, then "exits at start"
        f"#!/bin/sh\nn=$(cat {starts} 2>/dev/null || echo 0)\necho $((n + 1)) > {starts}\n"
        f'[ "$n" = 0 ] && exec {find_redis_server()} "$@"\nexit 1\n'
    )
    wrapper.chmod(0o755)
    redis = EmbeddedRedis(tmp_path / "data", binary=str(wrapper))
    await redis.start()
    try:
        supervisor = asyncio.create_task(redis.supervise(max_deaths=3, window=60, poll_interval=0.05))
        assert redis.process is not None
        os.kill(redis.process.pid, signal.SIGKILL)
        with pytest.raises(EmbeddedRedisError) as info:
            await asyncio.wait_for(supervisor, 20)
    finally:
        await redis.stop()
    assert "died 3 times within 60 s" in str(info.value)
    told = [r.getMessage() for r in caplog.records if r.name == "chinwag.server.embedded_redis"]
    assert len(told) == 2, told  # the kill, then the first start that failed; the third ends it
    assert "killed by SIGKILL" in told[0] and "restarting" in told[1], told
