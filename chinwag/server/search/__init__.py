"""Full-text search over messages: the tokenizer (`tokens`), the query
language (`query`), the order of results and its cursor (`paging`) and the
tantivy index (`index`). No Redis and no networking: the server feeds the
index and answers `search` with it."""

from .index import IndexedMessage, IndexLocked, SearchHit, SearchIndex, SearchPage
from .query import ParsedQuery, QueryError, parse_query

__all__ = [
    "IndexLocked",
    "IndexedMessage",
    "ParsedQuery",
    "QueryError",
    "SearchHit",
    "SearchIndex",
    "SearchPage",
    "parse_query",
]
