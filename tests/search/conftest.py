"""A search index in RAM, with the messages' texts kept beside it so a test
can name its results by text."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chinwag.server.search import IndexedMessage, SearchIndex, SearchPage, parse_query


@dataclass
class Corpus:
    index: SearchIndex
    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    convs: set[str] = field(default_factory=set)
    _next_ms: int = 1_700_000_000_000

    def add(
        self, text: str, conv: str = "#ops", sender: str = "alice", mid: str | None = None, ts: int | None = None
    ) -> str:
        """Index one message (mids increase with each call); committed at once."""
        if mid is None:
            self._next_ms += 1
            mid = f"{self._next_ms}-0"
        ms = int(mid.partition("-")[0])
        self.index.upsert([IndexedMessage(conv, mid, sender, ms if ts is None else ts, text)])
        self.index.commit()
        self.texts[conv, mid] = text
        self.convs.add(conv)
        return mid

    def page(self, query: str, convs: Collection[str] | None = None, **kw: Any) -> SearchPage:
        return self.index.search(parse_query(query), self.convs if convs is None else convs, **kw)

    def find(self, query: str, convs: Collection[str] | None = None, **kw: Any) -> list[str]:
        """The texts of every result, all pages, in order."""
        return [self.texts[hit] for hit in self.hits(query, convs, **kw)]

    def hits(
        self, query: str, convs: Collection[str] | None = None, page: str | None = None, **kw: Any
    ) -> list[tuple[str, str]]:
        """Every hit from `page` (the first if None) to the last page."""
        out: list[tuple[str, str]] = []
        while True:
            result = self.page(query, convs, page=page, **kw)
            out.extend(result.hits)
            if result.next is None:
                return out
            page = result.next


@pytest.fixture
def corpus() -> Iterator[Corpus]:
    with SearchIndex(None, heap_bytes=15_000_000) as index:
        yield Corpus(index)


@pytest.fixture
async def server(make_server: Any, tmp_path: Any) -> Any:
    """The default server of the wire tests here: one with a search index
    (in the test's own directory), on the test's clean Redis."""
    return await make_server(search_dir=str(tmp_path / "search"))
