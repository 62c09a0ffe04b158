"""chinwag-server's command line: every failure an operator can fix ends in
one line saying what to do, a non-zero status, and no traceback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket

from chinwag.server.embedded_redis import PID_FILE, find_redis_server, recorded_pid
from chinwag.server.process import free_port

from ..support.processes import (
    FAST_ARGON2_FLAGS,
    SERVER,
    console_server,
    pid_alive,
    run_cli,
)


def assert_one_line_failure(status: int, stdout: str, stderr: str, *words: str) -> str:
    assert status != 0, (stdout, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line message, got: {stderr!r}"
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert "listening" not in stdout
    return lines[0]


async def test_help_lists_the_options_and_exits_zero() -> None:
    status, out, err = await run_cli("--help")
    assert status == 0, err
    assert out.startswith("usage: chinwag-server")
    for flag in ("--host", "--port", "--redis-url", "--data-dir", "--log-level"):
        assert flag in out
    assert "CHINWAG_" in out
    assert "Traceback" not in err


async def test_port_in_use(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = await run_cli(
            "--port", str(port), "--data-dir", str(tmp_path / "d"), "--log-level", "WARNING", *FAST_ARGON2_FLAGS
        )
    line = assert_one_line_failure(status, out, err, str(port), "--port")
    assert "in use" in line
    # The embedded Redis it had started is gone again.
    pid = recorded_pid(tmp_path / "d")
    assert pid is None or not pid_alive(pid)


async def test_unreachable_redis_url(tmp_path) -> None:
    status, out, err = await run_cli(
        "--port",
        str(free_port()),
        "--redis-url",
        "redis://127.0.0.1:1",
        "--data-dir",
        str(tmp_path / "d"),
        "--log-level",
        "WARNING",
        timeout=20,
    )
    assert_one_line_failure(status, out, err, "redis://127.0.0.1:1")


async def test_unwritable_data_dir(tmp_path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file")
    status, out, err = await run_cli(
        "--port", str(free_port()), "--data-dir", str(not_a_dir / "data"), "--log-level", "WARNING"
    )
    line = assert_one_line_failure(status, out, err, str(not_a_dir / "data"))
    assert "--data-dir" in line


async def test_port_out_of_range_is_refused(tmp_path) -> None:
    """--port 99999 must be an error, not a server on some other port."""
    proc = await asyncio.create_subprocess_exec(
        SERVER,
        "--port",
        "99999",
        "--data-dir",
        str(tmp_path / "d"),
        "--log-level",
        "WARNING",
        *FAST_ARGON2_FLAGS,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first_line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "listening" not in first_line, f"out-of-range --port accepted: {first_line.strip()!r}"
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert_one_line_failure(int(proc.returncode or 0), first_line + out.decode(), err.decode(), "99999")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)


async def test_invalid_flag_value_exits_with_usage_error(tmp_path) -> None:
    status, _out, err = await run_cli("--port", "seventy", "--data-dir", str(tmp_path / "d"))
    assert status == 2
    assert "Traceback" not in err
    assert "--port" in err.strip().splitlines()[-1]
    assert not (tmp_path / "d").exists(), "nothing is started for a bad command line"


async def test_no_redis_server_binary(tmp_path) -> None:
    """No redis-server in the search path: one line that says what to do.
    The explicit search path is all the locator looks at, so the test holds
    whatever this machine has installed."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    status, out, err = await run_cli(
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
        "--log-level",
        "WARNING",
        "--redis-search-path",
        str(empty),
    )
    line = assert_one_line_failure(status, out, err, "redis-server", str(empty))
    assert "--redis-url" in line
    assert not (tmp_path / "d" / PID_FILE).exists()


async def test_redis_server_flag_that_is_not_a_binary(tmp_path) -> None:
    missing = tmp_path / "no-such-redis-server"
    status, out, err = await run_cli(
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
        "--log-level",
        "WARNING",
        "--redis-server",
        str(missing),
    )
    line = assert_one_line_failure(status, out, err, str(missing), "--redis-server")
    assert status == 1 and "not an executable file" in line


async def test_redis_search_path_finds_the_binary_there(tmp_path) -> None:
    """A search path holding (a copy of) a redis-server: the server runs that one."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy2(find_redis_server(), bin_dir / "redis-server")
    server = await console_server(tmp_path / "d", ["--redis-search-path", str(bin_dir)]).start_async()
    try:
        pid = server.redis_pid()
        assert pid is not None
        assert os.readlink(f"/proc/{pid}/exe") == str(bin_dir / "redis-server")
    finally:
        assert await server.stop_async() == 0
