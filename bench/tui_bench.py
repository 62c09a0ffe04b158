"""The TUI's benchmark: a headless ChinwagApp logged in to a real
chinwag-server (its own process, with an embedded Redis), fed by a sender in
another process. Prints one JSON line on stdout; progress goes to stderr.

    python bench/tui_bench.py [--messages 5000] [--duration 10] [--rate 200]

1. absorb: while the app does not read its socket, a sender puts N messages
   into the open conversation (and another sender fills a room #big with N);
   then the app reads again, and the N arrive at full network speed: the time
   until the last is on screen gives `absorb_msgs_per_s`. The same N are then
   posted to the screen as event bursts with no network at all
   (`ui_absorb_msgs_per_s`: the app's own ceiling).
2. open: a room with N messages of history is opened: time until its latest
   page is on screen, then until every message has been loaded by scrolling
   up, and one full relayout of all N rows.
3. typing: while the sender streams at RATE/s, keys are typed into the
   composer; latency is from posting the key to the first frame that shows it.

"On screen" is a frame the compositor rendered and turned into the bytes a
terminal would be sent (headless drivers skip that step; this hook does it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/tui_bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events
from textual.widgets import Input

from bench.machine import busy_cores, wait_for_quiet
from bench.servers import CHEAP_ARGON2, BenchServer
from bench.stats import percentile
from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen, ServerEvents
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.status import ConnectionStatus

PASSWORD = "benchmark password"
SIZE = (120, 40)


def log(text: str) -> None:
    print(f"[tui_bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- the sender (a child process) ------------------------------------------------------


async def send_messages(port: int, user: str, conv: str, count: int, rate: float) -> None:
    """`count` messages to `conv`: pipelined flat out (rate 0) or paced at `rate`/s."""
    client = ChatClient("127.0.0.1", port)
    await client.connect()
    await client.login(user, PASSWORD)
    window: list[asyncio.Future[Any]] = []
    start = time.perf_counter()
    for n in range(count):
        if rate:
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        window.append(client.request_nowait("send", to=conv, text=f"message {n} " + "x" * 40))
        if len(window) >= 256:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)
    await client.close()


def spawn_sender(port: int, conv: str, count: int, rate: float = 0.0) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--send", str(port), conv, str(count), str(rate)], stdin=subprocess.DEVNULL
    )


# --- measuring frames ----------------------------------------------------------------------


class Frames:
    """Wraps App._display: renders each update to terminal bytes, as a real
    driver would, and wakes whoever waits for a condition to be on screen."""

    def __init__(self, app: ChinwagApp) -> None:
        self.app = app
        self.count = 0
        self._waiting: list[tuple[Any, asyncio.Future[float]]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            now = time.perf_counter()
            self.count += 1
            for entry in list(self._waiting):
                condition, future = entry
                if condition() and not future.done():
                    future.set_result(now)
                    self._waiting.remove(entry)
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    def when(self, condition: Any) -> asyncio.Future[float]:
        """A future of the time of the first frame rendered while `condition()` holds."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((condition, future))
        return future


async def until(predicate: Any, timeout: float = 120.0, step: float = 0.005) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the benchmark did not reach its condition in time")
        await asyncio.sleep(step)


def messages_in(chat: ChatScreen, address: str) -> int:
    conv = chat.state.conversations.get(address)
    return 0 if conv is None else len(conv.mids)


def shown(chat: ChatScreen, address: str, count: int) -> bool:
    """`count` messages of `address` are in the view's rows (not only in the model)."""
    view = chat.query_one(ConversationView)
    conv = view.conversation
    return (
        conv is not None and conv.address == address and len(conv.mids) >= count and view._seen_lines == len(conv.lines)
    )


# --- the phases --------------------------------------------------------------------------------


async def absorb(chat: ChatScreen, frames: Frames, port: int, count: int) -> dict[str, Any]:
    """The app stops reading its socket while one sender puts `count` messages
    into the open conversation (and another fills #big for the next phase);
    then reading resumes and the backlog comes in as fast as the network
    delivers it: the time until the last message is on screen."""
    transport = chat.link.client._transport  # type: ignore[union-attr]
    transport.pause_reading()
    senders = [spawn_sender(port, "#lobby", count), spawn_sender(port, "#big", count)]
    filled_at = time.perf_counter()
    for sender in senders:
        await asyncio.to_thread(sender.wait, 300)
    filled = time.perf_counter() - filled_at
    await asyncio.sleep(0.3)  # the server has written out what it accepted
    on_screen = frames.when(lambda: shown(chat, "#lobby", count))
    released = time.perf_counter()
    transport.resume_reading()
    done = await asyncio.wait_for(on_screen, 300)
    return {
        "absorb_s": round(done - released, 3),
        "absorb_msgs_per_s": round(count / (done - released)),
        "server_accepted_msgs_per_s": round(2 * count / filled),
    }


async def absorb_without_network(chat: ChatScreen, frames: Frames, count: int) -> dict[str, Any]:
    address = "#inject"
    chat.state.joined("inject", 1)
    chat.open(address)
    conv = chat.state.conversations[address]
    conv.more = False
    base = int(time.time() * 1000)
    batch: list[Any] = []
    start = time.perf_counter()
    on_screen = frames.when(lambda: shown(chat, address, count))
    for n in range(count):
        batch.append(Message(f"{base + n}-0", address, "bob", f"injected {n} " + "x" * 40, base + n))
        if len(batch) == 512 or n == count - 1:
            chat.post_message(ServerEvents(batch))
            batch = []
            await asyncio.sleep(0)
    done = await asyncio.wait_for(on_screen, 120)
    return {"ui_absorb_msgs_per_s": round(count / (done - start))}


async def open_history(chat: ChatScreen, frames: Frames, count: int) -> dict[str, Any]:
    view = chat.query_one(ConversationView)
    start = time.perf_counter()
    first_page = frames.when(
        lambda: (
            view.conversation is not None
            and view.conversation.address == "#big"
            and len(view.conversation.mids) > 0
            and shown(chat, "#big", 1)
        )
    )
    chat.switch_to("#big")
    page_at = await asyncio.wait_for(first_page, 60)
    page = messages_in(chat, "#big")
    while True:
        conv = chat.state.conversations["#big"]
        if conv.more is False and not conv.loading:
            break
        view.scroll_home(animate=False, immediate=True)
        await asyncio.sleep(0.002)
    everything = frames.when(lambda: shown(chat, "#big", count))
    all_at = await asyncio.wait_for(everything, 120)
    loaded = messages_in(chat, "#big")
    relayout_start = time.perf_counter()
    view._rebuild(keep_position=True)
    relayout = time.perf_counter() - relayout_start
    return {
        "open_first_page_ms": round((page_at - start) * 1000, 1),
        "first_page_messages": page,
        "open_all_history_s": round(all_at - start, 3),
        "history_messages": loaded,
        "relayout_all_rows_ms": round(relayout * 1000, 1),
    }


async def typing_latency(chat: ChatScreen, frames: Frames, port: int, seconds: float, rate: float) -> dict[str, Any]:
    chat.open("#lobby")
    composer = chat.query_one(Composer)
    composer.focus()
    composer.value = ""
    await asyncio.sleep(0.2)
    app = chat.app
    before = messages_in(chat, "#lobby")
    sender = spawn_sender(port, "#lobby", int(seconds * rate), rate)
    latencies: list[float] = []
    rng = random.Random(7)
    typed = 0
    while sender.poll() is None:
        key = "x" if typed % 8 < 4 else "backspace"
        expected = len(composer.value) + (1 if key == "x" else -1)
        on_screen = frames.when(lambda expected=expected: len(composer.value) == expected)
        start = time.perf_counter()
        app.post_message(events.Key(key, "x" if key == "x" else None))
        latencies.append(await asyncio.wait_for(on_screen, 10) - start)
        typed += 1
        await asyncio.sleep(rng.uniform(0.02, 0.06))
    streamed = messages_in(chat, "#lobby") - before
    latencies.sort()
    return {
        "keypresses": len(latencies),
        "keypress_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "keypress_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "keypress_max_ms": round(latencies[-1] * 1000, 2),
        "streamed_messages": streamed,
        "stream_rate_per_s": rate,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = BenchServer(CHEAP_ARGON2).start()
    try:
        port = server.port
        setup = ChatClient("127.0.0.1", port)
        await setup.connect()
        for name in ("alice", "bob"):
            await setup.register(name, PASSWORD)
        await setup.login("bob", PASSWORD)
        await setup.join("big")
        await setup.close()

        with tempfile.TemporaryDirectory(prefix="cw-tui-bench-") as home:
            app = ChinwagApp(
                server=f"127.0.0.1:{port}",
                username="alice",
                config_path=Path(home) / "config.toml",
                outbox_dir=Path(home) / "outbox",
            )
            async with app.run_test(size=SIZE) as pilot:
                app.screen.query_one("#password", Input).value = PASSWORD
                await pilot.press("enter")
                await until(lambda: isinstance(app.screen, ChatScreen))
                chat: ChatScreen = app.screen  # type: ignore[assignment]
                status = chat.query_one(ConnectionStatus)
                await until(lambda: status.state is not None and status.state.state == "connected")
                frames = Frames(app)
                result: dict[str, Any] = {
                    "workload": "tui",
                    "messages": args.messages,
                    "terminal": f"{SIZE[0]}x{SIZE[1]}",
                }
                log(f"absorbing {args.messages} messages from the server (while #big fills)")
                result.update(await absorb(chat, frames, port, args.messages))
                log(f"absorbing {args.messages} messages posted to the screen")
                result.update(await absorb_without_network(chat, frames, args.messages))
                log(f"opening a room with {args.messages} messages of history")
                result.update(await open_history(chat, frames, args.messages))
                log(f"typing while {args.rate:g} messages/s stream in for {args.duration:g} s")
                result.update(await typing_latency(chat, frames, port, args.duration, args.rate))
                result["frames"] = frames.count
                await app.action_quit()
        return result
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--send"]:
        port, conv, count, rate = argv[1:5]
        asyncio.run(send_messages(int(port), "bob", conv, int(count), float(rate)))
        return 0
    parser = argparse.ArgumentParser(prog="tui_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of streaming while typing")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s while typing")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle",
    )
    args = parser.parse_args(argv)
    busy = wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else busy_cores(0.5)
    result = asyncio.run(run(args))
    result["busy_cores_before"] = round(busy, 2)
    result["targets_met"] = {
        "keypress_p99_ms<=50": result["keypress_p99_ms"] <= 50,
        "absorb_msgs_per_s>=2000": result["absorb_msgs_per_s"] >= 2000,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
