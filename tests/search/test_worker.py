"""The index process puts searches first: its writer waits between slices
for the search in progress (never for later ones, and for a bounded time)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chinwag.server.search import worker
from chinwag.server.search.worker import ChildIndex, Turns

WAIT_S = 10.0  # a deadline for what must happen, never how fast


def _until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll `predicate` from this thread (the others block on events)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        pause.wait(0.01)
    return predicate()


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


async def test_a_write_of_several_slices_is_applied_whole(tmp_path: Path) -> None:
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
    finally:
        await index.close()
