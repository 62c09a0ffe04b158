"""`make run`'s background server, started and stopped the way a user
does it: `make start` leaves a pidfile in the data directory, `make stop`
stops that server (and with it its embedded Redis) and says so, and a
second `make stop` says there is nothing to stop. Run with this suite's
own interpreter (`VENV=`), never reinstalling (`-o` the install stamp)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _make(target: str, data: Path, port: int) -> subprocess.CompletedProcess[str]:
    venv = sys.prefix
    env = {**os.environ, "CHINWAG_DATA_DIR": str(data)}
    cmd = ["make", "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", f"PORT={port}", target]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_stop_stops_the_server_make_start_started(tmp_path: Path) -> None:
    port = _free_port()
    started = _make("start", tmp_path, port)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "make stop stops it" in started.stdout
    pid = int((tmp_path / "server.pid").read_text())
    try:
        assert _listening(port) and _alive(pid) and (tmp_path / "redis.sock").exists()
        again = _make("start", tmp_path, port)
        assert "already listening" in again.stdout and int((tmp_path / "server.pid").read_text()) == pid

        stopped = _make("stop", tmp_path, port)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert f"stopped chinwag-server (pid {pid})" in stopped.stdout
        assert not _alive(pid) and not _listening(port)
        assert not (tmp_path / "server.pid").exists()
        deadline = time.monotonic() + 10  # its Redis goes with it
        while (tmp_path / "redis.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (tmp_path / "redis.sock").exists()

        nothing = _make("stop", tmp_path, port)
        assert nothing.returncode == 0 and "no background chinwag-server to stop" in nothing.stdout
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def test_make_stop_leaves_alone_a_pid_that_is_not_a_chinwag_server(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "server.pid").write_text(f"{sleeper.pid}\n")
        out = _make("stop", tmp_path, _free_port())
        assert out.returncode == 0 and f"(pid {sleeper.pid}) is not running" in out.stdout
        assert sleeper.poll() is None, "a stale pidfile must not kill whatever has that pid now"
        assert not (tmp_path / "server.pid").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
