"""When its terminal goes away (an SSH connection drops, a terminal window or
a tmux pane is closed) the client ends with status 129 and its connection
closed, instead of spinning at full CPU on a terminal that only answers end
of file. The real `chinwag` command in a real pseudo-terminal, logged in to a
real server; the hangup is the pty's other end closing, with or without the
SIGHUP the kernel sends, or a SIGHUP alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer
from chinwag.tui.hangup import HANGUP_STATUS

from ..support.settings import PASSWORD
from ..support.terminal import spawn_in_pty
from ..support.waits import eventually

EXIT_WITHIN_S = 10.0  # generous: an exit is asserted, not its speed
CPU_AFTER_HANGUP_MAX_S = 2.0  # a busy loop would pass this long before EXIT_WITHIN_S
NAME = "dora"

# Makes the pty the controlling terminal of the new session, then becomes chinwag.
CONTROLLING = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@dataclass
class Client:
    """`chinwag` running in a pty, with everything it wrote so far."""

    proc: subprocess.Popen[bytes]
    controller: int | None
    output: bytearray = field(default_factory=bytearray)

    def close_terminal(self) -> None:
        assert self.controller is not None
        asyncio.get_running_loop().remove_reader(self.controller)
        os.close(self.controller)
        self.controller = None

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far, from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def wait_exit(self) -> tuple[int, float]:
        """The exit status and the CPU seconds the process used in all, or an
        AssertionError after EXIT_WITHIN_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EXIT_WITHIN_S
        while loop.time() < deadline:
            # WNOHANG: never blocks
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)  # noqa: ASYNC222
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return self.proc.returncode, usage.ru_utime + usage.ru_stime
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"chinwag still running {EXIT_WITHIN_S} s after the hangup, having used {self.cpu_seconds():.1f} s of CPU"
        )


@pytest.fixture
async def registered(server: ChatServer) -> ChatServer:
    client = ChatClient("127.0.0.1", server.port)
    await client.connect()
    await client.register(NAME, PASSWORD)
    await client.close()
    assert await eventually(lambda: not server.connections)
    return server


@pytest.fixture
async def start(registered: ChatServer, tmp_path: Path) -> AsyncIterator[object]:
    started: list[Client] = []

    async def factory(*, controlling: bool) -> Client:
        """`chinwag --user NAME` in a new session on a new pty (its
        controlling terminal if `controlling`), logged in by typing."""
        args = ["-m", "chinwag.tui", "--server", f"127.0.0.1:{registered.port}", "--user", NAME]
        command = [sys.executable, *(["-c", CONTROLLING] if controlling else []), *args]
        proc, controller = spawn_in_pty(command, tmp_path, new_session=True)  # returns at once
        client = Client(proc, controller)
        started.append(client)

        def drain() -> None:
            try:
                client.output += os.read(controller, 65536)
            except OSError:  # the process ended and the pty with it
                client.close_terminal()

        asyncio.get_running_loop().add_reader(controller, drain)
        assert await eventually(lambda: b"your password" in client.output, timeout=30), bytes(client.output)
        os.write(controller, PASSWORD.encode() + b"\r")
        assert await eventually(lambda: any(c.session.username == NAME for c in registered.connections), timeout=10)
        return client

    yield factory
    for client in started:
        if client.proc.returncode is None:
            client.proc.kill()
            client.proc.wait()
        if client.controller is not None:
            client.close_terminal()


async def assert_ends(client: Client, server: ChatServer, cpu_before: float) -> None:
    """The client exits with HANGUP_STATUS, having spent little CPU since
    `cpu_before`, and the server sees its connection close."""
    status, cpu = await client.wait_exit()
    assert status == HANGUP_STATUS, bytes(client.output[-2000:])
    assert cpu - cpu_before < CPU_AFTER_HANGUP_MAX_S
    assert await eventually(lambda: not server.connections)


async def test_a_terminal_gone_without_a_sighup_ends_the_client(start, registered) -> None:
    """The pty is not the client's controlling terminal: no signal comes, as
    when a wrapper between the shell and the client outlives the hangup;
    every read of the terminal now returns end of file."""
    client = await start(controlling=False)
    cpu = client.cpu_seconds()
    client.close_terminal()
    await assert_ends(client, registered, cpu)


async def test_a_hangup_of_the_controlling_terminal_ends_the_client(start, registered) -> None:
    """The client leads the session the pty controls, so the kernel sends it
    SIGHUP (and SIGCONT) as the pty's other end closes."""
    client = await start(controlling=True)
    cpu = client.cpu_seconds()
    client.close_terminal()
    await assert_ends(client, registered, cpu)


async def test_a_sighup_with_the_terminal_still_there_restores_it(start, registered) -> None:
    client = await start(controlling=False)
    shown, cpu = len(client.output), client.cpu_seconds()
    client.proc.send_signal(signal.SIGHUP)
    await assert_ends(client, registered, cpu)
    assert await eventually(lambda: client.controller is None)  # all output read, pty closed
    rest = bytes(client.output[shown:])
    assert b"\x1b[?1049l" in rest, rest  # the alternate screen left: the shell's screen is back
