"""The tantivy index: matching, filters, replacement and deletion."""

from __future__ import annotations

import pytest
import tantivy

from chinwag.protocol.limits import SEARCH_QUERY_MAX
from chinwag.server.search import IndexedMessage, QueryError, parse_query
from chinwag.server.search.index import EXPANSION_UNION_MAX

from .conftest import Corpus


def test_prefixes_of_every_length(corpus: Corpus) -> None:
    corpus.add("Deploy failed on prod")
    corpus.add("deployment is done")
    corpus.add("a dep and a depot")
    for query in ("d", "de", "dep", "depl", "deplo", "deploy"):
        assert "Deploy failed on prod" in corpus.find(query), query
    assert corpus.find("deploym") == ["deployment is done"]
    assert corpus.find("dep") == ["a dep and a depot", "deployment is done", "Deploy failed on prod"]
    assert corpus.find("depo") == ["a dep and a depot"]
    assert corpus.find("ploy") == []
    assert corpus.find("xdeploy") == []  # a prefix is anchored at the word's start


def test_every_word_must_occur(corpus: Corpus) -> None:
    corpus.add("deploy failed on prod")
    corpus.add("deploy worked on staging")
    corpus.add("prod is down")
    assert corpus.find("depl prod") == ["deploy failed on prod"]
    assert corpus.find("on deploy") == ["deploy worked on staging", "deploy failed on prod"]
    assert corpus.find("depl prod staging") == []


def test_phrases(corpus: Corpus) -> None:
    corpus.add("Deploy, FAILED!")
    corpus.add("failed deploy")
    corpus.add("deployed failed")
    corpus.add("the depl tool")
    assert corpus.find('"deploy failed"') == ["Deploy, FAILED!"]
    assert corpus.find('"failed deploy"') == ["failed deploy"]
    assert corpus.find('"depl"') == ["the depl tool"]
    assert corpus.find('"depl" tool') == ["the depl tool"]


def test_case_and_accents(corpus: Corpus) -> None:
    corpus.add("Café CRÈME")
    corpus.add("cafe creme")
    corpus.add("STRASSE")
    assert corpus.find("café") == ["cafe creme", "Café CRÈME"]
    assert corpus.find("CAFE creme") == ["cafe creme", "Café CRÈME"]
    assert corpus.find("straße") == ["STRASSE"]


def test_runs_found_by_substrings_of_two_or_more(corpus: Corpus) -> None:
    corpus.add("今天部署失败了")
    corpus.add("你好\uff0c世界")
    corpus.add("東京タワーに行く")
    corpus.add("회의실에서 만나요")
    for query in ("部署", "署失", "失败", "失败了", "今天部署失败了", "败", "天部"):
        assert corpus.find(query) == ["今天部署失败了"], query
    assert corpus.find("部失") == []
    assert corpus.find("好世") == []
    assert corpus.find("你好 世界") == ["你好\uff0c世界"]
    assert corpus.find("ワーに") == ["東京タワーに行く"]
    assert corpus.find("의실") == ["회의실에서 만나요"]


def test_mixed_scripts(corpus: Corpus) -> None:
    corpus.add("我们deploy失败了")
    corpus.add("deploy 部署失败")
    assert corpus.find("deploy失败") == ["deploy 部署失败", "我们deploy失败了"]
    assert corpus.find('"deploy 失败"') == ["我们deploy失败了"]
    assert corpus.find("们de") == ["我们deploy失败了"]  # a query splits between scripts as a message does
    assert corpus.find("们de 部署") == []


@pytest.mark.parametrize("words", [0, 1, 2, EXPANSION_UNION_MAX, EXPANSION_UNION_MAX + 1, 300])
def test_a_prefix_finds_every_word_it_starts(corpus: Corpus, words: int) -> None:
    """A prefix of 4+ letters is searched as the words of the index that
    start with it: one, a union of a few, or a set of many."""
    texts = [f"zeta{n:03d} in {n % 2}" for n in range(words)]
    for text in texts:
        corpus.add(text)
    corpus.add("zet alone")  # shorter than the prefix: not found
    corpus.add("azeta0 inside a word")  # not at the start: not found
    newest_first = texts[::-1]
    assert corpus.find("zeta") == newest_first
    assert corpus.find("zeta in") == newest_first
    assert corpus.find("zeta 1") == [t for t in newest_first if t.endswith(" 1")]
    assert corpus.find("zeta0") == [t for t in newest_first if t.startswith("zeta0")]
    assert corpus.find('"in 0" zeta') == [t for t in newest_first if t.endswith(" 0")]


def test_metacharacters_are_not_patterns(corpus: Corpus) -> None:
    corpus.add("a b")
    corpus.add("axxxb")
    corpus.add("deploy (prod) [now]")
    assert corpus.find("a.*b") == ["a b"]
    assert corpus.find(".* (prod") == ["deploy (prod) [now]"]  # `.*` alone is punctuation: no clause
    assert corpus.find("(prod") == ["deploy (prod) [now]"]
    assert corpus.find("[now deplo(") == ["deploy (prod) [now]"]
    assert corpus.find("deplo(y") == []  # the words `deplo` and `y`
    assert corpus.find("deplo| pro\\ ^no$ {1,2}") == []  # `1` and `2` are words too
    assert corpus.find("deplo| pro\\ ^no$ ~#&-") == ["deploy (prod) [now]"]


def test_hostile_queries(corpus: Corpus) -> None:
    run = "".join(chr(0x4E00 + i) for i in range(SEARCH_QUERY_MAX))
    corpus.add("x" + run + "y")
    corpus.add(run[:-1])
    corpus.add("dep\x00loy \x1b[31m")
    assert corpus.find(run) == ["x" + run + "y"]
    assert corpus.find("dep\x1bloy") == ["dep\x00loy \x1b[31m"]
    letters = " ".join("abcdefghijklmnopqrstuvwxyz" * 3)[:SEARCH_QUERY_MAX]
    assert corpus.find(letters) == []
    with pytest.raises(QueryError):
        parse_query("deploy " * 40)


def test_huge_messages_are_indexed(corpus: Corpus) -> None:
    text = " ".join(f"w{i}" for i in range(2000)) + " " + "長" * 4000 + " " + "z" * 4000
    corpus.add(text)
    assert corpus.find("w1999 長長長 zzzz") == [text]
    assert corpus.find('"w0 w1 w2"') == [text]


def test_filters(corpus: Corpus) -> None:
    corpus.add("deploy one", conv="#ops", sender="alice", ts=100)
    corpus.add("deploy two", conv="#dev", sender="bob", ts=200)
    corpus.add("deploy three", conv="@alice:bob", sender="bob", ts=300)
    everything = ["deploy three", "deploy two", "deploy one"]
    assert corpus.find("deploy") == everything
    assert corpus.find("deploy", conv="#dev") == ["deploy two"]
    assert corpus.find("deploy", conv="#nope") == []
    assert corpus.find("deploy", convs={"#ops"}, conv="#dev") == []  # a conv outside the caller's set
    assert corpus.find("deploy", sender="bob") == ["deploy three", "deploy two"]
    assert corpus.find("deploy", sender="bob", conv="#ops") == []
    assert corpus.find("deploy", after=100) == ["deploy three", "deploy two"]  # exclusive
    assert corpus.find("deploy", before=300) == ["deploy two", "deploy one"]  # exclusive
    assert corpus.find("deploy", after=100, before=300) == ["deploy two"]
    assert corpus.find("deploy", after=200, before=201) == []
    assert corpus.find("deploy", after=-(2**70), before=2**70) == everything
    assert corpus.find("deploy", after=2**70) == []
    assert corpus.find("deploy", before=-(2**70)) == []


def test_only_the_callers_conversations(corpus: Corpus) -> None:
    corpus.add("deploy ops", conv="#ops")
    corpus.add("deploy dm", conv="@alice:bob")
    corpus.add("deploy secret", conv="#secret")
    assert corpus.find("deploy", convs={"#ops", "@alice:bob"}) == ["deploy dm", "deploy ops"]
    assert corpus.find("deploy", convs=set()) == []
    assert corpus.find("deploy", convs={"#op"}) == []  # whole ids, not prefixes


def test_a_caller_in_most_conversations_finds_only_theirs(corpus: Corpus) -> None:
    """A scope holding most of the index's documents is filtered by naming
    the conversations outside it; what it finds must not change."""
    big = [corpus.add(f"deploy big {i}", conv="#big") for i in range(5)]
    corpus.add("deploy secret", conv="#secret")
    corpus.add("deploy dm", conv="@alice:bob")
    assert corpus.index._scope_filter({"#big", "@alice:bob"})[0][0] == tantivy.Occur.MustNot
    newest_first = [f"deploy big {i}" for i in range(4, -1, -1)]
    assert corpus.find("deploy", convs={"#big", "@alice:bob"}) == ["deploy dm", *newest_first]
    assert corpus.find("deploy", convs={"#big", "#nope"}) == newest_first
    assert corpus.find("deploy secret", convs={"#big", "@alice:bob", "#secret"}) == ["deploy secret"]
    assert corpus.index._scope_filter({"#big", "@alice:bob", "#secret"}) == []  # every conversation: no filter
    assert corpus.hits("deploy", {"#big", "#nope"}, limit=2) == [("#big", m) for m in reversed(big)]  # pages
    # a conversation first seen after the scope was filtered by its complement
    corpus.add("deploy late", conv="#late")
    assert corpus.find("deploy", convs={"#big", "@alice:bob"})[0] == "deploy dm"
    assert corpus.find("deploy late", convs={"#big", "@alice:bob", "#secret"}) == []
    assert corpus.find("deploy late", convs={"#late"}) == ["deploy late"]


def test_blocked_senders_are_not_found(corpus: Corpus) -> None:
    corpus.add("deploy from alice", sender="alice")
    corpus.add("deploy from bob", sender="bob")
    corpus.add("deploy from carol", sender="carol")
    assert corpus.find("deploy", exclude_senders={"bob"}) == ["deploy from carol", "deploy from alice"]
    assert corpus.find("deploy", exclude_senders={"bob", "carol", "alice"}) == []
    assert corpus.find("deploy", exclude_senders={"bob"}, sender="bob") == []


def test_an_edit_is_found_by_its_new_text_only(corpus: Corpus) -> None:
    mid = corpus.add("deploy failed")
    corpus.add("deploy failed", mid=mid)  # the same again changes nothing
    assert corpus.find("failed") == ["deploy failed"]
    corpus.add("rollback done", mid=mid)
    assert corpus.find("failed") == []
    assert corpus.find("deploy") == []
    assert corpus.find("rollback") == ["rollback done"]
    assert corpus.index.num_messages == 1


def test_upserts_before_one_commit_keep_the_last(corpus: Corpus) -> None:
    for text in ("first deploy", "second deploy", "third deploy"):
        corpus.index.upsert([IndexedMessage("#ops", "5-0", "alice", 5, text)])
    corpus.index.commit()
    corpus.texts["#ops", "5-0"] = "third deploy"
    corpus.convs.add("#ops")
    assert corpus.find("deploy") == ["third deploy"]
    assert corpus.find("first") == []


def test_same_mid_in_two_conversations_are_two_messages(corpus: Corpus) -> None:
    corpus.add("deploy ops", conv="#ops", mid="7-0")
    corpus.add("deploy dev", conv="#dev", mid="7-0")
    corpus.add("rollback dev", conv="#dev", mid="7-0")
    assert corpus.find("deploy") == ["deploy ops"]
    assert corpus.find("rollback") == ["rollback dev"]


def test_delete(corpus: Corpus) -> None:
    one = corpus.add("deploy one")
    two = corpus.add("deploy two", conv="#dev")
    three = corpus.add("deploy three")
    corpus.index.delete("#ops", one)
    corpus.index.delete("#ops", two)  # wrong conversation: nothing
    corpus.index.delete("#ops", "1-0")  # unknown: nothing
    corpus.index.commit()
    assert corpus.find("deploy") == ["deploy three", "deploy two"]
    corpus.index.delete_many([("#dev", two), ("#ops", three)])
    corpus.index.commit()
    assert corpus.find("deploy") == []
    assert corpus.index.num_messages == 0


def test_changes_are_seen_after_commit(corpus: Corpus) -> None:
    corpus.add("deploy one")
    corpus.index.upsert([IndexedMessage("#ops", "9-0", "alice", 9, "deploy two")])
    corpus.texts["#ops", "9-0"] = "deploy two"
    corpus.index.delete("#ops", next(iter(corpus.texts))[1])
    assert corpus.index.pending == 2
    assert corpus.find("deploy") == ["deploy one"]
    corpus.index.commit()
    assert corpus.index.pending == 0
    assert corpus.find("deploy") == ["deploy two"]


def test_progress_is_set_with_a_commit(corpus: Corpus) -> None:
    assert corpus.index.progress() == {}
    corpus.index.commit({"#ops": "5-0", "@alice:bob": "6-1"})
    assert corpus.index.progress() == {"#ops": "5-0", "@alice:bob": "6-1"}
    corpus.index.commit({"#ops": "8-0"})
    assert corpus.index.progress() == {"#ops": "8-0", "@alice:bob": "6-1"}
    assert corpus.index.num_messages == 0


def test_a_single_string_is_not_a_set_of_conversations(corpus: Corpus) -> None:
    corpus.add("deploy", conv="#")
    with pytest.raises(TypeError):
        corpus.page("deploy", convs="#ops")  # would be the set {"#", "o", "p", "s"}
    with pytest.raises(TypeError):
        corpus.page("deploy", exclude_senders="bob")
