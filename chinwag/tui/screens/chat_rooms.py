"""The chat screen's part for rooms and people (issue 12): the `member`,
`room` and `invited` events, the commands of `rooms` and `people` with
their answers, the member panel, invitations and the account screen.

`ChatScreen` is this class grown by the rest of the chat (the log, the
composer, navigation, read markers); the few of its methods used here are
declared below and written there. Split only to keep each file one
subject; the rules stay in ChatState and room_commands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from textual import events, on, work
from textual.screen import Screen

from ...protocol import limits
from ...protocol.address import Address
from ...protocol.errors import ConnectionClosed, ServerError
from ...protocol.messages import InvitedEvent, MemberEvent, NotifySettings, Room, User
from ...protocol.reconnect import ReconnectingClient
from ..commands import Command
from ..room_commands import IN_A_ROOM, Result, carry_out, done_line, role_words
from ..state import LOBBY, ChatState, NoticeLevel
from ..text import shown
from ..widgets.composer import Composer
from ..widgets.conversation import ConversationView
from ..widgets.members import MemberList
from .account import AccountScreen
from .chat_messages import CommandDone, RoomInfoLoaded, reason
from .invitation import InvitationScreen
from .profile import ProfileScreen


class RoomsAndPeople(Screen[None]):
    state: ChatState
    link: ReconnectingClient | None
    clock: Callable[[], float]
    tz: tzinfo | None
    members_shown: bool
    _room_info_asked: set[str]

    # --- written by ChatScreen -------------------------------------------------------

    def _notice(self, address: str, text: str, level: NoticeLevel, sync: bool = True) -> None:
        raise NotImplementedError

    def open(self, address: str) -> None:
        raise NotImplementedError

    def switch_to(self, address: str) -> None:
        raise NotImplementedError

    def _request(self, what: str, target: str = "") -> object:  # a worker there
        raise NotImplementedError

    def end_session(self, why: str) -> None:
        raise NotImplementedError

    def _refresh_header(self) -> None:
        raise NotImplementedError

    def _refresh_sidebar(self) -> None:
        raise NotImplementedError

    def action_focus_composer(self) -> None:
        raise NotImplementedError

    def notify_settings_changed(self, settings: NotifySettings) -> None:
        raise NotImplementedError

    # --- events of rooms and people ---------------------------------------------------

    def _member(self, event: MemberEvent) -> bool:
        """Someone joined, left, was removed or got a new role: the log says
        who did it and why (the reason is the moderator's own words)."""
        state = self.state
        address = Address.room(event.room)
        name, me = event.user.username, state.me.username
        by = event.by if event.by and event.by != name else None
        state.member_changed(event)
        # a `member` with joined true and `by` is a role given (a join has no `by`)
        role_change = event.joined and event.by is not None and event.role is not None
        if name == me:
            if role_change:
                if by is not None and address in state.conversations:
                    line = f"{by} made you {role_words(event.role or '')} of {address}"
                    self._notice(address, line, "event", sync=False)
                return address == state.current
            if event.joined:
                if event.room not in state.rooms:
                    state.joined(event.room, state.rooms.get(event.room, 0))
            elif event.room in state.rooms:
                state.left(event.room)
                if by is not None:
                    why = f": {shown(event.reason)}" if event.reason else " (no reason given)"  # one line
                    done = "banned you from" if event.banned else "removed you from"
                    self._notice(LOBBY, f"{by} {done} {address}{why}", "error", sync=False)
                if self.query_one(ConversationView).conversation is not state.conversations.get(state.current):
                    self.open(state.current)
                return state.current == LOBBY
            return False
        if event.room in state.rooms and not role_change:
            state.rooms[event.room] = max(0, state.rooms[event.room] + (1 if event.joined else -1))
        if address not in state.conversations or event.room == limits.LOBBY or by == me:
            return False  # what this user did was said when the server agreed
        if role_change:
            line = f"{by or name} made {name} {role_words(event.role or '')} of {address}"
        elif event.joined:
            line = f"{name} joined {address}"
        elif by is not None:
            done = "banned" if event.banned else "removed"
            line = f"{by} {done} {name} from {address}" + (f": {shown(event.reason)}" if event.reason else "")
        else:
            line = f"{name} left {address}"
        self._notice(address, line, "event", sync=False)
        return address == state.current

    def _room_changed(self, room: Room) -> bool:
        """The `room` event: its topic or privacy changed."""
        state = self.state
        old = state.details.get(room.name)
        old_topic, old_private = (old.topic, old.private) if old is not None else ("", False)
        state.set_room(room)
        address = Address.room(room.name)
        if address not in state.conversations:
            return False
        new = state.detail(room.name)
        if new.topic != old_topic:
            words = f"topic: {shown(new.topic)}" if new.topic else "the topic was cleared"  # one line, as typed
            self._notice(address, words, "event", sync=False)
        if new.private != old_private:
            words = "private: only invited people may join" if new.private else "public: anyone may join"
            self._notice(address, f"{address} is now {words}", "event", sync=False)
        return address == state.current

    def _invited(self, event: InvitedEvent) -> None:
        if event.room in self.state.rooms:
            return
        self.state.invited(event.room, event.by)
        note = f"{event.by} invited you to {Address.room(event.room)}: see Invitations in the sidebar"
        self.notify(shown(note), title="invitation", timeout=6, markup=False)

    # --- the commands of rooms and people ------------------------------------------------

    def _server_command(self, command: Command) -> None:
        """A command of `rooms` or `people`: checked here for what needs a
        room, then sent by a worker; the answer comes back as `CommandDone`."""
        current = Address.of(self.state.current)
        room = current.name if current.is_room else ""
        if command.name in IN_A_ROOM and not room:
            self._notice(current, f"/{command.name} works in a room: go to one first (ctrl+k)", "error")
            return
        if command.name == "topic" and not command.text:
            topic = self.state.detail(room).topic
            words = f"topic: {shown(topic)}" if topic else "this room has no topic"
            self._notice(current, words + " · /topic TEXT sets it, /topic - clears it", "info")
            return
        self._run_command(command, room, current)

    @work(group="commands")
    async def _run_command(self, command: Command, room: str, origin: Address) -> None:
        link = self.link
        if link is None:
            self.post_message(CommandDone(command, room, origin, None, ConnectionClosed("not connected")))
            return
        try:
            result = await carry_out(link, command, room)
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(CommandDone(command, room, origin, None, exc))
            return
        self.post_message(CommandDone(command, room, origin, result, None))

    def on_command_done(self, message: CommandDone) -> None:
        """The server's answer to a command: its refusal in its own words, or
        the change made here at once (its events, if any, change nothing more)."""
        command, origin = message.command, message.origin
        if message.error is not None:
            self._notice(origin, f"/{command.name} refused: {reason(message.error)}", "error")
            return
        result = message.result or Result()
        state = self.state
        name = command.name
        if name == "create" and result.room is not None:
            state.joined(command.target, result.room.members)
            state.set_room(result.room)
            self._notice(Address.room(command.target), done_line(command, message.room, result), "event", sync=False)
            self.open(Address.room(command.target))
            return
        if name == "logout":
            self.end_session("logged out")  # the link is closed: back to the login screen
            return
        if name == "topic":
            state.detail(message.room).topic = "" if command.text == "-" else command.text
        elif name in ("away", "back"):
            state.away, state.status = name == "away", command.text
        elif name in ("block", "unblock"):
            (state.blocked.add if name == "block" else state.blocked.discard)(command.target)
        elif name == "nick" and result.user is not None:
            state.me = result.user
        elif name == "role":
            detail = state.details.get(message.room)
            if detail is not None and detail.loaded and command.target in detail.members:
                detail.members[command.target] = command.text
            if command.target == state.me.username and detail is not None:
                detail.role = command.text
        elif name in ("kick", "ban"):
            detail = state.details.get(message.room)
            if detail is not None:
                detail.members.pop(command.target, None)
        elif name in ("notify", "highlight") and result.settings is not None:
            self.notify_settings_changed(result.settings)
        self._notice(origin, done_line(command, message.room, result), "event")
        self._refresh_header()
        self._refresh_members()

    # --- the member panel ------------------------------------------------------------------

    def action_toggle_members(self) -> None:
        """ctrl+g: show or hide who is in the room; shown, it takes the keys."""
        self.members_shown = not self.members_shown
        panel = self.query_one(MemberList)
        panel.set_class(self.members_shown, "-shown")
        if self.members_shown:
            self._refresh_members()
            panel.focus()
        else:
            self.action_focus_composer()

    def _refresh_members(self) -> None:
        if not self.members_shown:
            return
        state = self.state
        address = Address.of(state.current)
        panel = self.query_one(MemberList)
        if not address.is_room:
            panel.show(str(address), [], False, "a direct conversation: no member list")
            return
        detail = state.detail(address.name)
        count = state.rooms.get(address.name, 0)
        title = f"{address} · {count} member{'s' if count != 1 else ''}" if count else str(address)
        if not detail.loaded:
            self._want_room_info(address.name)
            panel.show(title, state.members(address.name), False, "loading the member list…")
            return
        panel.show(title, state.members(address.name), detail.more)

    def _want_room_info(self, room: str) -> None:
        if self.link is None or room in self._room_info_asked:
            return
        self._room_info_asked.add(room)
        self._fetch_room_info(room)

    @work(group="room_info")
    async def _fetch_room_info(self, room: str) -> None:
        assert self.link is not None
        try:
            info = await self.link.room_info(room)
        except (ServerError, ConnectionClosed) as exc:
            self.post_message(RoomInfoLoaded(room, None, exc))
            return
        self.post_message(RoomInfoLoaded(room, info, None))

    def on_room_info_loaded(self, message: RoomInfoLoaded) -> None:
        self._room_info_asked.discard(message.room)
        if message.info is None:
            error = message.error or Exception("failed")
            self._notice(Address.room(message.room), f"could not load the member list: {reason(error)}", "error")
            if message.room in self.state.rooms:
                detail = self.state.detail(message.room)
                detail.loaded = True  # shown empty, not asked again and again
            self._refresh_members()
            return
        self.state.set_room_info(message.info)
        self._refresh_header()
        self._refresh_members()

    @on(MemberList.Done)
    def _members_done(self, message: MemberList.Done) -> None:
        self.action_focus_composer()

    @on(MemberList.TypedAway)
    def _typed_at_members(self, message: MemberList.TypedAway) -> None:
        self.action_focus_composer()
        self.query_one(Composer).post_message(events.Key(message.key, message.character))

    @on(MemberList.Chosen)
    def _member_chosen(self, message: MemberList.Chosen) -> None:
        name = message.username
        if message.what == "message":
            if name == self.state.me.username:
                self.notify("that is you", timeout=2)
                return
            self.switch_to(Address.user(name))
            self.action_focus_composer()
            return
        current = Address.of(self.state.current)
        role = self.state.details[current.name].members.get(name) if current.name in self.state.details else None
        me = name == self.state.me.username
        person = self.state.person(name) if not me else None

        def answered(wants_message: bool | None) -> None:
            if wants_message and not me:
                self.switch_to(Address.user(name))
                self.action_focus_composer()

        self.app.push_screen(
            ProfileScreen(
                name,
                self.state.me.display_name if me else person.display_name if person else name,
                online=True if me else bool(person and person.online),
                away=self.state.away if me else bool(person and person.away),
                status=self.state.status if me else person.status if person else "",
                role=role,
                room=str(current) if current.is_room else "",
                me=me,
                blocked=name in self.state.blocked,
            ),
            answered,
        )

    # --- invitations, the account ----------------------------------------------------------

    def answer_invitation(self, room: str) -> None:
        """Accept (join) or decline an invitation. Declining is only local:
        the protocol has no request for it; the invitation lapses by itself."""
        by = self.state.invitations.get(room)
        if by is None:
            return

        def answered(accept: bool | None) -> None:
            if accept is None:
                return
            if accept:
                self._request("join", room)
            else:
                self.state.invitations.pop(room, None)
                self._notice(
                    self.state.current,
                    f"declined the invitation to {Address.room(room)}, here only: {by} is not told, "
                    "and /join still works until it lapses",
                    "info",
                )
                self._refresh_sidebar()

        self.app.push_screen(InvitationScreen(room, by), answered)

    def action_account(self) -> None:
        """From the command palette: password, display name, sessions."""
        if self.link is None:
            self.notify("not connected", severity="error", timeout=3)
            return

        def closed(user: User | None) -> None:
            if user is not None:
                self.state.me = user
                self._refresh_members()

        self.app.push_screen(AccountScreen(self.link, self.state.me, clock=self.clock, tz=self.tz), closed)
