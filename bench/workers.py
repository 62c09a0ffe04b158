"""Load-generator worker processes: each runs `main(config, pipe)` in its
own event loop (uvloop when installed), and the runner talks to them in
lock-step over pipes. What goes over a pipe is a typed record (a dataclass
of the workload's module); a worker that fails sends `Failed`."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .clients import install_uvloop
from .machine import cpu_seconds

T = TypeVar("T")


@dataclass(frozen=True)
class Stop:
    """Runner -> worker: close the clients and exit."""


@dataclass(frozen=True)
class Failed:
    """Worker -> runner: the worker raised; its traceback."""

    traceback: str


def _wake(ready: asyncio.Future[None]) -> None:
    """A reader callback: the pipe has data (it may fire again before the wait ends)."""
    if not ready.done():
        ready.set_result(None)


class AsyncPipe:
    """One end of a multiprocessing pipe, awaited without a thread."""

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self.conn = conn

    async def recv(self, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.conn.poll():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no word from the bench runner")
            ready = loop.create_future()
            fd = self.conn.fileno()
            loop.add_reader(fd, _wake, ready)
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ready, remaining)
            finally:
                loop.remove_reader(fd)
                os.set_blocking(fd, True)  # the loop made it non-blocking; pickles span many reads
        return self.conn.recv()

    def send(self, obj: object) -> None:
        os.set_blocking(self.conn.fileno(), True)
        self.conn.send(obj)


WorkerMain = Callable[[Any, AsyncPipe], Awaitable[None]]


def _worker_entry(main: WorkerMain, config: Any, conn: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops us
    install_uvloop()
    try:
        asyncio.run(main(config, AsyncPipe(conn)))
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(Failed(traceback.format_exc()))
        raise


class WorkerError(RuntimeError):
    pass


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection


class WorkerPool:
    """Worker processes, each running `main(config, pipe)` in its own event
    loop; the runner talks to them in lock-step messages."""

    def __init__(self, main: WorkerMain, configs: Sequence[Any]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.workers: list[Worker] = []
        for config in configs:
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_worker_entry, args=(main, config, child), daemon=True)
            process.start()
            child.close()
            self.workers.append(Worker(process, parent))

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process.pid]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def send_all(self, message: object) -> None:
        for w in self.workers:
            w.conn.send(message)

    def send_each(self, messages: Sequence[object]) -> None:
        for w, message in zip(self.workers, messages, strict=True):
            w.conn.send(message)

    def recv_all(self, expect: type[T], timeout: float) -> list[T]:
        """One message from every worker, each of type `expect`."""
        results: dict[int, T] = {}
        deadline = time.monotonic() + timeout
        waiting = {w.conn: i for i, w in enumerate(self.workers)}
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerError(f"workers did not report {expect.__name__} within {timeout:.0f} s")
            for ready in multiprocessing.connection.wait(list(waiting), remaining):
                assert isinstance(ready, multiprocessing.connection.Connection)
                index = waiting.pop(ready)
                try:
                    message = ready.recv()
                except EOFError:
                    raise WorkerError(f"worker {index} died") from None
                if isinstance(message, Failed):
                    raise WorkerError(f"worker {index} failed:\n{message.traceback}")
                if not isinstance(message, expect):
                    raise WorkerError(f"worker {index} sent {type(message).__name__}, expected {expect.__name__}")
                results[index] = message
        return [results[i] for i in range(len(self.workers))]

    def close(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(Exception):
            self.send_all(Stop())
        deadline = time.monotonic() + timeout
        for w in self.workers:
            w.process.join(max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(2)
            w.conn.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """Deal `items` round-robin into `parts` lists."""
    return [list(items[i::parts]) for i in range(parts)]


def default_procs() -> int:
    return 2
