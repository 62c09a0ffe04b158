"""The ctrl+k quick switcher: a command palette provider over rooms and
people (and the invitations waiting: choosing one joins the room). Unread
conversations come first; typing a name nobody has talked to offers to
start that conversation (people are looked up on the server).
Textual's own commands ("change theme", "keys") follow, so one palette
serves both and its order is always the same.

Every prompt and help line is given to the palette as `Content`: a plain
`str` there is parsed as markup, and a display name is someone else's
string (see text.py)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.types import IgnoreReturnCallbackType

from ..protocol import limits
from ..protocol.address import ROOM_SIGIL, USER_SIGIL, Address
from ..protocol.errors import ConnectionClosed, ServerError
from ..protocol.messages import User
from .text import highlighted, literal_content

if TYPE_CHECKING:
    from .screens.chat import ChatScreen


def _label(address: str, unread: int = 0, online: bool | None = None) -> str:
    mark = "" if online is None else ("● " if online else "○ ")
    badge = f"  ({unread} unread)" if unread else ""
    return f"{mark}{address}{badge}"


def _help(text: str) -> str:
    """A help line for the palette. The palette's type says `str`, but it
    hands a `Content` through unparsed, which is the point."""
    return cast(str, literal_content(text))


class ConversationProvider(Provider):
    @property
    def chat(self) -> ChatScreen:
        # The app gives this provider only to palettes opened on the chat screen.
        return cast("ChatScreen", self.screen)

    def _known(self) -> list[tuple[Address, str, str]]:
        """(address, display text, help) for every conversation the client knows."""
        state = self.chat.state
        out: list[tuple[Address, str, str]] = []
        ranked = sorted(
            enumerate(state.sidebar()), key=lambda pair: (not (pair[1].unread or pair[1].mentions), pair[0])
        )
        for _, entry in ranked:
            if entry.address == state.current or entry.section == "invitations":
                continue  # invitations come below, as such
            helptext = "room" if entry.section == "rooms" else ("online" if entry.online else "offline")
            if entry.section == "people":
                person = state.people.get(entry.label)
                if person and person.display_name != person.username:
                    helptext = f"{person.display_name} · {helptext}"
            out.append((entry.address, _label(entry.address, entry.unread, entry.online), helptext))
        for room, by in sorted(state.invitations.items()):
            address = Address.room(room)
            out.append((address, f"✉ {address}", f"{by} invited you · enter joins"))
        for room, members in sorted(state.other_rooms.items()):
            if room in state.invitations:
                continue
            count = f"{members} member{'' if members == 1 else 's'}"
            address = Address.room(room)
            out.append((address, address, f"join this room · {count}"))
        for person in sorted(state.people.values(), key=lambda p: p.username):
            address = Address.user(person.username)
            if person.username != state.me.username and not (person.online or person.talked):
                out.append((address, _label(address, 0, False), "start a conversation"))
        return out

    def _system(self) -> list[tuple[str, str, IgnoreReturnCallbackType]]:
        """Textual's own commands (theme, keys, ...), after the conversations."""
        return [
            (name, help_text, callback)
            for name, help_text, callback, *_ in sorted(self.app.get_system_commands(self.screen), key=lambda c: c[0])
        ]

    async def discover(self) -> Hits:
        for address, text, helptext in self._known():
            yield DiscoveryHit(
                literal_content(text), partial(self.chat.switch_to, address), text=text, help=_help(helptext)
            )
        for name, help_text, callback in self._system():
            yield DiscoveryHit(name, callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        seen: set[str] = set()
        for address, text, helptext in self._known():
            score = matcher.match(text)
            if score > 0:
                seen.add(address)
                yield Hit(
                    score,
                    highlighted(matcher, text),
                    partial(self.chat.switch_to, address),
                    text=text,
                    help=_help(helptext),
                )
        for name, help_text, callback in self._system():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score * 0.9,
                    matcher.highlight(name),
                    callback,
                    text=name,
                    help=help_text,
                )
        bare = query.strip()
        if bare.startswith(ROOM_SIGIL):
            room = limits.normalize_room(bare.removeprefix(ROOM_SIGIL))
            if room and Address.room(room) not in seen:
                address = Address.room(room)
                yield Hit(
                    0.5,
                    literal_content(f"join {address}"),
                    partial(self.chat.switch_to, address),
                    text=f"join {address}",
                    help="join (or create) this room",
                )
            return
        username = limits.normalize_username(bare.lstrip(USER_SIGIL))
        if username is None:
            return
        for user in await self._lookup(username):
            address = Address.user(user.username)
            if address in seen or user.username == self.chat.state.me.username:
                continue
            seen.add(address)
            text = _label(address, 0, bool(user.online))
            yield Hit(
                matcher.match(text) or 0.4,
                highlighted(matcher, text),
                partial(self.chat.switch_to, address),
                text=text,
                help=_help(f"{user.display_name} · start a conversation"),
            )

    async def _lookup(self, prefix: str) -> list[User]:
        link = self.chat.link
        if link is None:
            return []
        try:
            return await link.users(prefix=prefix, limit=10)
        except (ServerError, ConnectionClosed):
            return []
