"""What chinwag-admin prints: aligned tables and `key: value` records for
people, JSON (`--json`) for scripts. Every value that came from a user (a
display name, a client name) may hold terminal control sequences; the human
forms escape them, JSON escapes everything outside ASCII."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO


def printable(text: str) -> str:
    """`text` with every non-printable character (controls, bidi overrides,
    line breaks) shown as an escape, so a hostile name cannot drive the terminal."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def when(ms: int | None) -> str:
    """A timestamp (ms) as a UTC time a person reads."""
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return printable(str(value))


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: the row's key, its heading, how a person sees its value."""

    key: str
    heading: str
    show: Callable[[Any], str] = plain


class Output:
    """Where a command's result goes; `json` is the --json flag."""

    def __init__(self, json_mode: bool, stream: TextIO | None = None) -> None:
        self.json = json_mode
        self.stream = stream or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.stream)

    def _json(self, data: Any) -> None:
        self._print(json.dumps(data, indent=2, sort_keys=False))

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], empty: str = "(none)") -> None:
        """Rows as a table (JSON: the list of rows, every key of each)."""
        if self.json:
            self._json([dict(r) for r in rows])
            return
        if not rows:
            self._print(empty)
            return
        cells = [[c.show(r.get(c.key)) for c in columns] for r in rows]
        widths = [max(len(c.heading), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

        def line(parts: Sequence[str]) -> str:
            return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

        self._print(line([c.heading for c in columns]))
        for row in cells:
            self._print(line(row))

    def record(self, data: Mapping[str, Any], columns: Sequence[Column]) -> None:
        """One object as `heading: value` lines (JSON: the object)."""
        if self.json:
            self._json(dict(data))
            return
        width = max(len(c.heading) for c in columns) + 1
        for c in columns:
            self._print(f"{(c.heading + ':').ljust(width)} {c.show(data.get(c.key))}")

    def done(self, text: str, data: Mapping[str, Any]) -> None:
        """The result of an action: a sentence for a person, `data` for a script."""
        if self.json:
            self._json(dict(data))
        else:
            self._print("\n".join(printable(line) for line in text.split("\n")))
