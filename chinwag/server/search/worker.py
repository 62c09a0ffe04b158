"""The search index in a process of its own, and the server's handle on it.

Making a document is Python (the tokenizer) and so is much of a search;
in the server's process that work holds the GIL against the event loop,
which then serves every connection later (measured: 60 µs more server CPU
per DM at 5,000 DMs/s, a third less at the highest send rate, and a
search in a thread waiting seconds for the GIL behind a busy loop). So the
index lives in a child process, `python -m chinwag.server.search.worker
[DIR]`, that the server starts with its index and that dies with it; the
server sends it texts and queries over a pipe and gets hits back.

The pipe carries frames: a 4-byte big-endian length, then msgpack. The
child opens the index and says `["ready", where, marks, messages]` (where:
"dir", "ram", or "locked" for a directory another process holds, then
kept in RAM), or `["failed", why]`. Then requests `[id, kind, ...]`, each
answered `[id, "ok", ...]` or `[id, "error", kind, message]`:

- `write upserts deletes commit marks`: upserts as [conv, mid, sender,
  ts, text] lists, deletes as [conv, mid]; committed with the marks if
  `commit`; answers the committed message count. Writes run in order on a
  writer thread, so searches go on meanwhile.

Searches go first (`Turns`): the writer makes documents in slices and,
between two, waits for a search in progress (at most YIELD_MAX_S per
write), so a search has the process's CPU and GIL. The process's threads
all keep the server's scheduling priority: with tantivy's threads at a
lower one (Linux sets a nice value per thread), indexing fell behind on a
full machine and the send-to-findable lag passed its 1 s bound, and with
only its merge threads lower, segments piled up (17 against 10 at the end
of a 300,000-message build) and every search paid for them
(docs/performance.md).
- `search query convs exclude conv sender before after limit page`:
  answers [[conv, mid], ...] and the next page (error kind "query" for a
  bad page).
- `close`: waits for the writes, frees the directory, answers, exits.

End of input (the server went away) is a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgpack

from .index import IndexedMessage, IndexLocked, SearchHit, SearchIndex, SearchPage
from .query import QueryError, parse_query
from .tokens import tokenize

log = logging.getLogger(__name__)

HEADER = 4
SWITCH_INTERVAL_S = 0.0005  # the child's GIL hand-over: its search thread must not wait on the writer for 5 ms
WRITE_SLICE = 100  # documents the writer makes between two looks for a waiting search
YIELD_MAX_S = 0.05  # the longest the writer gives way to searches per write: what it may add to the lag
START_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 30.0

Upsert = tuple[str, str, str, int, str]  # conv, mid, sender, ts, text


class IndexGone(Exception):
    """The index process died or could not start; the service starts another."""


class IndexUnusable(Exception):
    """The index directory cannot be used (not the lock: that falls back to RAM)."""


@dataclass(frozen=True, slots=True)
class Opened:
    where: str  # "dir", "ram" or "locked" (the directory is in use: kept in RAM)
    marks: dict[str, str]
    messages: int


# --- the child -----------------------------------------------------------------------


def _write_frame(out: IO[bytes], lock: threading.Lock, message: Any) -> None:
    data = msgpack.packb(message, use_bin_type=True)
    with lock:
        out.write(len(data).to_bytes(HEADER, "big") + data)
        out.flush()


def _read_frame(inp: IO[bytes]) -> Any | None:
    head = inp.read(HEADER)
    if len(head) < HEADER:
        return None
    size = int.from_bytes(head, "big")
    body = inp.read(size)
    if len(body) < size:
        return None
    return msgpack.unpackb(body, raw=False)


class Turns:
    """Searches go first. The search thread marks each search; the writer,
    between slices of documents, waits for the search in progress, but not
    for those that start after it began to wait, and for YIELD_MAX_S at
    most per write: a stream of searches slows indexing by that much at
    most, it never stops it."""

    def __init__(self) -> None:
        self._done = threading.Condition()
        self._started = 0
        self._finished = 0
        self.waits = 0  # times the writer waited (tests, the bench)

    @contextlib.contextmanager
    def search(self) -> Iterator[None]:
        with self._done:
            self._started += 1
        try:
            yield
        finally:
            with self._done:
                self._finished += 1
                self._done.notify_all()

    def writer_turn(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the search in progress, if any."""
        if timeout <= 0:
            return
        with self._done:
            started = self._started
            if self._finished < started:
                self.waits += 1
                self._done.wait_for(lambda: self._finished >= started, timeout)


def serve(path: Path | None, inp: IO[bytes], out: IO[bytes]) -> int:
    """The child's main loop: one index, requests from `inp`, answers to `out`."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    lock = threading.Lock()
    where = "ram" if path is None else "dir"
    try:
        index = SearchIndex(path)
    except IndexLocked:
        index, where = SearchIndex(None), "locked"
    except (OSError, ValueError) as exc:
        _write_frame(out, lock, ["failed", str(exc)])
        return 1
    _write_frame(out, lock, ["ready", where, index.progress(), index.num_messages])
    writes: queue.Queue[list[Any] | None] = queue.Queue()
    turns = Turns()

    def writer() -> None:
        tokenize("")  # the tokenizer's tables, before the first message
        while (item := writes.get()) is not None:
            rid, upserts, deletes, commit, marks = item
            give_way_until = time.monotonic() + YIELD_MAX_S
            try:
                if deletes:
                    index.delete_many((conv, mid) for conv, mid in deletes)
                for start in range(0, len(upserts), WRITE_SLICE):
                    turns.writer_turn(give_way_until - time.monotonic())
                    index.upsert(IndexedMessage(*u) for u in upserts[start : start + WRITE_SLICE])
                if commit:
                    turns.writer_turn(give_way_until - time.monotonic())
                    index.commit(marks)
                _write_frame(out, lock, [rid, "ok", index.num_messages])
            except Exception as exc:
                _write_frame(out, lock, [rid, "error", "write", f"{type(exc).__name__}: {exc}"])

    thread = threading.Thread(target=writer, name="index-writer", daemon=True)
    thread.start()
    closing: int | None = None
    while (request := _read_frame(inp)) is not None:
        rid, kind, *args = request
        if kind == "write":
            writes.put([rid, *args])
        elif kind == "search":
            with turns.search():
                answer = _search(index, args)
            _write_frame(out, lock, [rid, *answer])
        elif kind == "close":
            closing = rid
            break
    writes.put(None)
    thread.join()
    index.close()
    if closing is not None:
        _write_frame(out, lock, [closing, "ok"])
    return 0


def _search(index: SearchIndex, args: Sequence[Any]) -> list[Any]:
    query, convs, exclude, conv, sender, before, after, limit, page = args
    try:
        found = index.search(
            parse_query(query),
            convs,
            exclude,
            conv=conv,
            sender=sender,
            before=before,
            after=after,
            limit=limit,
            page=page,
        )
    except QueryError as exc:
        return ["error", "query", exc.message]
    except Exception as exc:
        return ["error", "search", f"{type(exc).__name__}: {exc}"]
    return ["ok", [list(hit) for hit in found.hits], found.next]


def main() -> int:
    with contextlib.suppress(Exception):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the server's; it closes us
    path = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else None
    return serve(path, sys.stdin.buffer, sys.stdout.buffer)


# --- the server's side -----------------------------------------------------------------


def _die_with_parent() -> None:  # between fork and exec of the child
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ChildIndex:
    """The server's handle on its index process: `start`, then `write`,
    `search`, `close`. Any of them raises IndexGone once the process is
    gone; `start` again makes a new one."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[list[Any]]] = {}
        self._ids = itertools.count(1)
        self._alive = False
        self._closing = False

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> Opened:
        """Start the process and open the index: IndexUnusable for a
        directory it cannot open, IndexGone if the process fails."""
        await self._discard()
        self._closing = False
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                "" if self.path is None else str(self.path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise IndexGone(f"the search index process did not start ({exc})") from None
        self._proc = proc
        try:
            hello = await asyncio.wait_for(self._frame(), START_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, OSError) as exc:
            await self._discard()
            raise IndexGone(f"the search index process did not start ({exc or type(exc).__name__})") from None
        if hello[0] == "failed":
            await self._discard()
            raise IndexUnusable(str(hello[1]))
        _, where, marks, messages = hello
        self._alive = True
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return Opened(str(where), {str(k): str(v) for k, v in marks.items()}, int(messages))

    async def write(
        self, upserts: list[Upsert], deletes: list[tuple[str, str]], commit: bool, marks: dict[str, str]
    ) -> int:
        """Apply, and commit with `marks` if `commit`; the committed message count."""
        reply = await self._call("write", upserts, deletes, commit, marks)
        return int(reply[0])

    async def search(
        self,
        query: str,
        convs: Sequence[str],
        exclude: Sequence[str],
        *,
        conv: str | None,
        sender: str | None,
        before: int | None,
        after: int | None,
        limit: int,
        page: str | None,
    ) -> SearchPage:
        reply = await self._call("search", query, list(convs), list(exclude), conv, sender, before, after, limit, page)
        hits, next_page = reply
        return SearchPage([SearchHit(str(c), str(m)) for c, m in hits], next_page)

    async def close(self) -> None:
        """Let the writes finish, free the directory, end the process."""
        self._closing = True
        if self._alive:
            with contextlib.suppress(IndexGone, TimeoutError):
                await asyncio.wait_for(self._call("close"), CLOSE_TIMEOUT_S)
        await self._discard(wait=True)

    async def _call(self, kind: str, *args: Any) -> list[Any]:
        proc = self._proc
        if not self._alive or proc is None or proc.stdin is None:
            raise IndexGone("the search index process is not running")
        rid = next(self._ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        data = msgpack.packb([rid, kind, *args], use_bin_type=True)
        try:
            proc.stdin.write(len(data).to_bytes(HEADER, "big") + data)
            await proc.stdin.drain()
        except (OSError, RuntimeError) as exc:
            self._waiting.pop(rid, None)
            self._gone(f"writing to it failed ({exc})")
            raise IndexGone("the search index process went away") from None
        reply = await future
        if reply[0] == "error":
            if reply[1] == "query":
                raise QueryError(str(reply[2]))
            raise RuntimeError(f"the search index failed: {reply[2]}")
        return reply[1:]

    async def _frame(self) -> list[Any]:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        size = int.from_bytes(await stdout.readexactly(HEADER), "big")
        message: list[Any] = msgpack.unpackb(await stdout.readexactly(size), raw=False)
        return message

    async def _read(self) -> None:
        try:
            while True:
                rid, *reply = await self._frame()
                future = self._waiting.pop(rid, None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, OSError, ValueError) as exc:
            self._gone(f"{type(exc).__name__}")

    def _gone(self, why: str) -> None:
        if self._alive:
            self._alive = False
            if not self._closing:
                log.error("the search index process (pid %s) ended: %s", self.pid, why)
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(IndexGone("the search index process ended"))

    async def _discard(self, *, wait: bool = False) -> None:
        """Forget the process: reaped, killed first if still running (after
        a moment to exit by itself if `wait`)."""
        self._alive = False
        proc, self._proc = self._proc, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(IndexGone("the search index process ended"))
        if proc is not None:
            if wait and proc.returncode is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 5)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)


if __name__ == "__main__":
    sys.exit(main())
