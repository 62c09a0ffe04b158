"""The index process puts searches first: its writer waits between slices
for the search in progress (never for later ones), and it merges segments
at a lower priority than the rest."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chinwag.server.search import worker
from chinwag.server.search.worker import ChildIndex, Turns, demote_threads

WAIT_S = 10.0  # a deadline for what must happen, never how fast


def _until(predicate: object, timeout: float = WAIT_S) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():  # type: ignore[operator]
            return True
        done.wait(0.01)
    return bool(predicate())  # type: ignore[operator]


@contextmanager
def searching(turns: Turns) -> Iterator[threading.Event]:
    """A search that lasts until the event is set (or the block ends)."""
    release, inside = threading.Event(), threading.Event()

    def search() -> None:
        with turns.search():
            inside.set()
            release.wait(WAIT_S)

    thread = threading.Thread(target=search)
    thread.start()
    assert inside.wait(WAIT_S)
    try:
        yield release
    finally:
        release.set()
        thread.join(WAIT_S)


def _writer_turn(turns: Turns) -> threading.Event:
    done = threading.Event()
    threading.Thread(target=lambda: (turns.writer_turn(WAIT_S), done.set()), daemon=True).start()
    return done


def test_the_writer_goes_on_when_nobody_searches() -> None:
    turns = Turns()
    turns.writer_turn(WAIT_S)
    with turns.search():
        pass
    turns.writer_turn(WAIT_S)
    assert turns.waits == 0


def test_the_writer_waits_for_the_search_in_progress() -> None:
    turns = Turns()
    with searching(turns) as release:
        done = _writer_turn(turns)
        assert _until(lambda: turns.waits == 1)
        assert not done.is_set()  # it waits on the search, which has not ended
        release.set()
        assert done.wait(WAIT_S)


def test_the_writer_does_not_wait_for_searches_that_start_after_it() -> None:
    """A stream of searches slows indexing but never stops it."""
    turns = Turns()
    with searching(turns) as first:
        done = _writer_turn(turns)
        assert _until(lambda: turns.waits == 1)
        with searching(turns):  # still running when the first ends
            first.set()
            assert done.wait(WAIT_S)


def test_the_writer_gives_way_no_longer_than_its_budget() -> None:
    """A search that does not end (or a flood of them) holds a write back
    by YIELD_MAX_S at most: what it adds to the send-to-findable lag."""
    turns = Turns()
    with searching(turns):
        turns.writer_turn(0)
        turns.writer_turn(-1)
        assert turns.waits == 0
        turns.writer_turn(0.01)  # returns: the search is still going
        assert turns.waits == 1


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def test_demote_threads_lowers_the_named_threads_only() -> None:
    started, stop = threading.Event(), threading.Event()
    ids: list[int] = []

    def named() -> None:
        ctypes.CDLL(None).prctl(15, b"merge_thread_t")  # PR_SET_NAME, as tantivy names its threads
        ids.append(threading.get_native_id())
        started.set()
        stop.wait(WAIT_S)

    thread = threading.Thread(target=named)
    thread.start()
    try:
        assert started.wait(WAIT_S)
        base = _nice(os.getpid())
        assert demote_threads("merge_thread", 3) == 1
        assert _nice(ids[0]) == min(19, base + 3)
        assert _nice(threading.get_native_id()) == base
        assert demote_threads("merge_thread", 3) == 0  # already there
        assert demote_threads("merge_thread", 0) == 0  # nothing asked
    finally:
        stop.set()
        thread.join(WAIT_S)


def _threads(pid: int) -> dict[int, tuple[str, int]]:
    out = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        tid = int(name)
        out[tid] = (Path(f"/proc/{pid}/task/{name}/comm").read_text().strip(), _nice(tid))
    return out


async def test_the_index_process_merges_at_a_lower_priority(tmp_path: Path) -> None:
    """tantivy's merge threads run `MERGE_NICE` lower than the server; the
    threads that search, write and commit keep its priority (a message is
    findable within a second of its `ok` however busy the machine is). A
    write of several slices is applied whole."""
    index = ChildIndex(tmp_path / "search")
    await index.start()
    try:
        count = 2 * worker.WRITE_SLICE + 7
        upserts = [("#ops", f"{n}-0", "alice", n, f"deploy number{n}") for n in range(1, count + 1)]
        assert await index.write(upserts, [], True, {"#ops": f"{count}-0"}) == count
        assert await index.write([("#ops", "9999-0", "bob", 9999, "again")], [], True, {}) == count + 1
        page = await index.search(
            "deploy", ["#ops"], [], conv=None, sender=None, before=None, after=None, limit=50, page=None
        )
        assert len(page.hits) == 50 and page.next is not None
        pid = index.pid
        assert pid is not None
        threads = _threads(pid)
        base = _nice(os.getpid())
        merges = [nice for name, nice in threads.values() if name.startswith(worker.MERGE_THREADS)]
        assert merges and all(nice == min(19, base + worker.MERGE_NICE) for nice in merges), threads
        others = [nice for name, nice in threads.values() if not name.startswith(worker.MERGE_THREADS)]
        assert others and all(nice == base for nice in others), threads
    finally:
        await index.close()
