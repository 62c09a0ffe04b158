"""The chat screen: sidebar, conversation, composer, header and footer.

Server events arrive as `ServerEvents` messages (one per burst) from the pump
worker; every request runs in a worker and reports back with a message. The
screen updates `ChatState` and then tells each widget what to show. What
concerns the app goes up: `SessionEnded` as a message, and `alerts` (a
signal, so the window title and the bell follow the very batch that changed
them) for the app to ring and retitle the terminal.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import Footer, Input

from ...protocol import limits
from ...protocol.address import Address
from ...protocol.client import Sent
from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ...protocol.messages import (
    ByeEvent,
    ErrorEvent,
    MemberEvent,
    Message,
    PresenceEvent,
    TypingEvent,
    User,
)
from ...protocol.reconnect import ConnectionStateEvent, LinkEvent, ReconnectingClient
from ..commands import HELP, CommandError, parse_line
from ..state import LOBBY, ChatState, Conversation, NoticeLevel
from ..text import shown
from ..widgets.composer import Composer
from ..widgets.conversation import ConversationView
from ..widgets.header import ConversationHeader
from ..widgets.sidebar import Sidebar
from ..widgets.status import ConnectionStatus

PAGE = 100
BATCH_MAX = 512  # events in one ServerEvents message
PROBE_CONCURRENCY = 16
VIEW_FRAME_S = 0.05
FREEZE_EVERY = 2_000  # lines received between gc.freeze() calls


class ServerEvents(TextualMessage):
    """A burst of events from the server, in order."""

    def __init__(self, events: list[LinkEvent]) -> None:
        super().__init__()
        self.events = events


@dataclass(frozen=True, slots=True)
class Alerts:
    """What the window title and the bell show: unread direct messages plus
    mentions, and whether this batch brought one worth a bell."""

    count: int
    ring: bool


@dataclass
class HistoryLoaded(TextualMessage):
    address: str
    messages: list[Message]
    more: bool
    error: Exception | None = None


@dataclass
class SendDone(TextualMessage):
    address: str
    cmid: str
    sent: Sent | None
    error: BaseException | None


@dataclass
class DirectoryLoaded(TextualMessage):
    rooms: list[dict[str, Any]]
    online: list[User]
    users: list[User]


@dataclass
class TalkedTo(TextualMessage):
    usernames: list[str]


def _reason(error: BaseException) -> str:
    if isinstance(error, ServerError):
        return error.message
    if isinstance(error, ConnectionClosed):
        return "not connected; try again once the link is back"
    return str(error) or type(error).__name__


class ChatScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "step(1)", "next", priority=True),
        Binding("ctrl+p", "step(-1)", "prev", priority=True),
        Binding("alt+down", "step(1)", "next conversation", show=False, priority=True),
        Binding("alt+up", "step(-1)", "previous conversation", show=False, priority=True),
        Binding("alt+u", "next_unread", "unread", priority=True),
        Binding("escape", "focus_composer", "composer", show=False),
        Binding("pageup", "page(-1)", "scroll up", show=False, priority=True),
        Binding("pagedown", "page(1)", "scroll down", show=False, priority=True),
        Binding("ctrl+end", "latest", "latest", show=False),
    ]

    @dataclass
    class SessionEnded(TextualMessage):
        """The link closed for good (logged out, session expired): back to login."""

        reason: str

    def __init__(
        self, state: ChatState, link: ReconnectingClient | None, *, clock: Callable[[], float], tz: tzinfo | None = None
    ) -> None:
        super().__init__()
        self.state = state
        self.link = link
        self.clock = clock
        self.tz = tz
        self.alerts: Signal[Alerts] = Signal(self, "alerts")
        self._typing_sent: dict[str, float] = {}
        self._connected_once = False
        self._view_timer: Timer | None = None
        self._view_synced = 0.0
        self._unfrozen = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="pane"):
                yield ConversationHeader(id="header")
                yield ConversationView(
                    self.state.me.username, clock=self.clock, tz=self.tz, mention=self.state.mention_re, id="log"
                )
                yield Composer(id="composer")
        with Horizontal(id="statusbar"):
            yield Footer(compact=True)
            yield ConnectionStatus(self.clock, id="status")

    def on_mount(self) -> None:
        self.query_one(Composer).max_length = self.link.max_text if self.link else limits.DEFAULT_MAX_TEXT
        self.watch(self.app, "app_focus", self._window_focus)
        self.open(self.state.current)
        self.query_one(Composer).focus()
        self.set_interval(1.0, self._expire_typing)
        if self.link is not None:
            self._pump()
            self._load_directory()

    def _window_focus(self, focused: bool) -> None:
        self.state.window_focused = focused

    # --- the network -----------------------------------------------------------------------

    @work(group="pump", exclusive=True)
    async def _pump(self) -> None:
        """Turn the link's events into `ServerEvents` messages, one per burst."""
        link = self.link
        assert link is not None
        while True:
            try:
                batch = await link.next_batch(BATCH_MAX)
            except ConnectionClosed:
                return
            self.post_message(ServerEvents(batch))
            await asyncio.sleep(0)

    @work(group="directory", exclusive=True)
    async def _load_directory(self) -> None:
        link = self.link
        assert link is not None
        try:
            rooms, online, users = await asyncio.gather(link.rooms(), link.who(), link.users(limit=limits.USERS_MAX))
        except (ServerError, ConnectionClosed):
            return
        self.post_message(DirectoryLoaded(rooms, online, users))
        people = self.state.people
        try:
            # chinwag's `conversations` extension lists everyone talked to at once
            listing = await link.conversations()
        except ServerError as exc:
            if exc.code != "unknown_type":
                return
            listing = None
        except ConnectionClosed:
            return
        if listing is not None:
            found = [
                conv.name
                for conv, last in listing
                if not conv.is_room and last is not None and conv.name != self.state.me.username
            ]
            if found:
                self.post_message(TalkedTo(found))
            return
        # A server without the extension: ask history (limit 1) about everyone
        # else, a few at a time.
        candidates = [
            u.username
            for u in users
            if u.username != self.state.me.username and not (u.username in people and people[u.username].talked)
        ]
        gate = asyncio.Semaphore(PROBE_CONCURRENCY)

        async def probe(name: str) -> str | None:
            async with gate:
                try:
                    messages, _ = await link.history(Address.user(name), limit=1)
                except (ServerError, ConnectionClosed):
                    return None
                return name if messages else None

        found = [n for n in await asyncio.gather(*(probe(n) for n in candidates)) if n]
        if found:
            self.post_message(TalkedTo(found))

    @work(group="history")
    async def _fetch_history(self, address: str, before: str | None) -> None:
        link = self.link
        assert link is not None
        try:
            messages, more = await link.history(address, before, PAGE)
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(HistoryLoaded(address, [], True, exc))
            return
        self.post_message(HistoryLoaded(address, messages, more))

    def _want_history(self, conv: Conversation, older: bool) -> None:
        if self.link is None or conv.loading or conv.missing:
            return
        if older and not conv.more:
            return
        conv.loading = True
        self.query_one(ConversationView).refresh_top()
        self._fetch_history(conv.address, conv.oldest_mid if older else None)

    @work(group="requests")
    async def _request(self, what: str, target: str = "") -> None:
        """join / leave / who, reported as notices; the state is updated here,
        after the await, on the app's own loop."""
        link = self.link
        origin = self.state.current
        if link is None:
            self._notice(origin, "not connected", "error")
            return
        try:
            if what == "join":
                info = await link.join(target)
                self.state.joined(target, int(info.get("members", 0)))
                self.open(Address.room(target))
            elif what == "leave":
                await link.leave(target)
                self.state.left(target)
                self._notice(LOBBY, f"you left {Address.room(target)}", "event")
                self.open(self.state.current)
            elif what == "who":
                users = await link.who()
                names = ", ".join(u.username for u in users)
                self._notice(origin, f"online ({len(users)}): {names}", "info")
        except (ServerError, ConnectionClosed) as exc:
            self._notice(origin, _reason(exc), "error")

    # --- events ----------------------------------------------------------------------------

    def on_server_events(self, message: ServerEvents) -> None:
        state = self.state
        current = state.current
        view_dirty = sidebar_dirty = header_dirty = alert = False
        now = self.clock()
        for event in message.events:
            if type(event) is Message:
                known = event.conv in state.conversations
                was_typing = event.sender in state.typing.get(event.conv, ())
                arrival = state.receive(event)
                if not arrival.new:
                    continue
                if event.conv == current:
                    view_dirty = True
                    header_dirty = header_dirty or was_typing
                if arrival.counted or arrival.mention or not known:
                    sidebar_dirty = True
                alert = alert or arrival.alert
            elif type(event) is PresenceEvent:
                state.set_presence(event.user, event.online)
                sidebar_dirty = header_dirty = True
            elif type(event) is TypingEvent:
                state.set_typing(event.conv, event.sender, now)
                header_dirty = header_dirty or event.conv == current
            elif type(event) is MemberEvent:
                view_dirty = self._member(event) or view_dirty
                sidebar_dirty = header_dirty = True
            elif type(event) is ConnectionStateEvent:
                self._connection(event)
                sidebar_dirty = True
            elif type(event) is ErrorEvent:
                self.notify(shown(f"{event.code}: {event.message}"), severity="error", markup=False)
            elif type(event) is ByeEvent and event.reason not in ("shutdown", "logout"):
                self._notice(current, f"the server closed the link ({event.reason}); reconnecting", "event")
                view_dirty = True
        self._freeze_gc(len(message.events))
        if view_dirty:
            self._sync_view_soon()
        if sidebar_dirty:
            self._refresh_sidebar()
        if header_dirty:
            self._refresh_header()
        self.alerts.publish(Alerts(state.alerts(), alert))

    def _freeze_gc(self, lines: int) -> None:
        """Chat lines live long, and CPython's full collections scan every
        live object: with tens of thousands of lines one takes 50-150 ms,
        felt as a stutter while typing. Every few thousand new lines, move
        what exists to the permanent generation so later collections skip it."""
        self._unfrozen += lines
        if self._unfrozen >= FREEZE_EVERY:
            self._unfrozen = 0
            gc.freeze()

    def _sync_view_soon(self) -> None:
        """Show incoming lines at most every VIEW_FRAME_S: at once after a quiet
        spell, then in batches while a stream lasts, so a busy conversation
        costs a few redraws a second and typing stays quick."""
        if self._view_timer is not None:
            return
        wait = self._view_synced + VIEW_FRAME_S - time.monotonic()
        if wait <= 0:
            self._sync_view()
        else:
            self._view_timer = self.set_timer(wait, self._sync_view)

    def _sync_view(self) -> None:
        self._view_timer = None
        self._view_synced = time.monotonic()
        self.query_one(ConversationView).sync()

    def _member(self, event: MemberEvent) -> bool:
        state = self.state
        address = Address.room(event.room)
        if event.user.username == state.me.username:
            if event.joined:
                state.joined(event.room, state.rooms.get(event.room, 0))
            elif event.room in state.rooms:
                state.left(event.room)
                if self.query_one(ConversationView).conversation is not state.conversations.get(state.current):
                    self.open(state.current)
            return False
        if event.room in state.rooms:
            state.rooms[event.room] = max(0, state.rooms[event.room] + (1 if event.joined else -1))
        if address in state.conversations and event.room != limits.LOBBY:
            verb = "joined" if event.joined else "left"
            self._notice(address, f"{event.user.username} {verb} {address}", "event", sync=False)
            return address == state.current
        return False

    def _connection(self, event: ConnectionStateEvent) -> None:
        self.query_one(ConnectionStatus).state = event
        if event.state == "connected":
            self.state.catching_up = False
            if self._connected_once:
                self._load_directory()  # presence may have changed while away
                conv = self.state.conversations.get(self.state.current)
                if conv is not None and conv.more is None:
                    self._want_history(conv, older=False)
            self._connected_once = True
        elif event.state == "closed" and event.detail:
            self.post_message(self.SessionEnded(event.detail))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        conv = self.state.conversations.get(message.address)
        if conv is None:
            return
        conv.loading = False
        self._refresh_sidebar()
        if message.error is not None:
            error = message.error
            if isinstance(error, ServerError) and error.code in (
                ErrorCode.NO_SUCH_USER,
                ErrorCode.NO_SUCH_ROOM,
                ErrorCode.FORBIDDEN,
            ):
                conv.missing = error.message
                conv.version += 1
            elif isinstance(error, ServerError):
                self._notice(conv.address, f"could not load history: {error.message}", "error", sync=False)
        else:
            self._freeze_gc(conv.add_history(message.messages, message.more))
            if message.messages:
                self.state.talked_in(conv.address)
        if conv.address == self.state.current:
            view = self.query_one(ConversationView)
            view.sync()
            view.refresh_top()
            self._refresh_header()

    def on_send_done(self, message: SendDone) -> None:
        conv = self.state.conversations.get(message.address)
        if conv is None:
            return
        if message.sent is not None:
            conv.confirm(message.cmid, message.sent, self.state.me.username)
        else:
            conv.fail(message.cmid, _reason(message.error or Exception("failed")))
        if conv.address == self.state.current:
            self.query_one(ConversationView).sync()

    def on_directory_loaded(self, message: DirectoryLoaded) -> None:
        state = self.state
        state.set_rooms(message.rooms)
        for user in message.users:
            if user.username != state.me.username:
                state.person(user.username, user.display_name).online = bool(user.online)
        for user in message.online:
            state.set_presence(user, True)
        self._refresh_sidebar()
        self._refresh_header()

    def on_talked_to(self, message: TalkedTo) -> None:
        for name in message.usernames:
            self.state.person(name).talked = True
        self._refresh_sidebar()

    @on(ConversationView.NeedOlder)
    def _need_older(self, message: ConversationView.NeedOlder) -> None:
        conv = self.state.conversations.get(message.address)
        if conv is not None and conv.address == self.state.current:
            self._want_history(conv, older=True)

    @on(ConversationView.Away)
    def _away(self, message: ConversationView.Away) -> None:
        self.query_one(ConversationHeader).away = message.away
        self._refresh_header()

    @on(Sidebar.Selected)
    def _sidebar_selected(self, message: Sidebar.Selected) -> None:
        self.switch_to(message.address)
        self.action_focus_composer()

    # --- the composer ----------------------------------------------------------------------

    @on(Composer.Sent, "#composer")
    def _submitted(self, event: Composer.Sent) -> None:
        composer = event.composer
        line = event.line
        try:
            command = parse_line(line)
        except CommandError as exc:
            self._notice(self.state.current, str(exc), "error")
            composer.give_back(line)  # to be fixed
            return
        if command is None:
            return
        composer.remember(line)
        if command.name == "say":
            self.say(self.state.current, command.text)
        elif command.name == "msg":
            self.switch_to(Address.user(command.target))
            if command.text:
                self.say(Address.user(command.target), command.text)
        elif command.name == "join":
            self._request("join", command.target)
        elif command.name == "leave":
            current = Address.of(self.state.current)
            room = command.target or (current.name if current.is_room else "")
            if not room:
                self._notice(self.state.current, "this is not a room; usage: /leave ROOM", "error")
            else:
                self._request("leave", room)
        elif command.name == "who":
            self._request("who")
        elif command.name == "help":
            self._notice(self.state.current, HELP, "info")

    @on(Input.Changed, "#composer")
    def _typed(self, event: Input.Changed) -> None:
        if self.link is None or not event.value or event.value.startswith("/"):
            return
        address = self.state.current
        now = self.clock()
        if now - self._typing_sent.get(address, -1e9) >= limits.TYPING_INTERVAL_S:
            self._typing_sent[address] = now
            self.link.typing(address)

    def say(self, address: str, text: str) -> None:
        conv = self.state.conversation(address)
        if self.link is None:
            self._notice(address, "not connected", "error")
            return
        if len(text) > self.link.max_text:
            self._notice(address, f"that line has {len(text)} characters; the limit is {self.link.max_text}", "error")
            return
        cmid, future = self.link.send_nowait(address, text)
        conv.add_pending(cmid, text, int(self.clock() * 1000))
        self.state.talked_in(address)
        self._typing_sent.pop(address, None)

        def done(f: asyncio.Future[Sent]) -> None:
            if f.cancelled():
                self.post_message(SendDone(address, cmid, None, ConnectionClosed("cancelled")))
            elif f.exception() is not None:
                self.post_message(SendDone(address, cmid, None, f.exception()))
            else:
                self.post_message(SendDone(address, cmid, f.result(), None))

        future.add_done_callback(done)
        if address == self.state.current:
            self.query_one(ConversationView).sync()

    def _notice(self, address: str, text: str, level: NoticeLevel, sync: bool = True) -> None:
        conv = self.state.conversation(address)
        conv.add_notice(text, level, int(self.clock() * 1000))
        if sync and address == self.state.current:
            self.query_one(ConversationView).sync()

    # --- navigation ----------------------------------------------------------------------------

    def switch_to(self, address: str) -> None:
        """Open a conversation, joining the room first if needed."""
        target = Address.of(address)
        if target.is_room and target.name not in self.state.rooms:
            self._request("join", target.name)
            return
        self.open(target)

    def open(self, address: str) -> None:
        conv = self.state.open(address)
        self.query_one(ConversationView).show(conv)
        composer = self.query_one(Composer)
        composer.placeholder = f"Message {shown(address)}   (/help for commands)"
        self._refresh_header()
        self._refresh_sidebar()
        self.alerts.publish(Alerts(self.state.alerts(), False))
        if conv.more is None:
            self._want_history(conv, older=False)

    def _refresh_sidebar(self) -> None:
        self.query_one(Sidebar).update(self.state.sidebar(), self.state.current)

    def _refresh_header(self) -> None:
        state = self.state
        address = Address.of(state.current)
        if address == LOBBY:
            detail = f"everyone · {state.online_count()} online"
        elif address.is_room:
            members = state.rooms.get(address.name, 0)
            detail = f"{members} member{'s' if members != 1 else ''}" if members else ""
        else:
            person = state.people.get(address.name)
            conv = state.conversations.get(address)
            if conv is not None and conv.missing:
                detail = conv.missing
            elif person is None:
                detail = ""
            else:
                name = f"{person.display_name} · " if person.display_name != person.username else ""
                detail = name + ("online" if person.online else "offline")
        self.query_one(ConversationHeader).show(address, detail, state.typers(address, self.clock()))

    def _expire_typing(self) -> None:
        if self.state.typing.get(self.state.current):
            self._refresh_header()

    def action_step(self, delta: int) -> None:
        self.open(self.state.step(delta))

    def action_next_unread(self) -> None:
        address = self.state.next_unread()
        if address is None:
            self.notify("nothing unread", timeout=2)
        else:
            self.open(address)

    def action_focus_composer(self) -> None:
        self.query_one(Composer).focus()

    def action_page(self, direction: int) -> None:
        view = self.query_one(ConversationView)
        if direction < 0:
            view.scroll_page_up(animate=False)
        else:
            view.scroll_page_down(animate=False)

    def action_latest(self) -> None:
        self.query_one(ConversationView).scroll_end(animate=False)
