"""Pages of results: newest first, exact across ties, stable while messages
arrive, and a `next` that cannot be forged into anything but a position."""

from __future__ import annotations

import base64

import pytest

from chinwag.server.search import QueryError
from chinwag.server.search.paging import Position, decode_page, encode_page, order_key

from .conftest import Corpus


def test_pages_cover_every_result_once_newest_first(corpus: Corpus) -> None:
    for i in range(45):
        corpus.add(f"deploy {i}", conv=f"#room{i % 4}")
    pages = []
    page = None
    while True:
        result = corpus.page("deploy", limit=20, page=page)
        pages.append([corpus.texts[hit] for hit in result.hits])
        if result.next is None:
            break
        page = result.next
    assert [len(p) for p in pages] == [20, 20, 5]
    assert [text for p in pages for text in p] == [f"deploy {i}" for i in reversed(range(45))]


def test_an_exact_page_ends_without_next(corpus: Corpus) -> None:
    for i in range(4):
        corpus.add(f"deploy {i}")
    first = corpus.page("deploy", limit=2)
    second = corpus.page("deploy", limit=2, page=first.next)
    assert first.next is not None and second.next is None
    assert len(second.hits) == 2
    assert corpus.page("deploy", limit=4).next is None
    assert corpus.page("nothing", limit=4) == ([], None)


def test_messages_arriving_between_pages_change_nothing(corpus: Corpus) -> None:
    for i in range(10):
        corpus.add(f"deploy old {i}")
    first = corpus.page("deploy", limit=4)
    for i in range(5):
        corpus.add(f"deploy new {i}")  # newer than every cursor
    rest = corpus.hits("deploy", limit=4, page=first.next)
    seen = [corpus.texts[hit] for hit in [*first.hits, *rest]]
    assert seen == [f"deploy old {i}" for i in reversed(range(10))]


def test_an_edit_between_pages_neither_repeats_nor_skips(corpus: Corpus) -> None:
    mids = [corpus.add(f"deploy {i}") for i in range(6)]
    first = corpus.page("deploy", limit=3)
    corpus.add("deploy 1 edited", mid=mids[1])  # an older one, keeps its place
    rest = corpus.hits("deploy", limit=3, page=first.next)
    assert [mid for _, mid in [*first.hits, *rest]] == list(reversed(mids))


def test_ties_across_conversations_page_exactly(corpus: Corpus) -> None:
    """The same stream id in many conversations: one order key."""
    convs = [f"#r{i:02d}" for i in range(11)]
    for conv in convs:
        corpus.add(f"deploy in {conv}", conv=conv, mid="5000-0")
    corpus.add("deploy newer", conv="#r03", mid="6000-0")
    corpus.add("deploy older", conv="#r07", mid="4000-0")
    for limit in (1, 2, 3, 4, 10, 11, 12, 50):
        found = corpus.find("deploy", limit=limit)
        assert found == ["deploy newer", *(f"deploy in {c}" for c in convs), "deploy older"], limit


def test_saturated_order_keys_still_page_exactly(corpus: Corpus) -> None:
    """Ids beyond what the order key can tell apart (over 2**22 in one ms)."""
    mids = ["5-4194303", "5-4194304", "5-9999999", "5-2"]
    assert order_key(mids[0]) == order_key(mids[2]) != order_key(mids[3])
    for mid in mids:
        corpus.add(f"deploy {mid}", mid=mid)
    expected = ["deploy 5-9999999", "deploy 5-4194304", "deploy 5-4194303", "deploy 5-2"]
    for limit in (1, 2, 3, 4):
        assert corpus.find("deploy", limit=limit) == expected, limit


def test_order_key_sorts_like_stream_ids() -> None:
    mids = ["0-0", "0-1", "1-0", "1-4194302", "1700000000000-0", "1700000000000-7", "1700000000001-0"]
    assert [order_key(m) for m in mids] == sorted(order_key(m) for m in mids)
    assert len({order_key(m) for m in mids}) == len(mids)
    assert order_key(f"{2**64 - 1}-{2**64 - 1}") == 2**64 - 1


def test_a_page_round_trips() -> None:
    position = Position(order_key("17-3"), "@alice:bob", "17-3")
    assert decode_page(encode_page(position)) == position


@pytest.mark.parametrize(
    "page",
    [
        "",
        "!!!!",
        "not base64 at all",
        "é" * 10,
        "A" * 5000,
        base64.urlsafe_b64encode(b"\x01" + b"\x00" * 24).decode(),  # no conversation
        base64.urlsafe_b64encode(b"\x02" + b"\x00" * 24 + b"#ops").decode(),  # another version
        base64.urlsafe_b64encode(b"\x01" + b"\x00" * 24 + b"\xff\xfe").decode(),  # not UTF-8
    ],
)
def test_bad_pages(corpus: Corpus, page: str) -> None:
    corpus.add("deploy")
    with pytest.raises(QueryError):
        corpus.page("deploy", page=page)


def test_a_page_altered_in_its_padding_bits_is_bad() -> None:
    good = encode_page(Position(order_key("17-3"), "#ops", "17-3"))
    assert len(base64.urlsafe_b64decode(good + "==")) % 3 != 0  # the last character has spare bits
    altered = good[:-1] + chr(ord(good[-1]) + 1)
    with pytest.raises(QueryError):
        decode_page(altered)


def test_a_page_of_another_query_is_only_a_position(corpus: Corpus) -> None:
    for i in range(4):
        corpus.add(f"deploy rollback {i}")
    page = corpus.page("deploy", limit=2).next
    assert [corpus.texts[h] for h in corpus.page("rollback", limit=5, page=page).hits] == [
        "deploy rollback 1",
        "deploy rollback 0",
    ]


@pytest.mark.parametrize("limit", [0, 51, -1, True])
def test_bad_limits(corpus: Corpus, limit: int) -> None:
    with pytest.raises(QueryError):
        corpus.page("deploy", limit=limit)
