"""The query language, parsed and matched without an index (`matches` is
also what the index must agree with: test_agreement.py)."""

from __future__ import annotations

import pytest

from chinwag.protocol.errors import ErrorCode, RequestError
from chinwag.protocol.limits import SEARCH_QUERY_MAX
from chinwag.server.search.query import Char, Prefix, QueryError, Sequence, parse_query


def matches(query: str, text: str) -> bool:
    return parse_query(query).matches(text)


def test_words_are_prefixes_and_all_must_occur() -> None:
    assert parse_query("Depl PROD").clauses == (Prefix("depl"), Prefix("prod"))
    assert matches("depl", "Deploy failed")
    assert matches("depl prod", "prod deploy")
    assert not matches("depl prod", "deploy staging")
    assert not matches("ploy", "deploy")  # a prefix, not a substring
    assert not matches("deployment", "deploy")


def test_quoted_words_are_a_phrase_of_whole_words() -> None:
    assert parse_query('"deploy failed"').clauses == (Sequence(((0, "deploy"), (1, "failed"))),)
    assert matches('"deploy failed"', "Deploy, FAILED!")
    assert not matches('"deploy failed"', "failed deploy")
    assert not matches('"deploy failed"', "deployed failed")
    assert not matches('"deploy failed"', "deploy it failed")
    assert matches('"depl"', "depl")
    assert not matches('"depl"', "deploy")


def test_curly_and_unclosed_quotes() -> None:
    assert matches("\u201cdeploy failed\u201d", "deploy failed")
    assert not matches("\u201cdeploy failed\u201d", "failed deploy")
    assert parse_query('prod "deploy failed').clauses == (Prefix("prod"), Sequence(((0, "deploy"), (1, "failed"))))


def test_runs_are_substrings() -> None:
    assert parse_query("失败").clauses == (Sequence(((0, "失败"),)),)
    assert parse_query("败").clauses == (Char("败"),)
    for query in ("部署", "署失", "失败", "失败了", "部署失败了", "败"):
        assert matches(query, "今天部署失败了"), query
    assert not matches("部失", "部署失败")
    assert not matches("好世", "你好\uff0c世界")  # never across punctuation in the text
    assert matches("你好 世界", "你好\uff0c世界")
    assert not matches('"你好 世界"', "世界 你好")


def test_kana_hangul_thai_substrings() -> None:
    assert matches("タワ", "東京タワーに行く")
    assert matches("의실", "회의실에서")
    assert matches("วัสดี", "สวัสดีครับ")


def test_mixed_scripts() -> None:
    assert matches("deploy失败", "deploy 失败了")
    assert matches("失败 depl", "我们deploy失败了")
    assert matches('"deploy 失败"', "deploy失败了")
    assert not matches('"deploy 失败"', "deploy 部署失败")


def test_case_and_accents_fold_both_ways() -> None:
    assert matches("CAFÉ", "cafe")
    assert matches("cafe", "Café")
    assert matches("strasse", "Straße")
    assert not matches("мои", "мой")


def test_clauses_implied_by_others_are_dropped() -> None:
    assert parse_query("de dep deploy deploy").clauses == (Prefix("deploy"),)
    assert parse_query('dep "deploy now"').clauses == (Sequence(((0, "deploy"), (1, "now"))),)
    assert parse_query("败 失败").clauses == (Sequence(((0, "失败"),)),)


@pytest.mark.parametrize("query", ["", "x" * (SEARCH_QUERY_MAX + 1), "   ", "!!! ... ***", '""', "🎉🎉", "\x00\x1b"])
def test_bad_queries(query: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert isinstance(caught.value, RequestError)
    assert caught.value.code == ErrorCode.BAD_REQUEST


def test_metacharacters_are_punctuation() -> None:
    assert parse_query("a.*b").clauses == (Prefix("a"), Prefix("b"))
    assert parse_query("(dep[loy").clauses == (Prefix("dep"), Prefix("loy"))
    assert matches("de$pl^oy", "de pl oy")
    assert not matches("a.*b", "axxb")


def test_control_characters_separate_words() -> None:
    assert parse_query("dep\x00loy\x1b[2J").clauses == (Prefix("dep"), Prefix("loy"), Prefix("2j"))


def test_the_longest_queries() -> None:
    run = "".join(chr(0x4E00 + i) for i in range(SEARCH_QUERY_MAX))
    (clause,) = parse_query(run).clauses
    assert isinstance(clause, Sequence) and len(clause.terms) == SEARCH_QUERY_MAX - 1
    assert matches(run, "x" + run + "y")
    assert not matches(run, run[:-1])
    words = " ".join(chr(ord("a") + i % 26) * (1 + i // 26) for i in range(66))
    assert len(words) <= SEARCH_QUERY_MAX
    assert len(parse_query(words).clauses) == 26  # each letter's longest run implies the shorter ones
