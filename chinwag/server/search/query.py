"""The search query language, parsed once into clauses that every message
must satisfy (AND); pure, so the server can also test a message's current
text against it.

- A word of the query matches a word of the message that starts with it
  (`depl` finds `deploy`). Punctuation splits words as in messages:
  `example.com` is the two words `example` and `com`.
- Text between double quotes (`"`, or the curly `“ ”`) must occur as that
  sequence of words, each whole: `"deploy failed"` finds `Deploy, failed!`
  but not `deployed failed`, and `"depl"` finds only the word `depl`. A quote
  left open runs to the end of the query.
- A run of a script written without spaces (see `tokens`) matches any
  message containing it as a substring; a single character of such a script
  matches any message containing that character.
- Nothing is a metacharacter: `.*`, `(`, `[` are punctuation, never a pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...protocol.errors import RequestError
from ...protocol.limits import SEARCH_QUERY_MAX, SEARCH_QUERY_MIN
from .tokens import Piece, pieces, positioned, run_terms, tokenize

_QUOTE = re.compile('["\u201c\u201d]')


class QueryError(RequestError):
    """A query, limit or page the server answers with `bad_request`."""


@dataclass(frozen=True, slots=True)
class Prefix:
    """Some word of the message starts with `word`."""

    word: str


@dataclass(frozen=True, slots=True)
class Char:
    """The message has this character of a no-space script."""

    char: str


@dataclass(frozen=True, slots=True)
class Sequence:
    """The message has these terms at these positions relative to each other:
    a quoted phrase, or a no-space run of two or more characters (its bigrams)."""

    terms: tuple[tuple[int, str], ...]


Clause = Prefix | Char | Sequence


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    clauses: tuple[Clause, ...]  # never empty

    def matches(self, text: str) -> bool:
        """Whether `text` satisfies every clause: what the index answers for
        a message with this text, computed without it (so a hit whose text
        was edited after indexing can be checked against its current text)."""
        tokens = tokenize(text)
        terms = set(tokens.terms)
        words = tokens.words
        starts: dict[str, list[int]] = {}
        for position, term in tokens.terms:
            starts.setdefault(term, []).append(position)
        for clause in self.clauses:
            if isinstance(clause, Prefix):
                found = any(word.startswith(clause.word) for word in words)
            elif isinstance(clause, Char):
                found = clause.char in tokens.grams
            else:
                first_offset, first = clause.terms[0]
                found = any(
                    all((start - first_offset + offset, term) in terms for offset, term in clause.terms)
                    for start in starts.get(first, ())
                )
            if not found:
                return False
        return True


def parse_query(query: str) -> ParsedQuery:
    """The clauses of a user's query; QueryError if it is too long or short
    or has nothing to search for (only punctuation, symbols or spaces)."""
    if not SEARCH_QUERY_MIN <= len(query) <= SEARCH_QUERY_MAX:
        raise QueryError(f"a search query has {SEARCH_QUERY_MIN} to {SEARCH_QUERY_MAX} characters")
    clauses: list[Clause] = []
    for index, segment in enumerate(_QUOTE.split(query)):
        parts = pieces(segment)
        quoted = index % 2 == 1
        if quoted and len(parts) > 1:
            clauses.append(Sequence(tuple(positioned(parts))))
        elif quoted and parts and parts[0].kind == "word":
            clauses.append(Sequence(((0, parts[0].text),)))
        else:
            clauses.extend(_unquoted(piece) for piece in parts)
    if not clauses:
        raise QueryError("the search query has no words to search for")
    return ParsedQuery(_essential(clauses))


def _unquoted(piece: Piece) -> Clause:
    if piece.kind == "word":
        return Prefix(piece.text)
    if len(piece.text) == 1:
        return Char(piece.text)
    return Sequence(tuple(enumerate(run_terms(piece.text))))


def _essential(clauses: list[Clause]) -> tuple[Clause, ...]:
    """The clauses without repeats and without those another one implies (a
    prefix of a longer query word, or of a word in a phrase; a character of
    a run): the same matches for less work, whatever a hostile query repeats."""
    unique = list(dict.fromkeys(clauses))
    words = [c.word for c in unique if isinstance(c, Prefix)]
    sequence_terms = {term for c in unique if isinstance(c, Sequence) for _, term in c.terms}

    def implied(clause: Clause) -> bool:
        if isinstance(clause, Prefix):
            longer = (w for w in words if w != clause.word)
            return any(w.startswith(clause.word) for w in (*longer, *sequence_terms))
        if isinstance(clause, Char):
            return any(clause.char in term for term in sequence_terms)
        return False

    return tuple(c for c in unique if not implied(c))
