"""The search index: one tantivy index, in a directory or in RAM.

It holds, per message, the conversation, the id, the sender, the time, the
order key and the terms of its text (see `tokens`), but not the text: the
text is indexed, never stored, so the index keeps as little of what people
wrote as it can, and the server reads a hit's current text from Redis.

Every method is synchronous and may block (disk, merges); the server runs
them in a thread. tantivy releases the GIL while it commits and searches.
Writes (upsert, delete, commit) take one lock: tantivy's writer allows one
caller at a time. Searches need no lock and see the last commit.

Beside the messages, the index keeps one small document per conversation
holding its high-water mark (`progress`), written in the same commit as the
messages it covers, so after a restart the marks and the messages agree.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

import tantivy

from ...protocol.limits import SEARCH_DEFAULT, SEARCH_MAX
from .paging import Position, decode_page, encode_page, order_key
from .query import Char, Clause, ParsedQuery, Prefix, QueryError
from .tokens import PREFIX_GRAMS, index_fields

FORMAT = 1  # of the schema and the tokenizer: a new one starts an empty index beside the old
_TERMS_ANALYZER = "chinwag_terms"  # splits at ASCII spaces only: the terms come from `tokens`
_PROGRESS = "progress"
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
EXPANSION_UNION_MAX = 32  # words a prefix expands to that are searched as a union; more are a set of terms


class IndexLocked(Exception):
    """Another SearchIndex (in this process or another) has the directory."""


@dataclass(frozen=True, slots=True)
class IndexedMessage:
    """A message as the index takes it: its current text, never stored."""

    conv: str
    mid: str
    sender: str
    ts: int  # ms
    text: str


class SearchHit(NamedTuple):
    conv: str
    mid: str


class SearchPage(NamedTuple):
    hits: list[SearchHit]  # newest first
    next: str | None  # the `page` of the next call; None when there is no more


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # "mid conv" for a message, "progress conv" for a mark: unique, for deletes
    builder.add_text_field("key", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("conv", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("sender", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("ts", fast=True)
    builder.add_unsigned_field("order", fast=True)
    builder.add_text_field("terms", tokenizer_name=_TERMS_ANALYZER, index_option="position")
    builder.add_text_field("grams", tokenizer_name=_TERMS_ANALYZER, index_option="basic")
    builder.add_text_field("kind", tokenizer_name="raw", index_option="basic")  # progress docs only
    builder.add_text_field("mark", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


def _message_key(conv: str, mid: str) -> str:
    return f"{mid} {conv}"  # a mid has no space, so the first one splits


def _progress_key(conv: str) -> str:
    return f"{_PROGRESS} {conv}"


class SearchIndex:
    """Owns one tantivy index; `path` None keeps it in RAM (tests, a node
    without a disk to spare)."""

    def __init__(self, path: Path | None, *, heap_bytes: int = 50_000_000) -> None:
        self._schema = _schema()
        if path is None:
            self._index = tantivy.Index(self._schema)
        else:
            self._index = tantivy.Index(self._schema, str(_format_dir(path)))
        self._index.register_tokenizer(
            _TERMS_ANALYZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
        )
        self._index.config_reader(reload_policy="manual")
        try:
            self._writer: tantivy.IndexWriter | None = self._index.writer(heap_size=heap_bytes, num_threads=1)
        except ValueError as exc:
            if "LockBusy" in str(exc):
                raise IndexLocked(f"the search index at {path} is in use by another server") from None
            raise
        self._lock = threading.Lock()
        self._pending = 0
        self._marks = self._read_marks()
        # Every conversation the index may hold documents of (a superset: with
        # those whose documents were all deleted), and about how many: what
        # lets a search that covers most of them exclude the few it does not
        # cover instead of listing the many it does (`_scope_filter`).
        self._conv_docs: dict[str, int] = dict(self._index.searcher().terms_with_prefix("conv", ""))
        self._docs_counted = sum(self._conv_docs.values())
        self._scope_lock = threading.Lock()  # not `_lock`: a search must never wait for a commit

    # --- writing ---------------------------------------------------------------

    def upsert(self, messages: Iterable[IndexedMessage]) -> None:
        """Add each message, replacing any earlier version of it (same conv
        and mid): an edited message is then found by its new text only."""
        batch = list(messages)
        docs = [(_message_key(m.conv, m.mid), self._document(m)) for m in batch]
        with self._lock:
            writer = self._live_writer()
            with self._scope_lock:  # before the documents: never a searchable one of a conversation not counted
                counts = self._conv_docs
                for m in batch:
                    counts[m.conv] = counts.get(m.conv, 0) + 1
                self._docs_counted += len(batch)
            for key, doc in docs:
                writer.delete_documents_by_term("key", key)
                writer.add_document(doc)
            self._pending += len(docs)

    def delete(self, conv: str, mid: str) -> None:
        self.delete_many([(conv, mid)])

    def delete_many(self, messages: Iterable[tuple[str, str]]) -> None:
        """Remove messages by (conv, mid); unknown ones are no-ops."""
        keys = [_message_key(conv, mid) for conv, mid in messages]
        with self._lock:
            writer = self._live_writer()
            for key in keys:
                writer.delete_documents_by_term("key", key)
            self._pending += len(keys)

    def commit(self, progress: Mapping[str, str] | None = None) -> None:
        """Make every change so far visible to searches and durable, and set
        the marks in `progress` (conv -> mid) in the same commit. A no-op
        when nothing changed, so a timer can call it freely."""
        with self._lock:
            writer = self._live_writer()
            changed = {conv: mid for conv, mid in (progress or {}).items() if self._marks.get(conv) != mid}
            for conv, mid in changed.items():
                writer.delete_documents_by_term("key", _progress_key(conv))
                writer.add_document(self._mark_document(conv, mid))
            if not changed and not self._pending:
                return
            writer.commit()
            self._pending = 0
            self._marks.update(changed)
        self._index.reload()

    @property
    def pending(self) -> int:
        """Changes not yet committed: the commit timer's "dirty" flag."""
        return self._pending

    def progress(self) -> dict[str, str]:
        """conv -> mid of the last committed marks: where a restarted node
        resumes indexing each conversation."""
        with self._lock:
            return dict(self._marks)

    def close(self) -> None:
        """Drop uncommitted changes, finish merges and free the directory's lock."""
        with self._lock:
            if self._writer is not None:
                self._writer.rollback()
                self._writer.wait_merging_threads()
                self._writer = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- searching ---------------------------------------------------------------

    @property
    def num_messages(self) -> int:
        """Committed messages (the marks are not counted)."""
        return max(0, self._index.searcher().num_docs - len(self._marks))

    def search(
        self,
        query: ParsedQuery,
        convs: Collection[str],
        exclude_senders: Collection[str] = (),
        *,
        conv: str | None = None,
        sender: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = SEARCH_DEFAULT,
        page: str | None = None,
    ) -> SearchPage:
        """One page of the messages matching `query` in `convs` (narrowed to
        `conv` if given; a `conv` outside `convs` finds nothing), not sent by
        `exclude_senders`, sent by `sender` if given, with `after < ts < before`.
        QueryError for a limit outside 1..SEARCH_MAX or a bad `page`."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= SEARCH_MAX:
            raise QueryError(f"limit is 1 to {SEARCH_MAX}")
        if isinstance(convs, str) or isinstance(exclude_senders, str):
            raise TypeError("convs and exclude_senders are collections of ids, not one string")
        cursor = decode_page(page) if page is not None else None
        scope = set(convs) if conv is None else {conv} & set(convs)
        filters = self._filters(scope, exclude_senders, sender, before, after)
        if filters is None:
            return SearchPage([], None)
        searcher = self._index.searcher()  # one commit's view for the expansions and the search alike
        base = self._all(*filters, *(self._clause(c, searcher) for c in query.clauses))
        return _Pager(searcher, self._schema, base, len(scope)).page(cursor, limit)

    # --- the pieces -------------------------------------------------------------

    def _live_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError("the search index is closed")
        return self._writer

    def _document(self, message: IndexedMessage) -> tantivy.Document:
        terms, grams = index_fields(message.text)
        doc = tantivy.Document()
        doc.add_text("key", _message_key(message.conv, message.mid))
        doc.add_text("conv", message.conv)
        doc.add_text("sender", message.sender)
        doc.add_integer("ts", min(max(message.ts, _I64_MIN), _I64_MAX))
        doc.add_unsigned("order", order_key(message.mid))
        doc.add_text("terms", terms)
        doc.add_text("grams", grams)
        return doc

    def _mark_document(self, conv: str, mid: str) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text("key", _progress_key(conv))
        doc.add_text("kind", _PROGRESS)
        doc.add_text("mark", mid)
        return doc

    def _read_marks(self) -> dict[str, str]:
        searcher = self._index.searcher()
        query = tantivy.Query.term_query(self._schema, "kind", _PROGRESS)
        marks: dict[str, str] = {}
        for _, address in searcher.search(query, limit=max(1, searcher.num_docs), count=False).hits:
            doc = searcher.doc(address)
            conv = str(doc["key"][0]).removeprefix(f"{_PROGRESS} ")
            marks[conv] = str(doc["mark"][0])
        return marks

    def _clause(self, clause: Clause, searcher: tantivy.Searcher) -> tantivy.Query:
        schema = self._schema
        if isinstance(clause, Prefix):
            if len(clause.word) <= PREFIX_GRAMS:
                return tantivy.Query.term_query(schema, "grams", clause.word)
            return self._expansion(searcher, clause.word)
        if isinstance(clause, Char):
            return tantivy.Query.term_query(schema, "grams", clause.char)
        if len(clause.terms) == 1:
            return tantivy.Query.term_query(schema, "terms", clause.terms[0][1])
        return tantivy.Query.phrase_query(schema, "terms", list(clause.terms))

    def _expansion(self, searcher: tantivy.Searcher, prefix: str) -> tantivy.Query:
        """The index's words that start with `prefix`, any of them: few, as a
        prefix of 4+ letters is selective. Read from the term dictionary of
        the searcher the query runs on, and searched as a union of terms:
        a third of what a `prefix.*` regex query cost (its automaton is
        built for every query: 0.75 ms). Many words (a hostile index) are
        one set of terms instead, whose cost is their postings, as the
        regex's was."""
        schema = self._schema
        words = [term for term, _ in searcher.terms_with_prefix("terms", prefix)]
        if not words:
            return tantivy.Query.empty_query()
        if len(words) == 1:
            return tantivy.Query.term_query(schema, "terms", words[0])
        if len(words) <= EXPANSION_UNION_MAX:
            should = tantivy.Occur.Should
            return tantivy.Query.boolean_query([(should, tantivy.Query.term_query(schema, "terms", w)) for w in words])
        return tantivy.Query.term_set_query(schema, "terms", words)

    def _filters(
        self,
        scope: set[str],
        exclude_senders: Collection[str],
        sender: str | None,
        before: int | None,
        after: int | None,
    ) -> list[tuple[tantivy.Occur, tantivy.Query]] | None:
        """The non-text clauses, or None when nothing can match."""
        schema = self._schema
        if not scope or (before is not None and before <= _I64_MIN) or (after is not None and after >= _I64_MAX):
            return None
        must = tantivy.Occur.Must
        out = self._scope_filter(scope)
        if sender is not None:
            out.append((must, tantivy.Query.term_query(schema, "sender", sender)))
        if exclude_senders:
            out.append((tantivy.Occur.MustNot, tantivy.Query.term_set_query(schema, "sender", sorted(exclude_senders))))
        lower = after if after is not None and after >= _I64_MIN else None
        upper = before if before is not None and before <= _I64_MAX else None
        if lower is not None or upper is not None:
            ts = tantivy.Query.range_query(
                schema,
                "ts",
                tantivy.FieldType.Integer,
                lower,
                upper,
                include_lower=lower is None,  # an open side must say "inclusive"
                include_upper=upper is None,
            )
            out.append((must, ts))
        return out

    def _scope_filter(self, scope: set[str]) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Only documents of `scope`'s conversations. A set of terms costs
        tantivy a pass over every document of its conversations, whatever
        the text clauses match (2.4 ms for a caller in all of 1,000 rooms of
        200,000 messages, against 0.03 ms for a rare word alone), so when
        the scope holds most of the index's documents the filter names the
        conversations outside it instead: none at all for a caller in
        every one. Exact either way, as `_conv_docs` has every
        conversation the index holds a document of."""
        with self._scope_lock:  # the writer adds conversations as it goes
            counts = self._conv_docs
            known = [c for c in scope if c in counts]
            inside = sum(counts[c] for c in known)
            # Outside only when it is the smaller set in documents and in
            # terms (a caller in a few large rooms beside many small DMs).
            fewer = 2 * inside > self._docs_counted and len(counts) - len(known) <= len(known)
            outside = sorted(c for c in counts if c not in scope) if fewer else None
        if outside is None:
            return [(tantivy.Occur.Must, tantivy.Query.term_set_query(self._schema, "conv", sorted(scope)))]
        if not outside:
            return []
        return [(tantivy.Occur.MustNot, tantivy.Query.term_set_query(self._schema, "conv", outside))]

    @staticmethod
    def _all(*clauses: tuple[tantivy.Occur, tantivy.Query] | tantivy.Query) -> tantivy.Query:
        subqueries = [c if isinstance(c, tuple) else (tantivy.Occur.Must, c) for c in clauses]
        return tantivy.Query.boolean_query(subqueries)


class _Pager:
    """One page in the total order of `paging`, from tantivy's top-k by the
    order key, whose ties at the page's edge it may cut anywhere: at an edge
    with ties, every document with that key is read and ordered here. Within
    one conversation the keys are distinct, so a tie has at most one
    document per conversation searched."""

    def __init__(self, searcher: tantivy.Searcher, schema: tantivy.Schema, base: tantivy.Query, convs: int) -> None:
        self._searcher = searcher
        self._schema = schema
        self._base = base
        self._convs = convs

    def page(self, cursor: Position | None, limit: int) -> SearchPage:
        query = self._base
        head: list[Position] = []
        if cursor is not None:
            head = [p for p in self._at(self._base, cursor.order) if p.rank() > cursor.rank()]
            query = SearchIndex._all(self._base, self._order_range(upper=cursor.order, include_upper=False))
        older = self._top(query, limit + 1)
        hits = head[:limit]
        more = len(head) > limit or (len(hits) == limit and bool(older))
        need = limit - len(hits)
        if need > 0 and older:
            taken = older[:need]
            edge = taken[-1].order
            if len(older) > need and older[need].order == edge:
                taken = [p for p in taken if p.order > edge] + self._at(query, edge)
            taken.sort(key=Position.rank)
            hits += taken[:need]
            more = len(older) > need or len(taken) > need
        next_page = encode_page(hits[-1]) if more and hits else None
        return SearchPage([SearchHit(p.conv, p.mid) for p in hits], next_page)

    def _top(self, query: tantivy.Query, limit: int) -> list[Position]:
        result = self._searcher.search(query, limit=limit, count=False, order_by_field="order")
        return [self._position(int(order), address) for order, address in result.hits]

    def _at(self, query: tantivy.Query, order: int) -> list[Position]:
        """Every document of `query` with this order key, in rank order."""
        exact = SearchIndex._all(query, self._order_range(lower=order, upper=order))
        result = self._searcher.search(exact, limit=self._convs + 1, count=False)
        if len(result.hits) > self._convs:  # keys saturated (see order_key): read them all
            result = self._searcher.search(exact, limit=max(1, self._searcher.num_docs), count=False)
        return sorted((self._position(order, address) for _, address in result.hits), key=Position.rank)

    def _order_range(
        self, *, lower: int | None = None, upper: int | None = None, include_upper: bool = True
    ) -> tantivy.Query:
        return tantivy.Query.range_query(
            self._schema, "order", tantivy.FieldType.Unsigned, lower, upper, include_upper=include_upper
        )

    def _position(self, order: int, address: tantivy.DocAddress) -> Position:
        mid, _, conv = str(self._searcher.doc(address)["key"][0]).partition(" ")
        return Position(order, conv, mid)


def _format_dir(path: Path) -> Path:
    """`path/v<FORMAT>`, created; an index of another format beside it is
    removed (it is derived data, rebuilt from Redis)."""
    path.mkdir(parents=True, exist_ok=True)
    for old in path.iterdir():
        ours = re.fullmatch(r"v\d+", old.name) and (old / "meta.json").is_file()
        if ours and old.name != f"v{FORMAT}":
            shutil.rmtree(old)
    current = path / f"v{FORMAT}"
    current.mkdir(exist_ok=True)
    return current
