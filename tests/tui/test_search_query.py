"""The search panel's line (chinwag/tui/search.py): filters, and which
words of a result are highlighted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chinwag.tui.search import QueryError, match_spans, parse_query

TODAY = date(2026, 12, 1)


def ms(y: int, mo: int, d: int) -> int:
    return int(datetime(y, mo, d, tzinfo=UTC).timestamp() * 1000)


def test_filters_among_the_words() -> None:
    query = parse_query('deploy from:@Bob in:#Ops "disk full" before:2026-11-30 after:2026-11-01', tz=UTC, today=TODAY)
    assert query.text == 'deploy "disk full"'
    assert (query.sender, query.conv) == ("bob", "#ops")
    assert query.before == ms(2026, 11, 30)  # the day itself left out
    assert query.after == ms(2026, 11, 2) - 1
    assert query.terms == ["deploy", "disk full"]


def test_on_a_day_and_in_a_direct_conversation() -> None:
    query = parse_query("on:yesterday in:@carol lunch", tz=UTC, today=TODAY)
    assert (query.after, query.before) == (ms(2026, 11, 30) - 1, ms(2026, 12, 1))
    assert query.conv == "@carol" and query.text == "lunch"


def test_a_word_with_a_colon_that_is_no_filter_is_a_word() -> None:
    assert parse_query("re:deploy 10:30", tz=UTC, today=TODAY).text == "re:deploy 10:30"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("x before:tomorrowish", "before:2026-11-30"),
        ("x from:9lives", "from:bob"),
        ("x in:#no!", "in:#ops"),
        ("x from:", "needs a value"),
        ("x" * 201, "at most 200"),
    ],
)
def test_a_bad_filter_says_what_to_type(line: str, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(line, tz=UTC, today=TODAY)
    assert says in str(caught.value)


def test_highlights_follow_the_matching_rules() -> None:
    text = "Deploying the DEPLOY bot; redeploy later. Disk  full on db-2 東京タワー"
    words = {text[a:b] for a, b in match_spans(text, ["depl"])}
    assert words == {"Deploying", "DEPLOY"}  # word starts only, any case, the whole word shown
    assert [text[a:b] for a, b in match_spans(text, ["disk full"])] == ["Disk  full"]
    assert [text[a:b] for a, b in match_spans(text, ["京タ"])] == ["京タ"]
    assert match_spans("abc", ["zzz"]) == []
