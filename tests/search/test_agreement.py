"""The index finds exactly what `ParsedQuery.matches` says, on random
messages and queries drawn from a small vocabulary that collides a lot
(prefixes of each other, accents, runs sharing characters, quotes)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chinwag.server.search import IndexedMessage, QueryError, SearchIndex, parse_query

PIECES = [
    "d", "de", "dep", "depl", "deploy", "deployed", "Deploy", "déploy", "fail", "failed", "ok",
    "部", "部署", "署失", "失败", "败了", "了", "タワー", "회의", "x", "xy", "xyz", "xyzw", "a1", "1",
]  # fmt: skip
SEPARATORS = [" ", ", ", "", "-", "\u3001", "\n", '"']
CONVS = ["#ops", "#dev", "@alice:bob"]
SENDERS = ["alice", "bob"]

texts = st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), min_size=1, max_size=6).map(
    lambda parts: "".join(p + s for p, s in parts)
)
messages = st.lists(
    st.tuples(texts, st.sampled_from(CONVS), st.sampled_from(SENDERS), st.integers(0, 3)), min_size=1, max_size=25
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=messages,
    queries=st.lists(texts, min_size=1, max_size=4),
    convs=st.sets(st.sampled_from(CONVS), min_size=1),
    exclude=st.sets(st.sampled_from(SENDERS), max_size=1),
    limit=st.integers(1, 7),
)
def test_the_index_agrees_with_matches(
    messages: list[tuple[str, str, str, int]],
    queries: list[str],
    convs: set[str],
    exclude: set[str],
    limit: int,
) -> None:
    stored: dict[tuple[str, str], tuple[str, str]] = {}
    with SearchIndex(None, heap_bytes=15_000_000) as index:
        for n, (text, conv, sender, ms) in enumerate(messages):
            mid = f"{ms}-{n % 3}"  # collisions: replacements, and one key in several conversations
            index.upsert([IndexedMessage(conv, mid, sender, ms, text)])
            stored[conv, mid] = (text, sender)
        index.commit()
        for raw in queries:
            try:
                query = parse_query(raw)
            except QueryError:
                continue
            found: list[tuple[str, str]] = []
            page = None
            while True:
                result = index.search(query, convs, exclude, limit=limit, page=page)
                assert len(result.hits) <= limit
                found.extend(result.hits)
                if result.next is None:
                    break
                page = result.next
            expected = {
                key
                for key, (text, sender) in stored.items()
                if key[0] in convs and sender not in exclude and query.matches(text)
            }
            assert len(found) == len(set(found)), raw
            assert set(found) == expected, raw
            orders = [tuple(int(part) for part in mid.split("-")) for _, mid in found]
            assert orders == sorted(orders, reverse=True), raw
