"""The durable outbox (chinwag/protocol/journal.py): lines the server has
not answered survive the client's death, SIGKILL included, and are sent once
at the next start; the file holds only what is pending, privately."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chinwag.protocol.client import ChatClient, Sent
from chinwag.protocol.errors import ServerError
from chinwag.protocol.journal import PendingSend, SendJournal
from chinwag.protocol.messages import Message
from chinwag.protocol.reconnect import ReconnectingClient

from ..support.events import drain
from ..support.settings import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
FAST = {"backoff_base": 0.02, "backoff_cap": 0.1}


def test_the_journal_keeps_what_is_pending_in_order_and_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "outbox" / "alice.jsonl"
    journal = SendJournal(path)
    assert journal.load() == []
    for i in range(3):
        journal.add(PendingSend(f"c{i}", "@bob", f"line {i}\nsecond line", None, 1.0))
    journal.done("c1")
    journal.done("c1")  # twice is harmless
    journal.close()
    with path.open("a") as f:
        f.write('{"add": "c9", "to": "@bob", "te')  # a crash mid-write
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "the lines are private"

    again = SendJournal(path)
    pending = again.load()
    assert [(p.cmid, p.text) for p in pending] == [("c0", "line 0\nsecond line"), ("c2", "line 2\nsecond line")]
    assert len(again) == 2
    assert len(path.read_text().splitlines()) == 2, "load compacts the file to what is pending"
    again.done("c0")
    again.done("c2")
    again.close()
    assert SendJournal(path).load() == []
    assert path.read_text() == ""


async def test_a_refused_send_leaves_the_journal_and_an_unanswered_one_stays(server, connect, tmp_path: Path) -> None:
    setup = await connect()
    await setup.register("alice", PASSWORD)
    await setup.close()
    journal = SendJournal(tmp_path / "alice.jsonl")
    alice = ReconnectingClient("127.0.0.1", server.port, journal=journal, **FAST)
    await alice.start(username="alice", password=PASSWORD)
    await alice.send("#lobby", "accepted")
    refused = alice.send_nowait("@nobody-here", "refused")[1]
    with pytest.raises(ServerError):
        await refused
    assert len(journal) == 0
    await alice.close()
    assert SendJournal(tmp_path / "alice.jsonl").load() == []


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from chinwag.protocol.journal import SendJournal
    from chinwag.protocol.reconnect import ReconnectingClient

    async def main() -> None:
        port, path = int(sys.argv[1]), Path(sys.argv[2])
        alice = ReconnectingClient("127.0.0.1", port, journal=SendJournal(path), backoff_base=30, backoff_cap=30)
        await alice.start(username="alice", password=sys.argv[3])
        print("ready", flush=True)
        sys.stdin.readline()  # the server is down now
        for i in range(3):
            alice.send_nowait("@bob", f"pending {i}")
        print("queued", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()


async def test_lines_pending_when_the_client_is_killed_are_sent_once_at_the_next_start(
    make_server, connect, tmp_path: Path
) -> None:
    first = await make_server()
    port = first.port
    setup = await connect(first)
    await setup.register("alice", PASSWORD)
    await setup.register("bob", PASSWORD)
    await setup.close()
    path = tmp_path / "outbox" / "alice.jsonl"

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(port), str(path), PASSWORD,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert await _line(proc) == "ready"
    await first.stop()
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    assert await _line(proc) == "queued"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()

    await make_server(port=port)
    journal = SendJournal(path)
    alice = ReconnectingClient("127.0.0.1", port, journal=journal, **FAST)
    await alice.start(username="alice", password=PASSWORD)
    assert [e.text for e, _ in alice.restored] == ["pending 0", "pending 1", "pending 2"]
    sent = [await asyncio.wait_for(f, 10) for _, f in alice.restored]
    assert len({s.mid for s in sent}) == 3
    assert len(journal) == 0
    await alice.close()

    # A second start (the done records lost, say) sends nothing again: the
    # server answers each cmid with the message it already stored.
    path.write_text("".join(line + "\n" for line in _adds(alice.restored)))
    again = ReconnectingClient("127.0.0.1", port, journal=SendJournal(path), **FAST)
    await again.start(username="alice", password=PASSWORD)
    resent = [await asyncio.wait_for(f, 10) for _, f in again.restored]
    assert [s.mid for s in resent] == [s.mid for s in sent]
    await again.close()

    bob = ChatClient("127.0.0.1", port)
    await bob.connect()
    await bob.login("bob", PASSWORD)
    texts = [e.text for e in await drain(bob) if isinstance(e, Message)]
    assert texts == ["pending 0", "pending 1", "pending 2"]
    await bob.close()


def _adds(restored: list[tuple[PendingSend, asyncio.Future[Sent]]]) -> list[str]:
    return [json.dumps({"add": e.cmid, "to": e.to, "text": e.text, "reply_to": None, "ts": e.ts}) for e, _ in restored]
