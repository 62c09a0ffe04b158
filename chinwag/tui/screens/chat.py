"""The chat screen: sidebar, conversation, composer, header and footer.

Server events arrive as `ServerEvents` messages (one per burst) from the pump
worker; every request runs in a worker and reports back with a message. The
screen updates `ChatState` and then tells each widget what to show. What
concerns the app goes up: `SessionEnded` and `CopyWanted` as messages, and
`alerts` (a signal, so the window title and the bell follow the very batch
that changed them) for the app to ring and retitle the terminal.

With `messages`, a selected message can be replied to, edited, deleted or
reacted to (the view asks, this screen does it); with `read`, what has been
on screen while the terminal had focus moves the read marker, sent to the
server a moment later so that scrolling sends one `read`, not fifty.

What rooms and people add (their events and commands, the member panel,
invitations, the account screen) is in chat_rooms.py, the class this one grows.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import Footer, TextArea

from ...protocol import limits
from ...protocol.address import Address
from ...protocol.client import Sent
from ...protocol.errors import ConnectionClosed, ErrorCode, ServerError
from ...protocol.messages import (
    ByeEvent,
    DeletedEvent,
    EditedEvent,
    ErrorEvent,
    InvitedEvent,
    MemberEvent,
    Message,
    NotifySettings,
    PresenceEvent,
    ReactionEvent,
    ReadEvent,
    Room,
    RoomEvent,
    TypingEvent,
)
from ...protocol.reconnect import FINAL_BYES, ConnectionStateEvent, ReconnectingClient
from .. import history
from ..commands import COMMANDS, HELP, Command, CommandError, parse_line
from ..completion import sources_of
from ..editor import EditorFailed, edit_text, editor_command
from ..links import first_link
from ..room_commands import SERVER_COMMANDS
from ..state import LOBBY, MODERATORS, CatchUp, ChatState, Conversation, NoticeLevel
from ..text import literal_content, shown
from ..timeline import Gap, is_action, mid_key
from ..widgets.composer import Composer
from ..widgets.conversation import ConversationView
from ..widgets.draft import DraftLine
from ..widgets.header import ConversationHeader, RoomLine
from ..widgets.members import MemberList
from ..widgets.rows import quote_text
from ..widgets.sidebar import Sidebar
from ..widgets.status import ConnectionStatus
from .chat_messages import (
    Alerts,
    CaughtUp,
    ChangeDone,
    DirectoryLoaded,
    Draft,
    HistoryLoaded,
    SendDone,
    ServerEvents,
    TalkedTo,
    reason,
)
from .chat_rooms import RoomsAndPeople
from .confirm import ConfirmScreen
from .react import ReactScreen
from .search import SearchScreen

BATCH_MAX = 512  # events in one ServerEvents message
READ_DELAY_S = 0.3  # a read marker goes to the server this long after it last moved
PROBE_CONCURRENCY = 16
VIEW_FRAME_S = 0.05
WIDE_FOOTER = 120  # columns from which the footer has room for both the newline hint and the retry key
FREEZE_EVERY = 2_000  # lines received between gc.freeze() calls


class ChatScreen(RoomsAndPeople):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "step(1)", "next", priority=True),
        Binding("ctrl+p", "step(-1)", "prev", priority=True),
        Binding("alt+down", "step(1)", "next conversation", show=False, priority=True),
        Binding("alt+up", "step(-1)", "previous conversation", show=False, priority=True),
        Binding("alt+u", "next_unread", "unread", priority=True),
        Binding("ctrl+g", "toggle_members", "members", priority=True, tooltip="Who is in this room"),
        Binding("alt+k", "select_message", "select a message", show=False, priority=True),
        Binding("ctrl+f", "search", "search", show=False, priority=True),
        Binding("escape", "focus_composer", "composer", show=False),
        Binding("pageup", "page(-1)", "scroll up", show=False, priority=True),
        Binding("pagedown", "page(1)", "scroll down", show=False, priority=True),
        Binding("ctrl+end", "latest", "latest", show=False),
        # shown in the footer only while waiting to reconnect (check_action)
        Binding("ctrl+r", "retry", "retry now", priority=True),
    ]

    @dataclass
    class SessionEnded(TextualMessage):
        """The link closed for good (logged out, session expired): back to login."""

        reason: str

    @dataclass
    class CopyWanted(TextualMessage):
        """Put `text` on the clipboard (the app owns the terminal)."""

        text: str

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
        self._draft: Draft | None = None
        self._jump_wanted: tuple[Address, str] | None = None  # waits for the first page of its conversation
        self._reads: dict[Address, str] = {}  # read markers moved and not sent yet
        self._read_timer: Timer | None = None
        self.members_shown = False
        self._room_info_asked: set[str] = set()  # room_info requests on the way
        self.open_url: Callable[[str], bool] = webbrowser.open  # what `o` ends in (tests see the URL)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="pane"):
                yield ConversationHeader(id="header")
                yield ConversationView(
                    self.state.me.username, clock=self.clock, tz=self.tz, mention=self.state.mention_re, id="log"
                )
                yield DraftLine(id="draft")
                yield Composer(id="composer")
            yield MemberList(id="members")
        with Horizontal(id="statusbar"):
            yield Footer(compact=True)
            yield ConnectionStatus(self.clock, id="status")

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """What the footer shows (Textual asks this for display only): while
        a message is selected, the keys for it, and room for them; the
        others (ctrl+n, ctrl+q...) still work."""
        bindings = super().active_bindings
        view = self.query(ConversationView)
        if view and self.focused is view.first() and view.first().selected is not None:
            keep = self.app.COMMAND_PALETTE_BINDING
            return {k: b for k, b in bindings.items() if b.node is view.first() or k == keep}
        if "ctrl+r" in bindings and bindings["ctrl+r"].enabled and self.app.size.width < WIDE_FOOTER:
            bindings.pop("alt+enter", None)  # while reconnecting, the retry key takes the newline hint's room
        return bindings

    def on_mount(self) -> None:
        composer = self.query_one(Composer)
        composer.max_text = self.link.max_text if self.link else limits.DEFAULT_MAX_TEXT
        composer.sources = lambda: sources_of(self.state, COMMANDS)
        view = self.query_one(ConversationView)
        view.changes = self.state.changes
        view.may_edit = self.state.may_edit
        view.may_delete = self.state.may_delete
        self.watch(self.app, "app_focus", self._window_focus)
        self.open(self.state.current)
        self.query_one(Composer).focus()
        self.set_interval(1.0, self._expire_typing)
        if self.link is not None:
            self._show_restored()
            self._pump()
            self._load_directory()
            self._load_notify_settings()

    def on_screen_resume(self) -> None:
        """Back from the search panel or a dialog: what is on screen is seen again."""
        self._check_read()

    def _window_focus(self, focused: bool) -> None:
        self.state.window_focused = focused
        if focused:
            self._check_read()

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

    @work(group="notify", exclusive=True)
    async def _load_notify_settings(self) -> None:
        """`notify`: the levels and keywords the user set (on any device);
        without the extension, the defaults stay (direct: all, rooms: mentions)."""
        link = self.link
        if link is None or limits.FEATURE_NOTIFY not in link.features:
            return
        try:
            self.state.notify_settings = await link.notify_settings()
        except (ServerError, ConnectionClosed):
            return

    @work(group="directory", exclusive=True)
    async def _load_directory(self) -> None:
        link = self.link
        assert link is not None
        try:
            rooms, online, users = await asyncio.gather(link.rooms(), link.who(), link.users(limit=limits.USERS_MAX))
        except (ServerError, ConnectionClosed):
            return
        blocked: list[str] | None = None
        if limits.FEATURE_PEOPLE in link.features:
            try:
                blocked = await link.blocks()
            except (ServerError, ConnectionClosed):
                blocked = None
        self.post_message(DirectoryLoaded([Room.from_wire(r) for r in rooms], online, users, blocked))
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
        assert self.link is not None
        try:
            found = await history.page(self.link, address, before)
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(HistoryLoaded(address, [], True, exc, before))
            return
        self.post_message(HistoryLoaded(address, found.messages, found.more, before=before))

    @work(group="history")
    async def _catch_up(self, plan: CatchUp) -> None:
        """The backlog of the conversation opened that its replay left out."""
        assert self.link is not None
        try:
            found = await history.backlog(
                self.link, plan.address, plan.before, plan.held, plan.target, self.state.me.username
            )
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(CaughtUp(plan, [], exc))
            return
        self.post_message(CaughtUp(plan, found))

    def _want_catch_up(self, address: str) -> None:
        """Only the conversation in view is caught up; the others keep the
        badge the reply's count gave them until they are opened."""
        if self.link is None:
            return
        plan = self.state.catch_up_for(address)
        if plan is not None:
            self._catch_up(plan)

    @work(group="history")
    async def _fetch_around(self, address: str, mid: str) -> None:
        """The page that ends with `mid`; the gap after it fills next, as it is on screen."""
        assert self.link is not None
        try:
            found = await history.around(self.link, address, mid)
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(HistoryLoaded(address, [], True, exc, jump=mid))
            return
        self.post_message(HistoryLoaded(address, found.messages, found.more, before=found.before, jump=mid))

    @work(group="history")
    async def _fill_gap(self, address: str, gap: Gap, downward: bool) -> None:
        conv = self.state.conversations.get(address)
        assert self.link is not None
        if conv is None:
            return
        try:
            found = await history.into_gap(self.link, conv, gap, downward)
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(HistoryLoaded(address, [], True, exc, gap.hi_mid, gap.hi, downward))
            return
        self.post_message(HistoryLoaded(address, found.messages, found.more, None, found.before, gap.hi, downward))

    @work(group="changes")
    async def _change(self, what: str, message: Message, emoji: str = "", on: bool = True, text: str = "") -> None:
        """Edit, delete or react; the change is applied here at once when
        the server accepts it (its event, which also comes, changes nothing more)."""
        link = self.link
        address = message.conv
        if link is None:
            self.post_message(ChangeDone(address, what, None, ConnectionClosed("not connected")))
            return
        change: EditedEvent | DeletedEvent | ReactionEvent
        try:
            if what == "edit":
                at = await link.edit(address, message.mid, text)
                change = EditedEvent(address, message.mid, text, at, "")
            elif what == "delete":
                await link.delete(address, message.mid)
                change = DeletedEvent(address, message.mid, self.state.me.username, "")
            else:
                await link.react(address, message.mid, emoji, on)
                change = ReactionEvent(address, message.mid, emoji, self.state.me.username, on, "")
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(ChangeDone(address, what, None, exc))
            return
        self.post_message(ChangeDone(address, what, change, None))

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
                room = Room.from_wire(await link.join(target))
                self.state.joined(target, room.members)
                self.state.set_room(room)
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
            self._notice(origin, reason(exc), "error")

    # --- events ----------------------------------------------------------------------------

    def on_server_events(self, message: ServerEvents) -> None:
        state = self.state
        current = state.current
        view_dirty = sidebar_dirty = header_dirty = members_dirty = False
        notes: list[Message] = []
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
                if arrival.notify:
                    notes.append(event)
            elif type(event) in (EditedEvent, DeletedEvent, ReactionEvent):
                assert isinstance(event, (EditedEvent, DeletedEvent, ReactionEvent))
                state.apply_change(event)
                view_dirty = view_dirty or event.conv == current
                self._drop_draft_of(event)
            elif type(event) is NotifySettings:
                assert isinstance(event, NotifySettings)
                state.notify_settings = event  # changed on another device
            elif type(event) is ReadEvent:
                assert isinstance(event, ReadEvent)
                sidebar_dirty = state.mark_read(event.conv, event.upto) or sidebar_dirty
            elif type(event) is PresenceEvent:
                state.set_presence(event.user, event.online)
                sidebar_dirty = header_dirty = members_dirty = True
            elif type(event) is TypingEvent:
                state.set_typing(event.conv, event.sender, now)
                header_dirty = header_dirty or event.conv == current
            elif type(event) is MemberEvent:
                view_dirty = self._member(event) or view_dirty
                sidebar_dirty = header_dirty = members_dirty = True
            elif type(event) is ConnectionStateEvent:
                self._connection(event)
                sidebar_dirty = True
            elif type(event) is ErrorEvent:
                self.notify(shown(f"{event.code}: {event.message}"), severity="error", markup=False)
            elif type(event) is RoomEvent:
                assert isinstance(event, RoomEvent)
                view_dirty = self._room_changed(event.room) or view_dirty
                header_dirty = True
            elif type(event) is InvitedEvent:
                assert isinstance(event, InvitedEvent)
                self._invited(event)
                sidebar_dirty = True
            elif type(event) is ByeEvent and event.reason != "shutdown" and event.reason not in FINAL_BYES:
                self._notice(current, f"the server closed the link ({event.reason}); reconnecting", "event")
                view_dirty = True
        self._freeze_gc(len(message.events))
        if view_dirty and self._following():
            # the conversation in view now: a `member` event may have taken this user out of `current`
            conv = state.conversations.get(state.current)
            newest = conv.newest() if conv is not None else None
            if newest is not None and self._read(state.current, newest.mid):
                sidebar_dirty = True
        if view_dirty:
            self._sync_view_soon()
        if sidebar_dirty:
            self._refresh_sidebar()
        if header_dirty:
            self._refresh_header()
        if members_dirty or header_dirty:
            self._refresh_members()
        self.alerts.publish(Alerts(state.alerts(), bool(notes), tuple(notes)))

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

    def _connection(self, event: ConnectionStateEvent) -> None:
        self.query_one(ConnectionStatus).state = event
        self.refresh_bindings()  # the retry key shows while waiting to reconnect
        if event.state in ("connecting", "reconnecting", "catching_up"):
            self.state.reconnecting()
        if event.state == "connected":
            self.state.catching_up = False
            session = self.link.session if self.link is not None else None
            if self.link is not None and self.link.features != self.state.features:
                self.state.features = self.link.features  # another node, or the server was upgraded
                self.query_one(ConversationView).changes = self.state.changes
            if session is not None:
                for address, mid in self.state.resumed(session.unread, session.read):
                    self._reads[address] = mid
                self._send_reads_soon()
                self._check_read()
            if self._connected_once:
                for detail in self.state.details.values():
                    detail.loaded = False  # members may have changed while away
                self._room_info_asked.clear()
                self._load_directory()  # presence may have changed while away
                self._load_notify_settings()  # and the settings, on another device
                self._refresh_members()
                conv = self.state.conversations.get(self.state.current)
                if conv is not None and conv.more is None:
                    self._want_history(conv, older=False)
            self._want_catch_up(self.state.current)
            self._connected_once = True
        elif event.state == "closed" and event.detail:
            self.post_message(self.SessionEnded(event.detail))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        conv = self.state.conversations.get(message.address)
        if conv is None:
            return
        gap = conv.gap_at(message.gap) if message.gap else None
        if gap is not None:
            gap.loading = False
        elif message.jump is None:
            conv.loading = False
        self._refresh_sidebar()
        if message.error is not None:
            self._history_failed(conv, message.error)
        else:
            self._freeze_gc(conv.add_page(message.messages, message.more, message.before))
            if message.messages:
                self.state.talked_in(conv.address)
            self.state.history_loaded(conv)
        if conv.address != self.state.current:
            return
        view = self.query_one(ConversationView)
        anchor = None
        if message.gap and gap is not None:
            anchor = gap.hi_mid if not message.downward else view.first_visible()
        view.sync(anchor=anchor)
        view.refresh_top()
        view.refresh_gaps()
        self._refresh_header()
        if message.jump is not None and message.error is None:
            if self._select(message.jump, center=True, missing_note=True):
                after = conv.gap_after(message.jump)  # read on from there: what follows it comes next
                if after is not None and not after.loading and self.link is not None:
                    after.loading = True
                    view.refresh_gaps()
                    self._fill_gap(conv.address, after, True)
        elif self._jump_wanted is not None and message.gap is None and message.before is None:
            address, mid = self._jump_wanted  # the conversation's first page, awaited by a jump
            self._jump_wanted = None
            if address == conv.address:
                self.jump_to(address, mid)

    def _history_failed(self, conv: Conversation, error: Exception) -> None:
        """A conversation that cannot be read says why in its header; a
        server's refusal is a notice; a link that went down says so itself."""
        if isinstance(error, ServerError) and error.code in (
            ErrorCode.NO_SUCH_USER,
            ErrorCode.NO_SUCH_ROOM,
            ErrorCode.FORBIDDEN,
        ):
            conv.missing = error.message
            conv.version += 1
        elif isinstance(error, ServerError):
            self._notice(conv.address, f"could not load history: {error.message}", "error", sync=False)

    def on_caught_up(self, message: CaughtUp) -> None:
        """A backlog merged: the line moves to the first unread message and,
        unless the user has scrolled meanwhile, the view goes to it. On
        failure the line stays where it was."""
        plan = message.plan
        conv = self.state.conversations.get(plan.address)
        if message.error is not None:
            self.state.catch_up_failed(plan)
            if conv is not None:
                self._history_failed(conv, message.error)
        else:
            self.state.caught_up(plan, message.messages)
            self._freeze_gc(len(message.messages))
        if conv is None or conv.address != self.state.current:
            return
        view = self.query_one(ConversationView)
        follow = view.following
        view.sync()
        view.refresh_top()
        view.refresh_gaps()
        self._refresh_header()
        self._refresh_sidebar()
        if follow and message.error is None:
            view.reveal_marker()

    def on_send_done(self, message: SendDone) -> None:
        conv = self.state.conversations.get(message.address)
        if conv is None:
            return
        if message.sent is not None:
            conv.confirm(message.cmid, message.sent, self.state.me.username)
        else:
            conv.fail(message.cmid, reason(message.error or Exception("failed")))
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
        if message.blocked is not None:
            state.blocked = set(message.blocked)
        self._refresh_sidebar()
        self._refresh_header()
        self._refresh_members()

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
        if message.invitation:
            self.answer_invitation(Address.of(message.address).name)
            return
        self.switch_to(message.address)
        self.action_focus_composer()

    @on(ConversationView.NeedGap)
    def _need_gap(self, message: ConversationView.NeedGap) -> None:
        conv = self.state.conversations.get(message.address)
        gap = conv.gap_at(message.hi) if conv is not None else None
        if self.link is None or conv is None or gap is None or gap.loading:
            return
        gap.loading = True
        self.query_one(ConversationView).refresh_gaps()
        self._fill_gap(conv.address, gap, message.downward)

    @on(ConversationView.Viewed)
    def _viewed(self, message: ConversationView.Viewed) -> None:
        self._check_read()

    @on(ConversationView.Leave)
    def _leave_selection(self, message: ConversationView.Leave) -> None:
        self.action_focus_composer()

    @on(ConversationView.ShowQuoted)
    def _show_quoted(self, message: ConversationView.ShowQuoted) -> None:
        self.jump_to(message.address, message.mid)

    @on(ConversationView.Act)
    def _act(self, message: ConversationView.Act) -> None:
        """What the user asked of the selected message."""
        target = message.message
        if message.kind == "copy":
            self.post_message(self.CopyWanted(target.text))
            self.notify("copied the message", timeout=2)
        elif message.kind == "open":
            url = first_link(target.text)
            if url is None:
                return

            def open_confirmed(yes: bool | None) -> None:
                if yes and url is not None:
                    self._open_link(url)

            self.app.push_screen(ConfirmScreen("Open this link in your browser?", url, "Open"), open_confirmed)
        elif message.kind == "reply":
            self._start_draft(Draft("reply", target.conv, target))
        elif message.kind == "edit":
            self._start_draft(Draft("edit", target.conv, target))
        elif message.kind == "delete":

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._change("delete", target)

            preview = target.text if len(target.text) <= 200 else target.text[:200] + "…"
            question = "Delete this message? Its text is erased for everyone."
            self.app.push_screen(ConfirmScreen(question, preview, "Delete"), confirmed)
        elif message.kind == "react":
            mine = frozenset(e for e, users in target.reactions.items() if self.state.me.username in users)

            def picked(emoji: str | None) -> None:
                if emoji:
                    current = self.state.conversation(target.conv).get(target.mid) or target
                    on = self.state.me.username not in current.reactions.get(emoji, ())
                    self._change("react", target, emoji=emoji, on=on)

            self.app.push_screen(ReactScreen(mine), picked)

    def on_change_done(self, message: ChangeDone) -> None:
        if message.error is not None:
            self._notice(message.address, f"could not {message.what}: {reason(message.error)}", "error")
            return
        assert message.change is not None
        conv = self.state.apply_change(message.change)
        if conv.address == self.state.current:
            self.query_one(ConversationView).sync()

    # --- selecting, replying, editing ------------------------------------------------------

    def action_select_message(self) -> None:
        view = self.query_one(ConversationView)
        if view.select_newest():
            view.focus()

    @on(Composer.SelectWanted)
    def _select_wanted(self, message: Composer.SelectWanted) -> None:
        self.action_select_message()

    def _select(self, mid: str, *, center: bool = False, missing_note: bool = False) -> bool:
        view = self.query_one(ConversationView)
        if view.select(mid, center=center):
            view.focus()
            return True
        if missing_note:
            self._notice(self.state.current, "that message is no longer in the history", "info")
        return False

    def jump_to(self, address: str, mid: str) -> None:
        """Show a message in its conversation and select it, loading the
        history around it if it is not loaded."""
        target = Address.of(address)
        if target != self.state.current:
            self.switch_to(target)
            if target != self.state.current:
                return  # a room to join first
        conv = self.state.conversation(target)
        if self._select(mid, center=True):
            return
        if self.link is None or mid_key(mid) is None:
            self._notice(target, "that message is not loaded", "info")
        elif conv.more is None:
            self._jump_wanted = (target, mid)  # its first page is on the way
        else:
            self._fetch_around(target, mid)

    def _start_draft(self, draft: Draft) -> None:
        self._draft = draft
        composer = self.query_one(Composer)
        line = self.query_one(DraftLine)
        if draft.kind == "reply":
            author, words = quote_text(draft.message)
            line.show_reply(author, words)
        else:
            text = draft.message.text
            composer.set_line("/" + text if text.startswith("/") and not is_action(text) else text)
            composer.editing = True
            line.show_edit()
        composer.focus()

    def _end_draft(self) -> None:
        if self._draft is None:
            return
        was_edit = self._draft.kind == "edit"
        self._draft = None
        self.query_one(DraftLine).clear()
        self.query_one(ConversationView).select(None)  # it showed what the draft was about
        composer = self.query_one(Composer)
        composer.editing = False
        if was_edit:
            composer.value = ""

    def _drop_draft_of(self, change: EditedEvent | DeletedEvent | ReactionEvent) -> None:
        """A message being answered or edited was deleted meanwhile."""
        draft = self._draft
        if draft is not None and type(change) is DeletedEvent and draft.message.mid == change.mid:
            self._end_draft()
            self._notice(draft.address, "the message you were writing about was deleted", "info", sync=False)

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
        draft = self._draft
        if draft is not None and draft.kind == "edit":
            self._finish_edit(draft, command.text if command.name == "say" else None, line)
            return
        if command.name == "edit":
            self.action_edit_draft()
            return
        if command.name == "say" and self._too_long(self.state.current, command.text):
            composer.give_back(line)  # to be cut down
            return
        composer.remember(line)
        if command.name == "say":
            reply_to = draft.message.mid if draft is not None and draft.address == self.state.current else None
            self._end_draft()
            self.say(self.state.current, command.text, reply_to=reply_to)
        elif command.name == "search":
            self.action_search(command.text)
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
        elif command.name == "notify":
            self._server_command(replace(command, target=str(self.state.current)))
        elif command.name in SERVER_COMMANDS:
            self._server_command(command)

    def _too_long(self, address: str, text: str) -> bool:
        """Over the server's limit: say so (the caller keeps the text to be cut down)."""
        limit = self.link.max_text if self.link is not None else limits.DEFAULT_MAX_TEXT
        if len(text) <= limit:
            return False
        self._notice(address, f"that line has {len(text)} characters; the limit is {limit}", "error")
        return True

    @on(Composer.TooLong)
    def _pasted_too_much(self, event: Composer.TooLong) -> None:
        self._notice(
            self.state.current,
            f"that line has {event.length} characters; the limit is {event.limit} — cut it down to send it",
            "error",
        )

    @on(Composer.EditorWanted)
    def _editor_wanted(self, event: Composer.EditorWanted) -> None:
        self.action_edit_draft()

    def action_edit_draft(self) -> None:
        """ctrl+x ctrl+e or /edit: the draft in $EDITOR, the app suspended
        meanwhile. A headless app has no terminal to lend; it runs the
        editor as it is (tests give it one that needs none)."""
        composer = self.query_one(Composer)
        command = editor_command(os.environ)
        try:
            with self.app.suspend():
                edited = edit_text(composer.value, command)
        except SuspendNotSupported:
            if not self.app.is_headless:
                self._notice(self.state.current, "an editor cannot run here (no terminal to lend it)", "error")
                return
            try:
                edited = edit_text(composer.value, command)
            except EditorFailed as exc:
                self._notice(self.state.current, str(exc), "error")
                return
        except EditorFailed as exc:
            self._notice(self.state.current, str(exc), "error")
            return
        composer.set_line(edited)
        composer.focus()
        if len(edited) > composer.max_text:
            self._too_long(self.state.current, edited)

    def set_notify(self, level: str) -> None:
        """From the palette: this conversation's notification level."""
        self._server_command(Command("notify", target=str(self.state.current), text=level))

    def edit_highlights(self) -> None:
        """From the palette: `/highlight` and the keywords as they are, to be changed."""
        words = self.state.notify_settings.words
        composer = self.query_one(Composer)
        composer.set_line(" ".join(("/highlight", *words, "")))
        composer.focus()

    def notify_settings_changed(self, settings: NotifySettings) -> None:
        """The user's notification settings as the server now has them (in
        the model, where arrivals are judged by them)."""
        self.state.notify_settings = settings

    @on(TextArea.Changed, "#composer")
    def _typed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        if self.link is None or not text or text.startswith("/"):
            return
        address = self.state.current
        now = self.clock()
        if now - self._typing_sent.get(address, -1e9) >= limits.TYPING_INTERVAL_S:
            self._typing_sent[address] = now
            self.link.typing(address)

    def _finish_edit(self, draft: Draft, text: str | None, line: str) -> None:
        composer = self.query_one(Composer)
        if text is None:
            self._notice(draft.address, "an edit is the message's new text; escape cancels it", "error")
            composer.give_back(line)
        elif not text.strip():
            self._notice(draft.address, "an edit cannot be empty (d deletes a message)", "error")
            composer.give_back(line)
        elif self.link is not None and len(text) > self.link.max_text:
            self._notice(
                draft.address, f"that text has {len(text)} characters; the limit is {self.link.max_text}", "error"
            )
            composer.give_back(line)
        else:
            self._end_draft()
            if text != draft.message.text:
                self._change("edit", draft.message, text=text)

    def say(self, address: str, text: str, reply_to: str | None = None) -> None:
        conv = self.state.conversation(address)
        if self.link is None:
            self._notice(address, "not connected", "error")
            return
        if self._too_long(address, text):
            return
        cmid, future = self.link.send_nowait(address, text, reply_to=reply_to)
        conv.add_pending(cmid, text, int(self.clock() * 1000), reply_to)
        self.state.talked_in(address)
        self._typing_sent.pop(address, None)
        self._track(address, cmid, future)
        if address == self.state.current:
            self.query_one(ConversationView).sync()

    def _show_restored(self) -> None:
        """Lines from the outbox of an earlier run, being sent again: shown
        as pending in their conversations until the server answers."""
        assert self.link is not None
        restored = self.link.restored
        for entry, future in restored:
            conv = self.state.conversation(entry.to)
            conv.add_pending(entry.cmid, entry.text, int(entry.ts * 1000), entry.reply_to)
            self._track(entry.to, entry.cmid, future)
        if restored:
            count = len(restored)
            words = f"{count} message{'s' if count != 1 else ''} from last time"
            self._notice(self.state.current, f"sending {words}, not sent before you left", "info")

    def _track(self, address: str, cmid: str, future: asyncio.Future[Sent]) -> None:
        """The server's answer to a send comes back as `SendDone`."""

        def done(f: asyncio.Future[Sent]) -> None:
            if f.cancelled():
                self.post_message(SendDone(address, cmid, None, ConnectionClosed("cancelled")))
            elif f.exception() is not None:
                self.post_message(SendDone(address, cmid, None, f.exception()))
            else:
                self.post_message(SendDone(address, cmid, f.result(), None))

        future.add_done_callback(done)

    def end_session(self, why: str) -> None:
        self.post_message(self.SessionEnded(why))

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
        if self._draft is not None and self._draft.address != address:
            self._end_draft()
        conv = self.state.open(address)
        self.query_one(ConversationView).show(conv)
        composer = self.query_one(Composer)
        composer.placeholder = literal_content(f"Message {shown(address)}   (/help for commands)")
        self._refresh_header()
        self._refresh_sidebar()
        self._refresh_members()
        self.alerts.publish(Alerts(self.state.alerts(), False))
        if conv.more is None:
            self._want_history(conv, older=False)
        self._want_catch_up(conv.address)

    def _refresh_sidebar(self) -> None:
        self.query_one(Sidebar).update(self.state.sidebar(), self.state.current)

    def _refresh_header(self) -> None:
        state = self.state
        address = Address.of(state.current)
        line: RoomLine | None = None
        if address.is_room:
            room = state.details.get(address.name)
            if room is not None:
                # everyone is a member of the lobby: a role is worth saying there only if it moderates
                role = room.role if address != LOBBY or room.role in MODERATORS else None
                line = RoomLine(room.topic, room.private, role)
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
                presence = "offline" if not person.online else "away" if person.away else "online"
                detail = name + presence + (f" · {person.status}" if person.status else "")
        self.query_one(ConversationHeader).show(address, detail, state.typers(address, self.clock()), line)

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
        """Escape: from anywhere back to the composer; in the composer, drop
        the reply or edit being written."""
        composer = self.query_one(Composer)
        if composer.has_focus:
            self._end_draft()
        composer.focus()
        self.query_one(ConversationView).select(None)

    def action_search(self, query: str = "") -> None:
        """ctrl+f or /search: the search panel; Enter on a result goes there.
        A server that speaks the extensions answers a search even when it
        has not granted `search` (`unavailable`, saying why); a version 1
        server would not know the request."""
        if not self.state.features:
            self.notify("this server does not offer search", timeout=3)
            return

        def chosen(found: Message | None) -> None:
            if found is not None:
                self.jump_to(found.conv, found.mid)

        self.app.push_screen(SearchScreen(self.link, query=query, clock=self.clock, tz=self.tz), chosen)

    # --- read markers ------------------------------------------------------------------------

    def _following(self) -> bool:
        """The conversation in view shows its newest lines to someone at
        the terminal: lines arriving now are seen as they come."""
        return (
            self.state.read_markers
            and self.app.app_focus
            and self.is_current
            and self.query_one(ConversationView).following
        )

    def _check_read(self) -> None:
        """The newest message on screen while the terminal has focus is read."""
        if not self.state.read_markers or not self.app.app_focus or not self.is_current:
            return
        newest = self.query_one(ConversationView).newest_visible()
        if newest is not None and self._read(self.state.current, newest.mid):
            self._refresh_sidebar()
            self.alerts.publish(Alerts(self.state.alerts(), False))

    def _read(self, address: Address, mid: str) -> bool:
        if not self.state.mark_read(address, mid):
            return False
        self._reads[address] = mid
        self._send_reads_soon()
        return True

    def _send_reads_soon(self) -> None:
        if self._reads and self._read_timer is None:
            self._read_timer = self.set_timer(READ_DELAY_S, self._send_reads)

    def flush_reads(self) -> None:
        """Send the read markers that are waiting, now (the link is about to close)."""
        if self._read_timer is not None:
            self._read_timer.stop()
        self._send_reads()

    def _send_reads(self) -> None:
        self._read_timer = None
        reads, self._reads = self._reads, {}
        if self.link is not None:
            for address, mid in reads.items():
                self.link.read(address, mid)  # dropped while disconnected; `resumed` sends it again

    def action_page(self, direction: int) -> None:
        view = self.query_one(ConversationView)
        if direction < 0:
            view.scroll_page_up(animate=False)
        else:
            view.scroll_page_down(animate=False)

    def action_retry(self) -> None:
        """ctrl+r while waiting to reconnect: try now."""
        if self.link is not None and self.link.retry_now():
            self.notify("reconnecting now", timeout=2)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":  # as the status at the footer's right says
            shown = self.query(ConnectionStatus)
            link_state = shown.first().state if shown else None
            return link_state is not None and link_state.state == "reconnecting"
        return True

    def action_latest(self) -> None:
        self.query_one(ConversationView).jump_to_newest()

    @work(thread=True, group="browser")
    def _open_link(self, url: str) -> None:
        """webbrowser may start a program and wait for it: not on the app's loop."""
        if not self.open_url(url):
            self.app.call_from_thread(self.notify, "no browser could be started", severity="warning", timeout=3)
