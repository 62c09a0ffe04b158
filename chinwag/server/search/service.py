"""This node's search: its index, fed from the hub and caught up from Redis,
and the answer to `search`.

Feeding. The hub tells the service of every message and change stored by
any node (`Hub.add_listener`); they queue, and one indexer task applies
them in batches (a message or an edit: its text replaces what the index
had; a delete: the message leaves the index), handing them to the index
process (worker.py: the tokenizer and tantivy, out of the event loop's way)
and committing at most every COMMIT_INTERVAL_S, so a message is findable a
fraction of a second after its `ok`. If that process dies, the service
starts another and reads again from the committed marks.

The bus may drop events (a lost subscription, a failed publish, a node
dying between its write and its publish), so the live feed alone proves
nothing. What the index holds for sure is kept as one mark per
conversation: every entry up to it was read from Redis (`entries_after`)
and applied, and the mark is committed with the documents it covers
(`SearchIndex.commit(progress=...)`). A *pass* reads each conversation's
entries after its mark, applies those the live feed did not, and moves the
mark: over every conversation at start, after the bus subscription is made
again and every FULL_PASS_S; over the conversations the live feed touched
every SETTLE_S. So a restarted node re-reads only what came after its marks,
and an event the bus lost is indexed at the next pass.

Order. A pass reads the current state (an edited message with its latest
text), while the live feed brings each entry as it was made, and two nodes'
events may arrive in either order. Three rules keep the newest text: a live
entry at or below what a pass read of its conversation is dropped (the pass
had it, newer); per message, a change is applied only if it is newer than
the last change applied to it, and a message never after one of its
changes (the change's text is the newer one); a delete is final.

Answering. The index changes only at a commit and holds no texts, so every
hit is checked against Redis: a deleted or vanished message is dropped (and
taken out of the index), and so is one whose current text no longer
matches the query (`ParsedQuery.matches`). "Not found once `delete` is
answered" and "found by its current text only" hold exactly, whatever the
index lags.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...protocol.errors import ErrorCode, RequestError
from ...protocol.limits import FEATURE_MESSAGES
from ...protocol.messages import Search
from ..context import HandlerContext, Reply, SessionView
from ..conv import conv_id, mid_key, mid_ts
from ..hub import Hub, hide_reactions, message_wire
from ..statuses import ChangeKind
from ..store import StorageUnavailable, Store, Stored, StoredMessage
from .index import SearchHit, SearchPage
from .query import ParsedQuery, parse_query
from .tokens import tokenize
from .worker import ChildIndex, IndexGone, IndexUnusable, Upsert

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 0.15  # at most this long between a stored message and its commit, under load
WRITE_BATCH = 5_000  # actions a pass applies before it writes them (and lets the live feed in)
SETTLE_S = 30.0  # the conversations the live feed touched are read from Redis this often
FULL_PASS_S = 600.0  # and every conversation this often (a lost event in a quiet conversation)
PASS_READERS = 8  # conversations read from Redis at once in a pass
CHANGES_KEPT_S = 300.0  # how long the newest change applied to a message is remembered (the order rules)
START_WAIT_S = 2.0  # a search while a restarted index catches up waits this long for it
REFILL_ROUNDS = 4  # index pages one request reads at most to fill a page past dropped hits
RETRY_MIN_S, RETRY_MAX_S = 0.5, 10.0  # a pass that failed on Redis is retried after this (doubling)
BUILDING = "the search index is being built; try again shortly"
RESTARTING = "the search index is restarting; try again shortly"

Key = tuple[str, str]  # (conv id, mid)


class SearchSetupError(Exception):
    """The index directory cannot be used (not the lock: that falls back)."""


def hidden_senders(hub: Hub, user: str) -> frozenset[str]:
    """Whose messages `user`'s searches must not find: the users they block
    (as the hub holds them for its logged-in users, the searcher among
    them). The one place that decides it."""
    return hub.blocks_of(user)


Action = Upsert | None  # the message's document with this text, or None: out of the index


@dataclass(frozen=True, slots=True)
class BuildReport:
    conversations: int
    entries: int  # entries read from Redis (messages and changes)
    seconds: float


class SearchService:
    """One per node: owns the index, feeds it, answers `search` (`answer`)."""

    def __init__(
        self,
        store: Store,
        index: ChildIndex,
        *,
        settle_s: float = SETTLE_S,
        full_pass_s: float = FULL_PASS_S,
    ) -> None:
        self.store = store
        self.index = index
        self._stopping = False
        self.where = "in RAM" if index.path is None else f"in {index.path}"
        self.settle_s = settle_s
        self.full_pass_s = full_pass_s
        self._queue: list[Stored] = []  # live entries, not yet applied
        self._wake = asyncio.Event()
        self._actions: dict[Key, Action] = {}  # applied, not yet handed to the index
        self._marks: dict[str, str] = {}  # committed: everything up to the mark is in the index
        self._new_marks: dict[str, str] = {}  # read and applied, committed with the next commit
        self._read_upto: dict[str, tuple[int, int]] = {}  # per conversation, the newest entry a pass read
        self._live_ids: dict[str, set[str]] = {}  # entries applied live above the conversation's mark
        self._touched: set[str] = set()  # conversations with live entries since the last settle pass
        self._changed: dict[Key, tuple[tuple[int, int], bool]] = {}  # newest change applied: (id, deleted)
        self._full_wanted = True
        self._empty_at_start = True
        self._built = asyncio.Event()  # the first pass is done and committed
        self._last_commit = 0.0
        self._uncommitted = False  # writes sent without a commit since the last one
        self._task: asyncio.Task[None] | None = None
        # for the stats line, the bench and --reindex
        self.locked = False  # the directory is another server's: the index is in RAM
        self.messages = 0  # in the index at its last commit
        self.indexed_live = 0  # live entries taken (not those a pass had read already)
        self.read_back = 0  # entries read from Redis by passes
        self.commits = 0
        self.rounds = 0  # of the indexer's loop

    # --- the feed -----------------------------------------------------------------

    def attach(self, hub: Hub) -> None:
        hub.add_listener(self.heard)
        hub.on_resubscribed(self.catch_up)

    def heard(self, item: Stored) -> None:
        """The hub's listener: runs on the event loop for every entry, so it
        only queues."""
        self._queue.append(item)
        self._wake.set()

    def catch_up(self) -> None:
        """Read every conversation after its mark soon (the bus may have
        dropped events: it was lost and is back)."""
        self._full_wanted = True
        self._wake.set()

    @property
    def built(self) -> bool:
        return self._built.is_set()

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._actions)

    @property
    def marks(self) -> dict[str, str]:
        """The committed marks (conv -> the entry up to which it is indexed)."""
        return dict(self._marks)

    async def start(self) -> None:
        """Start the index process and the indexer. SearchSetupError for a
        directory the index cannot use."""
        await self._open()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def start_without_feed(self) -> None:
        """Start the index process only, for `build` (--reindex)."""
        await self._open()

    async def _open(self) -> None:
        """(Re)start the index process and take its committed state. A
        directory another server holds falls back to an index in RAM,
        rebuilt from Redis: search keeps answering over every message, at
        the cost of memory and a rebuild at every start; one warning says
        how to fix it."""
        try:
            opened = await self.index.start()
        except IndexUnusable as exc:
            raise SearchSetupError(
                f"cannot open the search index {self.where} ({exc}): fix or delete that directory, "
                "or run with --search-dir '' to serve without search"
            ) from None
        except IndexGone as exc:
            raise SearchSetupError(f"{exc}; run with --search-dir '' to serve without search") from None
        self.locked = opened.where == "locked"
        if self.locked:
            self.where = f"in RAM ({self.index.path} is in use by another server)"
            log.warning(
                "the search index in %s is in use by another server; this node keeps its index in RAM, rebuilt "
                "from Redis at every start (give each node its own --search-dir)",
                self.index.path,
            )
        self._marks = dict(opened.marks)
        self.messages = opened.messages
        self._restart_from_marks()
        self._empty_at_start = not self._marks
        if self._empty_at_start:
            self._built.clear()
        log.info(
            "search index %s: %d messages, %d conversations marked; catching up from Redis",
            self.where,
            opened.messages,
            len(self._marks),
        )

    async def stop(self) -> None:
        """Stop feeding, commit what was applied (with its marks), end the
        index process (which frees the directory)."""
        # The flag as well as the cancel: on Python 3.11 `asyncio.wait_for`
        # loses a cancellation that lands as its wait ends (the wake event
        # set at that moment), and the indexer would go on for ever, with
        # the server's shutdown waiting here.
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            self._drain_queue()
            await self._write(commit=True)
        await self.index.close()

    # --- the indexer task ------------------------------------------------------------

    async def _run(self) -> None:
        await asyncio.to_thread(tokenize, "")  # the tokenizer's tables (~0.3 s), off the loop, before any message
        loop = asyncio.get_running_loop()
        next_settle = loop.time() + self.settle_s
        next_full = loop.time() + self.full_pass_s
        retry = RETRY_MIN_S
        while not self._stopping:
            self.rounds += 1
            try:
                await self._flush_live()
                now = loop.time()
                if self._full_wanted or now >= next_full:
                    self._full_wanted = False
                    next_full = now + self.full_pass_s
                    await self._full_pass()
                elif now >= next_settle:
                    next_settle = now + self.settle_s
                    if self._touched:
                        touched, self._touched = self._touched, set()
                        await self._pass(sorted(touched))
                retry = RETRY_MIN_S
                if not self._queue:
                    timeout = max(0.0, min(next_settle, next_full) - loop.time())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                wait = self._last_commit + COMMIT_INTERVAL_S - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # a batch: what else arrives meanwhile
            except asyncio.CancelledError:
                raise
            except IndexGone:
                log.warning("search index: restarting the index process in %.1f s", retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_S)
                with contextlib.suppress(IndexGone, SearchSetupError):
                    await self._open()
            except StorageUnavailable as exc:
                log.warning("search index: Redis failed during a catch-up (%s); retrying in %.1f s", exc, retry)
                self._full_wanted = True
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_S)
            except Exception:
                log.exception("search index: the indexer failed; retrying from the committed marks")
                self._restart_from_marks()
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_S)

    async def _flush_live(self) -> None:
        self._drain_queue()
        await self._write(commit=True)

    def _drain_queue(self) -> None:
        queue, self._queue = self._queue, []
        for item in queue:
            self._take_live(item)

    async def _full_pass(self) -> None:
        first = not self._built.is_set()
        report = await self.build()
        if first or report.entries:
            log.info(
                "search index %s: %s %d conversations, %d entries read from Redis in %.1f s",
                self.where,
                "built from" if first and self._empty_at_start else "caught up with",
                report.conversations,
                report.entries,
                report.seconds,
            )

    async def build(self) -> BuildReport:
        """One pass over every conversation, committed: the catch-up of a
        start (the whole build for an empty index, as --reindex runs it)."""
        started = time.monotonic()
        convs = await self.store.conversation_ids()
        entries = await self._pass(convs)
        self._built.set()
        return BuildReport(len(convs), entries, time.monotonic() - started)

    async def _pass(self, convs: Sequence[str]) -> int:
        """Read each conversation's entries after its mark, apply those the
        live feed has not, move the marks; commit. The entries read."""
        todo = list(convs)
        read = 0

        async def reader() -> None:
            nonlocal read
            while todo:
                cid = todo.pop()
                entries = await self._read_conversation(cid)
                read += entries  # (not `read += await ...`: that reads `read` before the await)

        await asyncio.gather(*(reader() for _ in range(min(PASS_READERS, len(todo)))))
        self._prune_changes()
        await self._write(commit=True)
        return read

    async def _read_conversation(self, cid: str) -> int:
        after = self._new_marks.get(cid) or self._marks.get(cid)
        read = 0
        while True:
            page = await self.store.entries_after(cid, after)
            read += len(page.items)
            live = self._live_ids.get(cid, set())
            for item in page.items:
                if _entry_id(item) not in live:
                    self._apply(item)
            self.read_back += len(page.items)
            last = page.last
            if last is not None and last != after:
                upto = mid_key(last)
                if upto > self._read_upto.get(cid, (-1, -1)):
                    self._read_upto[cid] = upto
                self._new_marks[cid] = last
                if live:
                    self._live_ids[cid] = {i for i in live if mid_key(i) > upto}
                after = last
            if len(self._actions) >= WRITE_BATCH or self._commit_due():
                self._drain_queue()  # the live feed keeps going while a long pass runs
                await self._write(commit=self._commit_due())
            if not page.more:
                return read

    def _take_live(self, item: Stored) -> None:
        cid = item.conv_id
        eid = _entry_id(item)
        upto = self._read_upto.get(cid)
        if upto is not None and mid_key(eid) <= upto:
            return  # a pass read it from Redis, in a state at least as new
        self._live_ids.setdefault(cid, set()).add(eid)
        self._touched.add(cid)
        self._apply(item)
        self.indexed_live += 1

    def _apply(self, item: Stored) -> None:
        """What `item` does to the index, under the order rules above."""
        if isinstance(item, StoredMessage):
            key = (item.conv_id, item.mid)
            if key in self._changed:
                return  # a change to it came first: it holds the newer state
            if item.deleted:
                self._actions[key] = None
            else:
                self._actions[key] = (item.conv_id, item.mid, item.sender, mid_ts(item.mid), item.text)
            return
        if item.kind is ChangeKind.REACTION:
            return
        key = (item.conv_id, item.mid)
        order = mid_key(item.id)
        deleted = item.kind is ChangeKind.DELETED
        before = self._changed.get(key)
        if before is not None and (before[1] or before[0] >= order):
            return  # deleted already, or a newer edit is applied
        self._changed[key] = (order, deleted)
        if deleted:
            self._actions[key] = None
        else:
            self._actions[key] = (item.conv_id, item.mid, item.actor, mid_ts(item.mid), item.text)

    def _restart_from_marks(self) -> None:
        """After a failed write: what was applied since the last commit may
        not be in the index, so forget all of it and read again from the
        committed marks."""
        self._new_marks.clear()
        self._live_ids.clear()
        self._changed.clear()
        self._read_upto = {cid: mid_key(m) for cid, m in self._marks.items()}
        self._full_wanted = True

    def _prune_changes(self) -> None:
        oldest = int((time.time() - CHANGES_KEPT_S) * 1000)
        self._changed = {k: v for k, v in self._changed.items() if v[0][0] >= oldest}

    def _commit_due(self) -> bool:
        return asyncio.get_running_loop().time() - self._last_commit >= COMMIT_INTERVAL_S

    async def _write(self, *, commit: bool) -> None:
        """Hand the applied actions to the index process, and commit them
        (with the marks they cover) if `commit`. The process applies writes
        in the order they are sent, so the marks read here are committed
        after every document sent before them."""
        actions, self._actions = self._actions, {}
        marks = dict(self._new_marks) if commit else {}
        if not actions and not (commit and (marks or self._uncommitted)):
            return
        upserts = [a for a in actions.values() if a is not None]
        deletes = [key for key, a in actions.items() if a is None]
        self._uncommitted = not commit
        messages = await self.index.write(upserts, deletes, commit, marks)
        if not commit:
            return
        self.messages = messages
        self._last_commit = asyncio.get_running_loop().time()
        self.commits += 1
        self._marks.update(marks)
        for cid, mark in marks.items():
            if self._new_marks.get(cid) == mark:
                del self._new_marks[cid]

    def forget(self, keys: Iterable[Key]) -> None:
        """Take messages a search found deleted or gone (trimmed) out of the
        index; both are final."""
        for key in keys:
            before = self._changed.get(key)
            self._changed[key] = (before[0] if before else mid_key(key[1]), True)
            self._actions[key] = None
        self._wake.set()

    # --- answering -------------------------------------------------------------------

    async def answer(self, ctx: HandlerContext, conn: SessionView, req: Search) -> Reply:
        """`search` (context.Searcher): the caller's conversations at this
        moment, read from Redis; every hit checked against Redis."""
        if not self.index.alive:
            raise RequestError(RESTARTING, ErrorCode.UNAVAILABLE)
        if not self._built.is_set():
            if self._empty_at_start:
                raise RequestError(BUILDING, ErrorCode.UNAVAILABLE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._built.wait(), START_WAIT_S)
        query = parse_query(req.query)
        me = conn.username
        only = conv_id(me, req.conv) if req.conv is not None else None
        blocked = hidden_senders(ctx.hub, me)
        hidden = sorted(blocked)

        def page_of(convs: Collection[str], page: str | None, limit: int) -> Awaitable[SearchPage]:
            return self.index.search(
                req.query,
                sorted(convs),
                hidden,
                conv=only,
                sender=req.sender,
                before=req.before,
                after=req.after,
                limit=limit,
                page=page,
            )

        # The caller's conversations are Redis's, read now. The first page is
        # asked for meanwhile with the connection's own list (almost always
        # the same): its hits outside Redis's list are dropped, and if Redis
        # lists a conversation the connection does not, it is asked again.
        guess = set(conn.convs)
        first = asyncio.ensure_future(page_of(guess, req.page, req.limit))
        try:
            convs = set((await ctx.store.session_state(me))[0])
            if not convs <= guess:
                first.cancel()
                first = asyncio.ensure_future(page_of(convs, req.page, req.limit))
            hits = await first
        except IndexGone:
            raise RequestError(RESTARTING, ErrorCode.UNAVAILABLE) from None
        finally:
            if not first.done():
                first.cancel()
        found: list[StoredMessage] = []
        page: str | None = req.page
        for round_ in range(REFILL_ROUNDS):
            if round_:
                try:
                    hits = await page_of(convs, page, req.limit - len(found))
                except IndexGone:
                    raise RequestError(RESTARTING, ErrorCode.UNAVAILABLE) from None
            found += await self._current([h for h in hits.hits if h.conv in convs], query)
            page = hits.next
            if page is None or len(found) >= req.limit:
                break
        rich = FEATURE_MESSAGES in conn.features
        results = [message_wire(hide_reactions(m, blocked), me, rich) for m in found[: req.limit]]
        return Reply({"results": results, "next": page})

    async def _current(self, hits: list[SearchHit], query: ParsedQuery) -> list[StoredMessage]:
        """The hits' messages in their current state, in the hits' order,
        without those deleted, gone, or no longer matching."""
        by_conv: dict[str, list[str]] = {}
        for hit in hits:
            by_conv.setdefault(hit.conv, []).append(hit.mid)
        now = await self.store.messages_each(by_conv)
        out: list[StoredMessage] = []
        gone: list[Key] = []
        for hit in hits:
            msg = now[hit.conv].get(hit.mid)
            if msg is None or msg.deleted:
                gone.append((hit.conv, hit.mid))
            elif query.matches(msg.text):
                out.append(msg)
        if gone:
            self.forget(gone)
        return out


def _entry_id(item: Stored) -> str:
    return item.mid if isinstance(item, StoredMessage) else item.id


def remove_index(path: Path) -> None:
    """Delete an index directory (derived data: Redis holds everything)."""
    if path.exists():
        shutil.rmtree(path)
