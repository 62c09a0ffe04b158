"""ChinwagApp: the screens, the global keys, the link's life, and the things
that reach outside the window (bell, terminal title, the config file)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.widgets import Input

from ..protocol.client import Session
from .config import Config, default_config_path, load_config, save_config
from .connection import Link, ServerAddress
from .screens.chat import ChatScreen
from .screens.login import LoginScreen
from .state import ChatState
from .switcher import ConversationProvider
from .text import shown


class ChinwagApp(App[None]):
    CSS_PATH = Path(__file__).with_name("chinwag.tcss")  # absolute: subclasses elsewhere find it
    TITLE = "chinwag"
    COMMAND_PALETTE_BINDING = "ctrl+k"
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (32, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "quit", priority=True),
        Binding("ctrl+k", "command_palette", "switch", show=False, priority=True,
                tooltip="Jump to a conversation, or run a command"),
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
        blink: bool = True,
        link_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.config_path = config_path or default_config_path()
        self.config: Config = load_config(self.config_path)
        self.server = server or self.config.server
        self.username = username if username is not None else self.config.username
        self.tls, self.ca = tls, ca
        self.clock = clock
        self.tz = tz
        self.blink = blink
        self.link_options = link_options or {}
        self.link: Link | None = None
        self.focused_window = True
        self.window_title = "chinwag"
        self.bells = 0  # rung so far (tests read it; a headless app cannot ring)
        self.crash: BaseException | None = None  # the first error nothing caught
        self._alerts = -1
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme

    # --- screens ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._write_terminal("\x1b[22;0t")  # save the terminal's title, restored at exit
        self.set_window_title("chinwag")
        self.push_screen(LoginScreen(self.server, self.username))

    def on_descendant_mount(self, event: events.DescendantMount) -> None:
        if not self.blink and isinstance(event.control, Input):
            event.control.cursor_blink = False

    def make_link(self, address: ServerAddress) -> Link:
        return Link(address, tls=self.tls, ca=self.ca, **self.link_options)

    def start_chat(self, link: Link, session: Session) -> None:
        """Logged in: remember where and as whom, and open the lobby."""
        self.link = link
        self.config = self.config.with_changes(server=str(link.address),
                                               username=session.user.username)
        save_config(self.config_path, self.config)
        state = ChatState(session.user)
        state.begin_session(session.unread)
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(ChatScreen(state, link, clock=self.clock, tz=self.tz))

    def session_ended(self, reason: str) -> None:
        link, self.link = self.link, None
        if link is not None:
            self.run_worker(link.close(), exit_on_error=False)
        self.switch_screen(LoginScreen(self.config.server, self.config.username, reason))

    def action_command_palette(self) -> None:
        """On the chat screen, ctrl+k is the quick switcher (which also lists
        Textual's commands); elsewhere it is Textual's palette."""
        if isinstance(self.screen, ChatScreen) and not CommandPalette.is_open(self):
            self.push_screen(CommandPalette(
                providers=[ConversationProvider], id="--command-palette",
                placeholder="Go to a room or a person, or run a command…"))
        else:
            super().action_command_palette()

    async def action_quit(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            try:
                await link.close()
            except Exception:  # noqa: BLE001 - quitting must not fail
                pass
        self._write_terminal("\x1b[23;0t")
        self.exit()

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

    def set_window_title(self, title: str) -> None:
        """The terminal's title; `shown` keeps a BEL or ESC in a name from
        ending the OSC sequence early and steering the terminal."""
        self.window_title = shown(title)
        self._write_terminal(f"\x1b]2;{self.window_title}\x07")

    def show_alerts(self, count: int) -> None:
        """Put unread direct messages and mentions in the terminal's title."""
        if count == self._alerts:
            return
        self._alerts = count
        name = self.link.session.user.username if self.link and self.link.session else ""
        base = f"chinwag · {name}" if name else "chinwag"
        self.set_window_title(f"({count}) {base}" if count else base)

    def alert(self) -> None:
        """A direct message or mention outside the view: ring the terminal bell."""
        self.bell()
        self.bells += 1

    def on_app_focus(self) -> None:
        self.focused_window = True

    def on_app_blur(self) -> None:
        self.focused_window = False
