"""A floor for issue 14's figures: the least a Python server on uvloop does
to relay a direct message, with and without storing it in Redis first.

It speaks the few lines of IRC that the bench's IRC driver (bench/irc.py)
uses, so the same generator drives it as drives ngIRCd and chinwag:

- `NICK` and `USER` register (answered with `001`), `JOIN #c` joins (`366`);
- `PRIVMSG <nick|#c> :text` is relayed to the nick, or to the channel's
  other members;
- `PING :t` is answered `PONG`, after every PRIVMSG the connection sent
  before it has been relayed (stored first, with `--redis-url`): the PONG is
  the driver's `ok`.

With `--redis-url`, each loop turn's PRIVMSGs go to Redis in one `EVALSHA`
of a script that `XADD`s each to its conversation's stream (the text in the
entry), on chinwag's own lean RESP connection (chinwag.server.resp), one
batch in flight at a time, as chinwag's store batches; a message is relayed,
and its sender's PONG written, when its batch has come back. Without it,
everything is relayed as it is read.

What it leaves out is what chinwag is for: accounts, an echo to the
sender, message ids, acks and cursors, replay, order across nodes, limits,
and hostile input (this relay trusts the bench). So it is a floor, not a
server: what any Python server with this design pays per message on this
machine before doing any of that.

    python -m bench.floor_relay --port P [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, cast

from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.process import free_port
from chinwag.server.resp import RespConnection, RespError

from .peer_process import PeerProcess
from .servers import Recorder, record, stop_recording

NAME = "floor"

# KEYS: one stream per message; ARGV: sender, text per message.
STORE_MANY = """
for i = 1, #KEYS do redis.call('XADD', KEYS[i], '*', 'f', ARGV[2 * i - 1], 't', ARGV[2 * i]) end
return #KEYS
"""


# A message waiting for its batch: sender, target, the line to relay, its stream, its text.
Queued = tuple["Client", str, bytes, str, str]


class Store:
    """Each loop turn's messages in one script call; one call in flight."""

    def __init__(self, url: str) -> None:
        self.redis = RespConnection(url)
        self.sha = ""
        self.queued: list[Queued] = []
        self.busy = False
        self.scheduled = False
        self.stored = 0
        self.writing: asyncio.Future[None] | None = None  # the batch in flight

    async def open(self) -> None:
        (sha,) = await self.redis.execute([["SCRIPT", "LOAD", STORE_MANY]])
        self.sha = sha.decode() if isinstance(sha, bytes) else str(sha)

    def add(self, sender: Client, target: str, line: bytes, text: str) -> None:
        key = f"floor:{target}" if target[:1] == "#" else "floor:{}:{}".format(*sorted((sender.nick, target)))
        self.queued.append((sender, target, line, key, text))
        if not self.scheduled and not self.busy:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        if self.busy or not self.queued:
            return
        batch, self.queued = self.queued, []
        self.busy = True
        keys = [m[3] for m in batch]
        args: list[str] = []
        for sender, _, _, _, text in batch:
            args += (sender.nick, text)
        self.writing = asyncio.ensure_future(self._write(batch, ["EVALSHA", self.sha, len(keys), *keys, *args]))

    async def _write(self, batch: list[Queued], command: list[Any]) -> None:
        try:
            (reply,) = await self.redis.execute([command])
            if isinstance(reply, Exception):
                raise RespError(str(reply))
        except RespError as exc:
            print(f"ERROR storing a batch: {exc}", file=sys.stderr, flush=True)
            for sender, *_ in batch:
                sender.transport_abort()
            return
        finally:
            self.busy = False
        self.stored += len(batch)
        senders: dict[Client, None] = {}
        for sender, target, line, _, _ in batch:
            sender.relay.deliver(sender, target, line)
            sender.relayed += 1
            senders[sender] = None
        for sender in senders:
            sender.settle()
        self._flush()


class Relay:
    def __init__(self, store: Store | None) -> None:
        self.store = store
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, set[Client]] = {}
        self.dirty: dict[Client, None] = {}
        self.flushing = False

    def write(self, client: Client, data: bytes) -> None:
        """Queue `data` for `client`; every connection's writes of a loop
        turn go out in one syscall each."""
        client.out.append(data)
        self.dirty[client] = None
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flushing = False
        dirty, self.dirty = self.dirty, {}
        for client in dirty:
            if client.out and client.transport is not None:
                client.transport.write(b"".join(client.out))
            client.out.clear()

    def deliver(self, sender: Client, target: str, line: bytes) -> None:
        if target[:1] == "#":
            for member in self.channels.get(target, ()):
                if member is not sender:
                    self.write(member, line)
        else:
            peer = self.nicks.get(target)
            if peer is not None:
                self.write(peer, line)


class Client(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.nick = ""
        self.user = False
        self.buffer = b""
        self.out: list[bytes] = []
        self.read = 0  # PRIVMSGs read to be stored
        self.relayed = 0  # of those, stored and relayed
        self.later: deque[tuple[int, bytes]] = deque()  # PONGs, each after the first n PRIVMSGs

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.relay.nicks.get(self.nick) is self:
            del self.relay.nicks[self.nick]
        for members in self.relay.channels.values():
            members.discard(self)

    def transport_abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        lines = (self.buffer + data).split(b"\r\n")
        self.buffer = lines.pop()
        for line in lines:
            if line:
                self.line(line)

    def line(self, line: bytes) -> None:
        command, _, rest = line.partition(b" ")
        if command == b"PRIVMSG":
            target, _, text = rest.partition(b" :")
            name = target.decode()
            out = b":%s!b@h PRIVMSG %s :%s\r\n" % (self.nick.encode(), target, text)
            store = self.relay.store
            if store is None:
                self.relay.deliver(self, name, out)
            else:
                self.read += 1
                store.add(self, name, out, text.decode())
        elif command == b"PING":
            pong = b":%s PONG %s :%s\r\n" % (NAME.encode(), NAME.encode(), rest.lstrip(b":"))
            if self.relayed < self.read:
                self.later.append((self.read, pong))
            else:
                self.relay.write(self, pong)
        elif command == b"NICK":
            self.nick = rest.decode()
            self.relay.nicks[self.nick] = self
            self._welcome()
        elif command == b"USER":
            self.user = True
            self._welcome()
        elif command == b"JOIN":
            channel = rest.decode()
            self.relay.channels.setdefault(channel, set()).add(self)
            nick = self.nick.encode()
            self.relay.write(
                self, b":%s!b@h JOIN %s\r\n:%s 366 %s %s :End\r\n" % (nick, rest, NAME.encode(), nick, rest)
            )
        elif command == b"QUIT" and self.transport is not None:
            self.transport.close()

    def _welcome(self) -> None:
        if self.nick and self.user:
            self.relay.write(self, b":%s 001 %s :welcome\r\n" % (NAME.encode(), self.nick.encode()))

    def settle(self) -> None:
        """The PONGs whose PRIVMSGs have all been relayed: a PONG waits for
        every PRIVMSG its connection sent before it (batches complete in the
        order they were queued)."""
        while self.later and self.later[0][0] <= self.relayed:
            self.relay.write(self, self.later.popleft()[1])


async def serve(port: int, redis_url: str | None) -> None:
    store = Store(redis_url) if redis_url else None
    if store is not None:
        await store.open()
    relay = Relay(store)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(relay), "127.0.0.1", port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    server.close()
    if store is not None:
        print(f"stored {store.stored}", flush=True)
        store.redis.close()


class RelayServer(PeerProcess):
    """The relay as the bench's target: its process on a free loopback
    port and, with `store`, an `EmbeddedRedis` of chinwag's own
    configuration (AOF, `appendfsync everysec`, unix socket) for it."""

    LOG_NAME = "relay.log"

    def __init__(self, store: bool) -> None:
        super().__init__("cw-bench-floor-")
        self.store = store
        self.redis = EmbeddedRedis(self.dir / "redis") if store else None
        self.url = ""

    def start(self, timeout: float = 15.0) -> RelayServer:
        try:
            args = []
            if self.redis is not None:
                self.url = asyncio.run(self.redis.start())
                assert self.redis.process is not None
                self.redis_pid = self.redis.process.pid
                args = ["--redis-url", self.url]
            self.port = free_port()
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "bench.floor_relay", "--port", str(self.port), *args],
                    cwd=Path(__file__).resolve().parents[1],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < deadline:
                if "ready on" in self.log_text():
                    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                time.sleep(0.02)
            raise RuntimeError(f"the floor relay did not start; its log:\n{self.log_text()}")
        except BaseException:
            self.stop()
            raise

    def errors_logged(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if line.startswith(("ERROR", "Traceback"))]

    def profile_start(self, label: str) -> Recorder:
        return record(self.pid, label)

    @staticmethod
    def profile_stop(recorder: Recorder) -> None:
        stop_recording(recorder)

    def stop(self) -> None:
        self._kill()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                asyncio.run(self.redis.stop())
        self._remove_dir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", help="store each message in this Redis before relaying it")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.port, args.redis_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
