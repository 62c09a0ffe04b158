"""The one tokenizer: normalization and the split into words and runs."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag.server.search.tokens import (
    GAP,
    MAX_WORD,
    PREFIX_GRAMS,
    Tokens,
    grams,
    index_fields,
    normalize,
    pieces,
    positioned,
    tokenize,
)


def terms(text: str) -> list[str]:
    return [term for _, term in tokenize(text).terms]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DePloY", "deploy"),
        ("Straße", "strasse"),  # case folding, not lower()
        ("café CRÈME naïve", "cafe creme naive"),  # Latin accents fold
        ("Ελλάδα", "ελλαδα"),  # Greek tonos folds
        ("İstanbul", "istanbul"),
        ("\uff21\uff22\uff23\uff11\uff12\uff13", "abc123"),  # full-width forms
        ("ﬁle", "file"),  # ligature
        ("ёж", "еж"),  # Cyrillic diaeresis folds: ё is found without it
        ("мой", "мой"),  # but й keeps its breve: not и
        ("a\u00adb\u200bc\u200dd", "abcd"),  # soft hyphen, zero-width space and joiner vanish
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_kana_voicing_survives_normalization() -> None:
    assert normalize("ｶﾞｷﾞ") == "ガギ"  # half-width to full-width, the voicing mark recomposed
    assert normalize("が") != normalize("か")


def test_words_split_at_punctuation_and_underscore() -> None:
    assert terms("my_var=foo.bar, (don't) v1.2") == ["my", "var", "foo", "bar", "don", "t", "v1", "2"]


def test_combining_marks_stay_inside_words() -> None:
    assert terms("हिंदी नमस्ते") == ["हिंदी", "नमस्ते"]  # vowel signs and virama are marks, not separators


def test_runs_become_bigrams_in_text_order_with_words() -> None:
    assert tokenize("部署失败了 deploy失败").terms == (
        (0, "部署"),
        (1, "署失"),
        (2, "失败"),
        (3, "败了"),
        (4, "deploy"),
        (5, "失败"),
    )


def test_a_one_character_run_is_itself() -> None:
    assert terms("ok 了 fine") == ["ok", "了", "fine"]


def test_two_runs_in_a_row_are_a_position_apart() -> None:
    tokens = tokenize("你好\uff0c世界")
    assert tokens.terms == ((0, "你好"), (2, "世界"))
    assert tokens.spaced_terms() == f"你好 {GAP} 世界"


@pytest.mark.parametrize("text", ["東京タワー", "회의실", "สวัสดี", "ひらがなカタカナ"])
def test_no_space_scripts_are_runs(text: str) -> None:
    assert terms(text) == [text[i : i + 2] for i in range(len(text) - 1)]


def test_grams_hold_short_prefixes_and_run_characters() -> None:
    assert tokenize("Deploy 部署 a").grams == {"d", "de", "dep", "部", "署", "a"}
    assert max(len(g) for g in tokenize("abcdefghij").grams) == PREFIX_GRAMS


def test_long_words_are_cut() -> None:
    assert terms("x" * 1000) == ["x" * MAX_WORD]


def test_symbols_emoji_and_controls_are_no_terms() -> None:
    assert tokenize("🎉 !!! \x00\x1b[31m ... ✓").terms == ((0, "31m"),)
    assert tokenize("🎉🎉 --- ***").terms == ()


def test_variation_selectors_do_not_split_a_run() -> None:
    assert terms("葛\U000e0100城") == ["葛城"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=120))
def test_the_ascii_path_gives_the_general_paths_tokens(text: str) -> None:
    parts = pieces(text)
    assert tokenize(text) == Tokens(tuple(positioned(parts)), frozenset(grams(parts)))
    assert tokenize(text).spaced_terms() == " ".join(term for _, term in positioned(parts))


@pytest.mark.parametrize("text", ["a_b-c.d", "MIXED case 42x", "x" * (MAX_WORD + 5), "", "  ", "\x00\x1f\x7f"])
def test_the_ascii_path_on_edges(text: str) -> None:
    parts = pieces(text)
    assert tokenize(text) == Tokens(tuple(positioned(parts)), frozenset(grams(parts)))


def test_index_fields_are_the_tokens_spaced() -> None:
    """The index's fast way to its two fields gives what `tokenize` does."""
    rng = random.Random(4)
    alphabet = string.ascii_letters + string.digits + " .,_-!'\t\n" + "éß長"
    texts = [
        "",
        "...!",
        "Deploy FAILED on prod-2, again_and again",
        "a b c ab abc abcd",
        "x" * MAX_WORD + " " + "y" * (MAX_WORD + 1) + " Z" * 3,
        "short " + "q" * (MAX_WORD + 5),
        "Café 今天部署 ok",
    ]
    texts += ["".join(rng.choices(alphabet, k=rng.randrange(1, 120))) for _ in range(500)]
    texts += ["".join(rng.choices(string.ascii_letters + " ", k=rng.randrange(60, 200))) for _ in range(200)]
    for text in texts:
        tokens = tokenize(text)
        terms, grams = index_fields(text)
        assert terms == tokens.spaced_terms(), text
        assert sorted(grams.split()) == sorted(tokens.grams), text


def test_words_are_the_terms_outside_the_no_space_scripts() -> None:
    """What a prefix can match (`ParsedQuery.matches` asks it of every hit):
    Thai, the lowest no-space range, gives run terms; Tibetan above it and
    Latin below it give words."""
    tokens = tokenize("ไทย ab ཀཁ 部署")
    assert tokens.words == frozenset({"ab", "ཀཁ"})
    assert {term for _, term in tokens.terms} == {"ไท", "ทย", "ab", "ཀཁ", "部署"}
