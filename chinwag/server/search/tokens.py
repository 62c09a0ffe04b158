"""How text becomes search terms: the one tokenizer, shared by the index and
the query, so that a message and a query that says the same thing always
produce the same terms.

Normalization, in this order:
- Unicode compatibility forms (NFKD): full-width Latin letters are ASCII,
  half-width katakana is full-width, the ligature `ﬁ` is `fi`.
- Case folding (`str.casefold`, not `lower`): `Straße` matches `STRASSE`.
- Accents (the combining diacritics, U+0300-U+036F) are folded: `cafe`
  finds `café` and the other way round, as people type without them and
  most search engines fold them. Cyrillic keeps its marks except the
  diaeresis, so `й` stays apart from `и` (different letters) while `ё` is
  found as the plain Cyrillic e (it is commonly written so). Marks of other
  scripts (Devanagari vowel signs, Thai tone marks, kana voicing) are part
  of their letters and stay.
- Invisible characters are dropped: format characters (zero-width joiners,
  the Persian ZWNJ, soft hyphens, bidi marks) and variation selectors, so
  `ab\u00adc` is the word `abc` and a query typed without them still finds it.

Then the text splits into pieces:
- a *word*: a run of letters, digits and combining marks of a script
  written with spaces; it is matched by prefix. `_` and every punctuation
  mark separate words (`my_var` is `my`, `var`), and a word is cut to
  `MAX_WORD` characters.
- a *run*: a run of characters of a script written without spaces (Han,
  kana, Hangul, Thai, Lao, Khmer, Myanmar); it is matched by substring.
  Hangul is written with spaces, but its words carry their particles and
  endings attached, so substrings serve Korean better than prefixes.

Terms, in text order, with positions (for phrases): each word, and each
run's overlapping two-character bigrams (a one-character run is itself).
Between two runs with no word between them the position skips one, so a
phrase can never match across a boundary the text has (`ab`, `bc` in two
runs is not `abc`). Grams (no positions, for the short queries that would
otherwise expand to too many terms): every prefix of up to `PREFIX_GRAMS`
characters of each word, and every single character of each run.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

MAX_WORD = 64  # characters kept of a word, in the index and in a query alike
PREFIX_GRAMS = 3  # a query word this short is one gram term, not a prefix expansion
GAP = "|"  # the filler term at a skipped position; never a word or a run

# Scripts written without spaces between words: found by any substring.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals
    (0x3005, 0x3007),  # iteration mark, closing mark, ideographic zero
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x3038, 0x303C),
    (0x3040, 0x30FF),  # Hiragana, Katakana (with ー)
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x1AFF0, 0x1B16F),  # Kana extended and supplement
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)

_CYRILLIC = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
_DIAERESIS = "\u0308"
_DIACRITICS = re.compile("([^\u0300-\u036f])([\u0300-\u036f]+)")


def _fold_marks(found: re.Match[str]) -> str:
    base, marks = found.group(1), found.group(2)
    if _CYRILLIC.match(base):
        return base + marks.replace(_DIAERESIS, "")
    return base


def normalize(text: str) -> str:
    """The form both sides compare: compatibility-decomposed, case-folded,
    accents folded and invisible characters dropped as the module says,
    recomposed."""
    visible = _tables().invisible.sub("", text)
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", visible).casefold())
    return unicodedata.normalize("NFC", _DIACRITICS.sub(_fold_marks, folded))


def _class(ranges: list[tuple[int, int]]) -> str:
    return "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" if a != b else re.escape(chr(a)) for a, b in ranges)


def _ranges(codes: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for code in codes:
        if out and out[-1][1] == code - 1:
            out[-1] = (out[-1][0], code)
        else:
            out.append((code, code))
    return out


@dataclass(frozen=True, slots=True)
class _Tables:
    pieces: re.Pattern[str]
    invisible: re.Pattern[str]


@functools.cache
def _tables() -> _Tables:
    """The patterns that need the Unicode database's categories (`re` has no
    `\\p{M}`), built once, on first use.

    A piece is a run of no-space characters, or a word: letters and digits
    (`\\w` less `_`) and combining marks (which `\\w` lacks), outside the
    no-space scripts."""
    selectors = (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))  # variation selectors (marks, but invisible)
    marks: list[int] = []
    invisible = list(selectors)
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category == "Cf":
            invisible.append(code)
        elif category[0] == "M" and code not in selectors and not _in_ranges(_NO_SPACE_RANGES, code):
            marks.append(code)
    no_space = _class(list(_NO_SPACE_RANGES))
    word = rf"(?:[^\W_{no_space}]|[{_class(_ranges(marks))}])+"
    return _Tables(
        pieces=re.compile(rf"(?P<run>[{no_space}]+)|(?P<word>{word})"),
        invisible=re.compile(f"[{_class(_ranges(sorted(invisible)))}]"),
    )


def _in_ranges(ranges: tuple[tuple[int, int], ...], code: int) -> bool:
    return any(a <= code <= b for a, b in ranges)


@dataclass(frozen=True, slots=True)
class Piece:
    kind: Literal["word", "run"]
    text: str  # normalized; a word already cut to MAX_WORD


def pieces(text: str) -> list[Piece]:
    """The words and runs of `text`, normalized, in order."""
    out: list[Piece] = []
    for found in _tables().pieces.finditer(normalize(text)):
        run = found.group("run")
        if run is not None:
            out.append(Piece("run", run))
        else:
            out.append(Piece("word", found.group("word")[:MAX_WORD]))
    return out


def run_terms(run: str) -> list[str]:
    """A run's terms: its bigrams, or the run itself when it is one character."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def positioned(parts: list[Piece]) -> Iterator[tuple[int, str]]:
    """(position, term) for the positional field, with the gap rule above."""
    position = 0
    after_run = False
    for piece in parts:
        if piece.kind == "word":
            yield position, piece.text
            position += 1
            after_run = False
            continue
        if after_run:
            position += 1
        for term in run_terms(piece.text):
            yield position, term
            position += 1
        after_run = True


def grams(parts: list[Piece]) -> set[str]:
    """Word prefixes up to PREFIX_GRAMS characters and single run characters."""
    out: set[str] = set()
    for piece in parts:
        if piece.kind == "word":
            out.update(piece.text[:n] for n in range(1, min(PREFIX_GRAMS, len(piece.text)) + 1))
        else:
            out.update(piece.text)
    return out


@dataclass(frozen=True, slots=True)
class Tokens:
    """What the index holds of a text: never the text itself."""

    terms: tuple[tuple[int, str], ...]  # (position, term), positions increasing
    grams: frozenset[str]

    @property
    def words(self) -> frozenset[str]:
        """The word terms (not run terms): what a prefix can match."""
        return frozenset(term for _, term in self.terms if _is_word_term(term))

    def spaced_terms(self) -> str:
        """The terms as one space-separated string, GAP at skipped positions:
        what the index's whitespace analyzer turns back into these positions."""
        terms = self.terms
        if not terms or terms[-1][0] == len(terms) - 1:  # no gaps (increasing positions from 0)
            return " ".join([term for _, term in terms])
        out: list[str] = []
        for position, term in self.terms:
            out.extend(GAP for _ in range(position - len(out)))
            out.append(term)
        return " ".join(out)

    def spaced_grams(self) -> str:
        return " ".join(sorted(self.grams))


_NO_SPACE_FIRST = min(a for a, _ in _NO_SPACE_RANGES)  # below it, no character is of a no-space script


def _is_word_term(term: str) -> bool:
    code = ord(term[0])
    return code < _NO_SPACE_FIRST or not _in_ranges(_NO_SPACE_RANGES, code)


_ASCII_WORD = re.compile("[a-z0-9]+")
_PREFIX_LENGTHS = tuple(range(1, PREFIX_GRAMS + 1))


def tokenize(text: str) -> Tokens:
    if text.isascii():
        return _tokenize_ascii(text)
    parts = pieces(text)
    return Tokens(tuple(positioned(parts)), frozenset(grams(parts)))


def _tokenize_ascii(text: str) -> Tokens:
    """The same tokens for ASCII text in a quarter of the time (most messages
    are ASCII, and the server tokenizes every one it indexes): ASCII has no
    invisible or combining characters and no no-space script, its NFKD and
    NFC forms are itself, its case folding is `lower`, and its word
    characters (`\\w` less `_`) are the letters and digits."""
    words = [word[:MAX_WORD] for word in _ASCII_WORD.findall(text.lower())]
    prefixes = {word[:n] for word in words for n in _PREFIX_LENGTHS[: len(word)]}
    return Tokens(tuple(enumerate(words)), frozenset(prefixes))


def index_fields(text: str) -> tuple[str, str]:
    """The index's two fields for `text`: `tokenize(text)`'s spaced terms
    and spaced grams (the grams in no particular order: that field has no
    positions). For ASCII without making the Tokens, which the index does
    not need: 7.1 µs a ten-word message instead of 9.0."""
    if not text.isascii():
        tokens = tokenize(text)
        return tokens.spaced_terms(), tokens.spaced_grams()
    words = _ASCII_WORD.findall(text.lower())
    if len(text) > MAX_WORD and max(map(len, words), default=0) > MAX_WORD:
        words = [word[:MAX_WORD] for word in words]
    grams = {word[:PREFIX_GRAMS] for word in words}
    for n in range(PREFIX_GRAMS - 1, 0, -1):
        grams.update([gram[:n] for gram in grams])
    return " ".join(words), " ".join(grams)
