"""Lines typed while the server is down survive a crash of the client: the
real `chinwag` command in a real pseudo-terminal, logged in to a real
server; the server goes away, two lines are typed, the client is killed
with SIGKILL; at the next start (the app, against the server back on its
port) both are shown pending and are sent, each exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message

from ..support.events import next_of
from ..support.settings import PASSWORD
from ..support.terminal import spawn_in_pty
from ..support.waits import eventually
from .conftest import log_in, log_lines, texts, wait_for

LINES = ("typed while the server was down", "and a second one")


async def test_lines_pending_at_a_sigkill_are_sent_once_at_the_next_start(
    make_server, user, make_app, tmp_path: Path
) -> None:
    first = await make_server()
    port = first.port
    await (await user("alice", to=first)).close()
    await (await user("carol", to=first)).close()

    command = [sys.executable, "-m", "chinwag.tui", "--server", f"127.0.0.1:{port}", "--user", "alice"]
    proc, controller = spawn_in_pty(command, tmp_path)
    output = bytearray()

    def drain() -> None:
        try:
            output.extend(os.read(controller, 65536))
        except OSError:
            asyncio.get_running_loop().remove_reader(controller)

    loop = asyncio.get_running_loop()
    loop.add_reader(controller, drain)
    try:
        assert await eventually(lambda: b"your password" in output, timeout=30), bytes(output)
        os.write(controller, PASSWORD.encode() + b"\r")
        assert await eventually(lambda: any(c.session.username == "alice" for c in first.connections), timeout=10)
        await first.stop()
        await asyncio.sleep(0.3)  # let the client see the link go
        for line in LINES:
            os.write(controller, line.encode() + b"\r")
        outbox = tmp_path / "data" / "chinwag" / "outbox" / f"127.0.0.1_{port}" / "alice.jsonl"
        assert await eventually(
            lambda: outbox.exists() and outbox.read_text().count('"add"') == len(LINES), timeout=10
        ), bytes(output[-2000:])
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        loop.remove_reader(controller)
        os.close(controller)
        if proc.returncode is None:
            proc.kill()
            proc.wait()

    again = await make_server(port=port)
    carol = ChatClient("127.0.0.1", port)
    await carol.connect()
    await carol.login("carol", PASSWORD)
    app = make_app(again, username="alice", outbox_dir=tmp_path / "data" / "chinwag" / "outbox")
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await log_in(pilot)
        got = [await next_of(carol, Message) for _ in LINES]
        assert [m.text for m in got] == list(LINES)
        await wait_for(pilot, lambda: texts(app, "#lobby") == list(LINES), what="both lines confirmed")
        assert not chat.state.conversation("#lobby").pending
        assert any("sending 2 messages from last time" in line for line in log_lines(app))
        assert chat.link.pending_sends() == 0
    history, _ = await carol.history("#lobby")
    assert [m.text for m in history] == list(LINES)  # once each
    assert outbox.read_text().count('"done"') == len(LINES)
    await carol.close()
