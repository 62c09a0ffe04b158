"""`chinwag send|tail|wait|login` as a script runs them: child processes of
the real console entry point against a real server, credentials only from
the environment, a token file or stdin, one line and a status for every
failure."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message

from ..support.events import drain
from ..support.settings import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


async def chinwag(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, str, str]:
    proc = await start(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": "/nonexistent", **(env or {})}
    full.pop("CHINWAG_TOKEN", None) if env is None or "CHINWAG_TOKEN" not in env else None
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chinwag.cli", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=full,
    )  # fmt: skip


def one_line(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])


async def token_of(server: Any, name: str) -> str:
    status, out, err = await chinwag(
        "login", "--user", name, "--print-token", "--server", f"127.0.0.1:{server.port}", stdin=PASSWORD + "\n"
    )
    assert status == 0, err
    return out.strip()


async def test_login_prints_a_token_and_send_uses_it_once_per_idempotency_key(server, user) -> None:
    bob = await user("bob")
    await user("alice")
    where = ["--server", f"127.0.0.1:{server.port}"]
    token = await token_of(server, "alice")
    env = {"CHINWAG_TOKEN": token}

    status, out, err = await chinwag("send", "--to", "@bob", "hello from a script", *where, env=env)
    assert status == 0, err
    first = out.strip()
    key = ["--idempotency-key", "deploy-42"]
    runs = [
        await chinwag("send", "--to", "@bob", "-", *key, *where, stdin="deployed\nv42\n", env=env) for _ in range(2)
    ]
    assert [r[0] for r in runs] == [0, 0] and runs[0][1] == runs[1][1], "the retry answers the first mid"
    texts = [(e.text, e.mid) for e in await drain(bob) if isinstance(e, Message)]
    assert texts == [("hello from a script", first), ("deployed\nv42", runs[0][1].strip())]

    token_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"chinwag-token-{os.getpid()}"
    token_file.write_text(token + "\n")
    try:
        status, _, err = await chinwag("send", "--to", "#lobby", "from a file", "--token-file", str(token_file), *where)
        assert status == 0, err
    finally:
        token_file.unlink()


async def test_every_failure_is_one_line_and_a_status(server, user) -> None:
    await user("alice")
    where = ["--server", f"127.0.0.1:{server.port}"]
    status, _, err = await chinwag("send", "--to", "#lobby", "x", *where)
    assert status == 2
    one_line(err, "CHINWAG_TOKEN", "--token-file")
    status, _, err = await chinwag("login", "--user", "alice", "--print-token", *where, stdin="wrong password\n")
    assert status == 1
    one_line(err, "bad_credentials")
    token = await token_of(server, "alice")
    env = {"CHINWAG_TOKEN": token}
    status, _, err = await chinwag("send", "--to", "@nobody", "x", *where, env=env)
    assert status == 1
    one_line(err, "no_such_user")
    status, _, err = await chinwag("send", "--to", "not an address", "x", *where, env=env)
    assert status == 2
    one_line(err)
    status, _, err = await chinwag("send", "--to", "#lobby", "x", "--server", "127.0.0.1:1", env=env)
    assert status == 3
    one_line(err, "cannot reach")
    status, _, err = await chinwag("send", "--to", "#lobby", "x", *where, env={"CHINWAG_TOKEN": "not-a-token"})
    assert status == 1
    one_line(err)
    status, _, err = await chinwag("wait", "--for-message", "(", "--timeout", "1", *where, env=env)
    assert status == 2
    one_line(err)


async def test_tail_prints_json_acks_as_it_goes_and_goes_on_where_it_stopped(server, user) -> None:
    alice = await user("alice")
    await user("bot")
    await alice.join("ops")
    where = ["--server", f"127.0.0.1:{server.port}"]
    token = await token_of(server, "bot")
    env = {"CHINWAG_TOKEN": token}
    bot = ChatClient("127.0.0.1", server.port)
    await bot.connect()
    await bot.resume(token)
    await bot.join("ops")
    await bot.close()
    old = [(await alice.send("#ops", f"old {i}")).mid for i in range(3)]

    status, out, err = await chinwag("tail", "#ops", "--json", "--last", "2", "--no-follow", *where, env=env)
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["mid"], r["text"], r["from"], r["conv"]) for r in records] == [
        (old[1], "old 1", "alice", "#ops"),
        (old[2], "old 2", "alice", "#ops"),
    ]

    live = await start("tail", "#ops", "--json", *where, env=env)
    assert live.stdout is not None
    await alice.send("#ops", "live one")
    line = await asyncio.wait_for(live.stdout.readline(), 20)
    assert json.loads(line)["text"] == "live one"
    live.terminate()
    await live.wait()

    await alice.send("#ops", "while the tail was down")
    again = await start("tail", "#ops", *where, env=env)
    assert again.stdout is not None
    line = await asyncio.wait_for(again.stdout.readline(), 20)
    assert line.decode().strip() == "#ops <alice> while the tail was down", "after its cursor: nothing twice"
    await alice.send("#ops", "evil\x1b]52;c;cm0=\x07\x1b[2J\u202eexe.txt\nsecond line")
    line = await asyncio.wait_for(again.stdout.readline(), 20)
    text = line.decode()
    assert text.count("\n") == 1 and "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert text.strip() == "#ops <alice> evil␛]52;c;cm0=␇␛[2J\ufffdexe.txt␊second line", "shown, never obeyed"
    again.terminate()
    await again.wait()


async def test_wait_exits_on_a_new_matching_message_and_times_out_otherwise(server, user) -> None:
    alice = await user("alice")
    await user("bot")
    where = ["--server", f"127.0.0.1:{server.port}"]
    env = {"CHINWAG_TOKEN": await token_of(server, "bot")}
    await alice.send("@bot", "deployed v1 (before the wait: does not count)")
    pattern = r"deployed v\d+"
    waiting = await start("wait", "--for-message", pattern, "--timeout", "20", "--in", "@alice", *where, env=env)
    done = asyncio.ensure_future(waiting.communicate())
    for k in range(2, 60):  # until it has taken its starting point and seen one
        await alice.send("@bot", "still deploying")
        await alice.send("#lobby", "deployed v9 (another conversation)")
        await alice.send("@bot", f"deployed v{k}")
        await asyncio.wait({done}, timeout=0.3)
        if done.done():
            break
    out, err = await asyncio.wait_for(done, 20)
    assert waiting.returncode == 0, err
    line = out.decode().strip()
    assert line.startswith("@alice <alice> deployed v") and "before the wait" not in line, line

    status, _, err = await chinwag("wait", "--for-message", "never", "--timeout", "0.5", *where, env=env)
    assert status == 1
    one_line(err, "no message matching")
