"""Fixed data for the snapshot tests: a fixed clock, UTC, and the events a
session would receive, fed through the chat screen's own event handler."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot

from chinwag.protocol.messages import Message, PresenceEvent, User
from chinwag.protocol.reconnect import ConnectionStateEvent
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.chat_messages import ServerEvents
from chinwag.tui.state import ChatState
from chinwag.tui.widgets.conversation import ConversationView

NOW = datetime(2026, 3, 3, 14, 30, tzinfo=UTC).timestamp()
ME = User("alice", "Alice Liddell")
PEOPLE = {"bob": "Bob Marley", "carol": "Carol Danvers", "dave": "Dave Grohl", "erin": "Erin Brockovich"}


def at(day: int, hour: int, minute: int) -> int:
    return int(datetime(2026, 3, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def message(n: int, conv: str, sender: str, text: str, ts: int) -> Message:
    return Message(f"{ts}-{n}", conv, sender, text, ts)


LOBBY = [
    message(0, "#lobby", "carol", "release 0.3 is tagged; notes are in the wiki", at(2, 17, 5)),
    message(1, "#lobby", "bob", "thanks carol!", at(2, 17, 9)),
    message(0, "#lobby", "dave", "morning all ☕", at(3, 9, 2)),
    message(1, "#lobby", "alice", "morning! deploy went fine overnight", at(3, 9, 4)),
    message(2, "#lobby", "erin", "/me brings croissants", at(3, 9, 15)),
    message(
        3,
        "#lobby",
        "bob",
        "[bold]not markup[/bold] shows as typed, even [link=https://example.org]links[/link]",
        at(3, 10, 41),
    ),
    message(
        4,
        "#lobby",
        "carol",
        "alice, could you look at the backup job? it paged twice overnight and the second page did not say which disk",
        at(3, 14, 2),
    ),
]
ELSEWHERE = [
    message(0, "@bob", "bob", "got a minute?", at(3, 14, 20)),
    message(1, "@bob", "bob", "the backup job again", at(3, 14, 21)),
    message(0, "@dave", "dave", "see you monday", at(1, 18, 0)),
    message(0, "#ops", "erin", "db-2 disk at 91%", at(3, 13, 0)),
    message(1, "#ops", "erin", "alice: can you take this one?", at(3, 13, 1)),
]


def snapshot_app(tmp_path: Path) -> ChinwagApp:
    return ChinwagApp(
        server="chat.example.org:7878",
        username="alice",
        config_path=tmp_path / "config.toml",
        clock=lambda: NOW,
        tz=UTC,
    )


async def open_demo_chat(
    pilot: Pilot, connection: ConnectionStateEvent | None = None, features: tuple[str, ...] = ()
) -> ChatScreen:
    """Switch the app to a chat screen fed with the demo events (no server)."""
    app = pilot.app
    state = ChatState(ME)
    state.features = frozenset(features)
    screen = ChatScreen(state, None, clock=app.clock, tz=app.tz)  # type: ignore[attr-defined]
    await app.switch_screen(screen)
    await pilot.pause()
    events: list = [PresenceEvent(User(name, display), name in ("bob", "carol")) for name, display in PEOPLE.items()]
    events += [*LOBBY, *ELSEWHERE, connection or ConnectionStateEvent("connected")]
    state.joined("ops", 4)
    screen.post_message(ServerEvents(events))
    await pilot.pause()
    for conv in state.conversations.values():
        conv.more = False  # no server to ask: the demo data is all there is
    lobby = state.conversations["#lobby"]
    lobby.marker = LOBBY[-1].mid  # as if the last line came while away
    lobby.version += 1
    screen.query_one(ConversationView).sync()
    screen.query_one(ConversationView).refresh_top()
    await pilot.pause()
    return screen


# What `messages` adds: a reply, an edit, a tombstone, reactions (some of them alice's).
LIVING_FEATURES = ("messages", "read")
LIVING = [
    Message(
        f"{at(3, 14, 10)}-0", "#lobby", "bob", "on it, looking at the disk now", at(3, 14, 10), reply_to=LOBBY[-1].mid
    ),
    Message(
        f"{at(3, 14, 12)}-0",
        "#lobby",
        "dave",
        "db-2 disk replaced, backups green again",
        at(3, 14, 12),
        edited=at(3, 14, 13),
        reactions={"👍": ("bob", "alice", "carol"), "🎉": ("erin",)},
    ),
    Message(f"{at(3, 14, 14)}-0", "#lobby", "erin", "", at(3, 14, 14), deleted=True),
    Message(
        f"{at(3, 14, 16)}-0",
        "#lobby",
        "alice",
        "thanks dave!",
        at(3, 14, 16),
        reply_to=f"{at(3, 14, 12)}-0",
        reactions={"❤️": ("dave",)},
    ),
]


async def open_living_chat(pilot: Pilot) -> ChatScreen:
    """The demo chat on a server with `messages` and `read`, its lobby
    ending with replies, an edit, a deleted message and reactions."""
    screen = await open_demo_chat(pilot, features=LIVING_FEATURES)
    screen.post_message(ServerEvents(list(LIVING)))
    await pilot.pause()
    screen.query_one(ConversationView).sync()
    await pilot.pause()
    return screen
