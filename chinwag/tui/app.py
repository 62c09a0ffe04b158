"""ChinwagApp: the screens, the global keys, the link's life, and the things
that reach outside the window (bell, terminal title, the config file).

Screens never call the app: they post messages (`LoggedIn`,
`LoginScreen.RegisterWanted`, `ChatScreen.SessionEnded`) or publish a signal
(`ChatScreen.alerts`), and the app hands them what they need when it makes
them (link settings, the clock)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, cast

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.screen import Screen

from ..protocol import limits
from ..protocol.messages import Message
from ..protocol.reconnect import ReconnectingClient
from . import desktop_notify, hangup
from .config import Config, default_config_path, default_data_dir, load_config, save_config
from .connection import LinkSettings
from .screens.chat import ChatScreen
from .screens.chat_messages import Alerts
from .screens.form import LoggedIn
from .screens.login import LoginScreen
from .screens.register import RegisterScreen
from .state import ChatState
from .switcher import ConversationProvider
from .text import shown
from .timeline import is_action

NOTIFY_CHOICES = (
    (limits.NOTIFY_ALL, "every message"),
    (limits.NOTIFY_MENTIONS, "mentions and keywords"),
    (limits.NOTIFY_NONE, "nothing"),
)


def unsent_words(link: ReconnectingClient) -> str:
    """What to say at exit about lines the server has not answered: kept in
    the outbox, they go at the next start; without one they are lost."""
    count = link.pending_sends()
    if not count:
        return ""
    lines = f"{count} message{'s' if count != 1 else ''}"
    if link.journal is None:
        return f"{lines} could not be sent and {'are' if count != 1 else 'is'} lost"
    who = f" as {link.user.username}" if link.user else ""
    they = "they" if count != 1 else "it"
    return f"{lines} not sent yet: {they} will be sent the next time you log in to {link.host}:{link.port}{who}"


class ChinwagApp(App[None]):
    CSS_PATH = Path(__file__).with_name("chinwag.tcss")  # absolute: subclasses elsewhere find it
    TITLE = "chinwag"
    COMMAND_PALETTE_BINDING = "ctrl+k"
    # Textual declares this an instance variable, so mypy refuses a ClassVar here.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "quit", priority=True),
        Binding(
            "ctrl+k",
            "command_palette",
            "switch",
            show=False,
            priority=True,
            tooltip="Jump to a conversation, or run a command",
        ),
    ]

    def __init__(
        self,
        *,
        server: str | None = None,
        username: str | None = None,
        tls: bool = False,
        ca: str | None = None,
        config_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        link_options: dict[str, Any] | None = None,
        lock_server: bool = False,
        env: Mapping[str, str] | None = None,
        outbox_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.config_path = config_path or default_config_path()
        self.config: Config = load_config(self.config_path)
        self.server = server or self.config.server
        self.username = username if username is not None else self.config.username
        self.link_settings = LinkSettings(
            tls, ca, link_options or {}, lock_server, outbox_dir or default_data_dir() / "outbox"
        )
        self.clock = clock
        self.tz = tz
        self.link: ReconnectingClient | None = None
        self.window_title = "chinwag"
        self.env = os.environ if env is None else env  # the terminal's variables (which notification, tmux)
        self.bells = 0  # alerts given so far, bell or desktop notification (tests read it; headless rings nothing)
        self.notifications: list[str] = []  # the notification sequences written to the terminal
        self.crash: BaseException | None = None  # the first error nothing caught
        self.farewell = ""  # said after the app has left the screen (lines still to send)
        self._alerts = -1
        self._hung_up = False
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme

    # --- screens ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._write_terminal("\x1b[22;0t")  # save the terminal's title, restored at exit
        self.set_window_title("chinwag")
        self.push_screen(self._login_screen(self.server, self.username))
        if not self.is_headless:
            self._watch_for_hangup()

    def _login_screen(self, server: str, username: str, message: str = "") -> LoginScreen:
        return LoginScreen(server, username, message, settings=self.link_settings, clock=self.clock)

    @on(LoginScreen.RegisterWanted)
    def _open_register(self, message: LoginScreen.RegisterWanted) -> None:
        self.push_screen(
            RegisterScreen(message.server, message.username, settings=self.link_settings, clock=self.clock)
        )

    @on(LoggedIn)
    def _start_chat(self, message: LoggedIn) -> None:
        """Logged in: remember where and as whom, and open the lobby."""
        session = message.session
        self.link = message.link
        self.config = self.config.with_changes(server=str(message.address), username=session.user.username)
        save_config(self.config_path, self.config)
        state = ChatState(session.user)
        state.begin_session(session.unread, session.read, message.link.features)
        while len(self.screen_stack) > 2:
            self.pop_screen()
        chat = ChatScreen(state, message.link, clock=self.clock, tz=self.tz)
        chat.alerts.subscribe(self, self._show_alerts, immediate=True)
        self.switch_screen(chat)

    @on(ChatScreen.CopyWanted)
    def _copy(self, message: ChatScreen.CopyWanted) -> None:
        self.copy_to_clipboard(message.text)

    def _flush_reads(self) -> None:
        """Read markers moved in the last moment go out before the link closes."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                screen.flush_reads()

    @on(ChatScreen.SessionEnded)
    def _session_ended(self, message: ChatScreen.SessionEnded) -> None:
        link, self.link = self.link, None
        if link is not None:
            self.run_worker(link.close(), exit_on_error=False)
        self.switch_screen(self._login_screen(self.config.server, self.config.username, message.reason))

    def action_command_palette(self) -> None:
        """On the chat screen, ctrl+k is the quick switcher (which also lists
        Textual's commands); elsewhere it is Textual's palette."""
        # is_open takes an App[object]; App is invariant in its result type.
        if isinstance(self.screen, ChatScreen) and not CommandPalette.is_open(cast("App[object]", self)):
            self.push_screen(
                CommandPalette(
                    providers=[ConversationProvider],
                    id="--command-palette",
                    placeholder="Go to a room or a person, or run a command…",
                )
            )
        else:
            super().action_command_palette()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's commands, and on the chat screen the account screen."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, ChatScreen):
            yield SystemCommand(
                "Account", "Change your password or display name, see and revoke your sessions", screen.action_account
            )
            for level, words in NOTIFY_CHOICES:
                yield SystemCommand(
                    f"Notify: {words} here",
                    "Desktop notifications for this conversation",
                    partial(screen.set_notify, level),
                )
            yield SystemCommand(
                "Notify: highlight keywords…", "Words that notify you wherever they are said", screen.edit_highlights
            )

    async def action_quit(self) -> None:
        self._flush_reads()
        link, self.link = self.link, None
        if link is not None:
            self.farewell = unsent_words(link)
            with contextlib.suppress(Exception):  # quitting must not fail
                await link.close()
        self._write_terminal("\x1b[23;0t")
        self.exit(message=self.farewell or None)

    # --- the terminal going away (hangup.py says why both signs) -------------------------

    def _watch_for_hangup(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hang_up)
        self.set_interval(hangup.CHECK_EVERY_S, self._check_terminal)

    def _terminal_gone(self) -> bool:
        stdin = sys.__stdin__  # the file Textual reads keys from
        return stdin is not None and hangup.hung_up(stdin.fileno())

    def _check_terminal(self) -> None:
        if self._terminal_gone():
            self._hang_up()

    def _hang_up(self) -> None:
        """SIGHUP, or the terminal hung up: close the connection and exit
        with status 129, as a shell's job ended by SIGHUP would."""
        if self._hung_up:
            return
        self._hung_up = True
        gone = self._terminal_gone()
        if gone:
            hangup.silence_output()
            hangup.leave_by(hangup.DEADLINE_S)
        self.run_worker(self._leave_after_hangup(gone), exit_on_error=False)

    async def _leave_after_hangup(self, gone: bool) -> None:
        self._flush_reads()
        link, self.link = self.link, None
        if link is not None:
            with contextlib.suppress(Exception):  # a slow or failing close must not keep us
                await asyncio.wait_for(link.close(), hangup.CLOSE_WAIT_S)
        if gone:
            hangup.leave()
        self._write_terminal("\x1b[23;0t")
        self.exit(return_code=hangup.HANGUP_STATUS)

    def _handle_exception(self, error: Exception) -> None:
        """Textual's hook for an exception nothing caught (private, but the
        only one there is): keep the error for crash.py, let Textual close the
        app as usual (its exit code becomes 1), and drop the screenful of
        traceback it would print at exit: the log file has it."""
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)
        self._exit_renderables.clear()

    # --- outside the window -------------------------------------------------------------------

    def watch_theme(self, theme: str) -> None:
        if theme != self.config.theme and self.is_running:
            self.config = self.config.with_changes(theme=theme)
            save_config(self.config_path, self.config)

    def _write_terminal(self, sequence: str) -> None:
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def _desktop_notify(self, notes: tuple[Message, ...]) -> None:
        """One notification for a batch (a burst must not become a stack of
        them): its first message, and how many more came with it. Written
        to the terminal (desktop_notify picks the sequence and wraps it for
        tmux); the bell where the terminal has nothing better."""
        first = notes[0]
        where = "" if first.conv.startswith("@") else f" in {first.conv}"
        title = f"{first.sender}{where}"
        if len(notes) > 1:
            title += f" (+{len(notes) - 1} more)"
        body = f"* {first.sender} {first.text[4:]}" if is_action(first.text) else first.text
        sequence = desktop_notify.notification(self.env, title, body, self.config.notifications)
        if not sequence:
            return  # notifications = "off"
        self.bells += 1
        self.notifications.append(sequence)
        if sequence == desktop_notify.BEL:
            self.bell()
        else:
            self._write_terminal(sequence)

    def set_window_title(self, title: str) -> None:
        """The terminal's title; `shown` keeps a BEL or ESC in a name from
        ending the OSC sequence early and steering the terminal."""
        self.window_title = shown(title)
        self._write_terminal(f"\x1b]2;{self.window_title}\x07")

    def _show_alerts(self, alerts: Alerts) -> None:
        """A desktop notification for the messages worth one (the rule is
        ChatState.notifies', by the user's levels; the bell where the
        terminal has nothing better), and their count in the terminal's title."""
        if alerts.notes:
            self._desktop_notify(alerts.notes)
        if alerts.count == self._alerts:
            return
        self._alerts = alerts.count
        user = self.link.user if self.link else None
        base = f"chinwag · {user.username}" if user else "chinwag"
        self.set_window_title(f"({alerts.count}) {base}" if alerts.count else base)
