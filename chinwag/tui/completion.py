"""Tab completion in the composer, as pure data: the word at the cursor, the
candidates for it, and cycling through them with tab and shift+tab.

What a word completes to depends on how it starts: `/` at the start of the
line a command, `#` a room, `@` (or nothing) a nick. Nicks come in the order
the caller gives (the current room's members first, then recent speakers),
each once. A nick completed at the very start of the line gets IRC's ": "
(`ca` → `carol: `), elsewhere a space (`hi ca` → `hi carol `). Matching is
case-insensitive on the start of the name.

The widget keeps one `Completion` while the user presses tab; any other key
ends it (`None` again), so the next tab starts from what is typed then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..protocol.address import ROOM_SIGIL, USER_SIGIL, Address
from ..protocol.messages import Message

if TYPE_CHECKING:
    from .state import ChatState

SPEAKERS_LOOKBACK = 500  # lines of the conversation read back for recent speakers


@dataclass(frozen=True, slots=True)
class Sources:
    """What can be completed, best first within each kind."""

    nicks: Sequence[str] = ()
    rooms: Sequence[str] = ()
    commands: Sequence[str] = ()  # without the slash


@dataclass(frozen=True, slots=True)
class Completion:
    """One cycle: the line around the word, and the candidates for it."""

    before: str  # the line up to the word being completed
    after: str  # the line after the cursor
    candidates: tuple[str, ...]  # whole replacements, with sigil and suffix
    index: int

    @property
    def text(self) -> str:
        return self.before + self.candidates[self.index] + self.after

    @property
    def cursor(self) -> int:
        return len(self.before) + len(self.candidates[self.index])

    def step(self, back: bool = False) -> Completion:
        """The next candidate (the previous with `back`), round and round."""
        return replace(self, index=(self.index + (-1 if back else 1)) % len(self.candidates))


def _once(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)


def _matching(prefix: str, names: Iterable[str]) -> list[str]:
    folded = prefix.casefold()
    return [n for n in _once(names) if n.casefold().startswith(folded)]


def begin(line: str, cursor: int, sources: Sources, back: bool = False) -> Completion | None:
    """Start completing the word that ends at `cursor`; None if nothing
    matches (or there is no word), and the line stays as it is."""
    head, tail = line[:cursor], line[cursor:]
    start = max(head.rfind(" "), head.rfind("\n")) + 1
    word, before = head[start:], head[:start]
    if not word:
        return None
    at_start = not before.strip()
    if word.startswith("/") and at_start and not before:
        found = [f"/{c} " for c in _matching(word[1:], sources.commands)]
    elif word.startswith(ROOM_SIGIL):
        found = [f"{ROOM_SIGIL}{r} " for r in _matching(word[1:], sources.rooms)]
    else:
        sigil = USER_SIGIL if word.startswith(USER_SIGIL) else ""
        suffix = ": " if at_start and not sigil else " "
        found = [f"{sigil}{n}{suffix}" for n in _matching(word[len(sigil) :], sources.nicks)]
    if not found:
        return None
    if tail.startswith(" "):  # completing inside a line: the space is there already
        found = [f.rstrip(" ") for f in found]
    return Completion(before, tail, tuple(found), len(found) - 1 if back else 0)


def sources_of(state: ChatState, commands: Sequence[str]) -> Sources:
    """What tab offers in the conversation in view: the room's members
    first (by name), then whoever spoke here lately (newest first), then
    everyone else known; the rooms joined, then the others; and `commands`."""
    address = Address.of(state.current)
    me = state.me.username
    members: list[str] = []
    if address.is_room:
        detail = state.details.get(address.name)
        if detail is not None:
            members = sorted(detail.members)
    else:
        members = [address.name]
    conv = state.conversations.get(address)
    recent = conv.lines[-SPEAKERS_LOOKBACK:] if conv is not None else []
    speakers = [line.sender for line in reversed(recent) if type(line) is Message]
    nicks = [n for n in (*members, *speakers, *sorted(state.people)) if n != me]
    rooms = (*state.rooms, *sorted(state.other_rooms))
    return Sources(nicks=_once(nicks), rooms=rooms, commands=commands)
