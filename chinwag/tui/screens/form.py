"""What the login and register screens share: the brand, fields in rows,
an error line, a countdown, and the `LoggedIn` message either posts when a
session has begun (the app then opens the chat)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Static

from ...protocol.client import Session
from ...protocol.reconnect import ReconnectingClient
from ..connection import LinkSettings, ServerAddress
from ..text import literal


@dataclass
class LoggedIn(Message):
    """A session has begun on `link`, at `address`: for the app to take over."""

    address: ServerAddress
    link: ReconnectingClient
    session: Session


def unreachable_reason(error: BaseException) -> str:
    """A short cause for "cannot reach server at …"."""
    cause = error.__cause__ or error
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError):
        return "timed out"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed: {cause.reason or cause}"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return getattr(error, "reason", "") or str(error)


class Brand(Static):
    def on_mount(self) -> None:
        self.update(
            Text.assemble(
                ("chinwag", "bold"), "\n", ("chat for people who live in the terminal", "dim"), justify="center"
            )
        )


class FormScreen(Screen[None]):
    """Fields in rows, an error line, a countdown. `settings` open the link;
    `clock` drives the countdown (a fixed one keeps snapshots still)."""

    def __init__(self, *, settings: LinkSettings | None = None, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.settings = settings or LinkSettings()
        self.clock = clock or time.time
        self._countdown: Timer | None = None
        self._wait_until = 0.0
        self._wait_words = ""
        self._retry = False

    @on(events.Mount)
    def _lock_server(self) -> None:
        if self.settings.lock_server:
            for server in self.query("#server").results(Input):
                server.disabled = True
                server.tooltip = "this client is set to one server"

    def field(self, label: str, input_widget: Input) -> Horizontal:
        return Horizontal(Label(label, classes="field-label"), input_widget, classes="field")

    def value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def say(self, text: str, level: str = "error") -> None:
        message = self.query_one("#message", Static)
        message.set_classes(f"-{level}")
        message.update(literal(text))  # may carry the server's words

    def focus_first_empty(self) -> None:
        for field in self.query(Input):
            if not field.value:
                field.focus()
                return
        inputs = list(self.query(Input))
        if inputs:
            inputs[-1].focus()

    def set_busy(self, busy: bool) -> None:
        for button in self.query(Button):
            button.disabled = busy
        if busy:
            self.say("connecting…", "info")

    # --- a countdown (retry or throttle) ------------------------------------------------

    def start_countdown(self, seconds: float, words: str, retry: bool) -> None:
        """Show `words` with {n} counting down; run `submit()` at zero if `retry`."""
        self.stop_countdown()
        self._wait_until = self.clock() + seconds
        self._wait_words = words
        self._retry = retry
        self._tick()
        self._countdown = self.set_interval(1.0, self._tick)

    def stop_countdown(self) -> None:
        if self._countdown is not None:
            self._countdown.stop()
            self._countdown = None

    @property
    def waiting(self) -> float:
        return max(0.0, self._wait_until - self.clock()) if self._countdown else 0.0

    def _tick(self) -> None:
        left = self._wait_until - self.clock()
        if left <= 0.5 and self._countdown is not None:
            self.stop_countdown()
            if self._retry:
                self.submit()
            else:
                self.say("you can try again now", "info")
            return
        self.say(self._wait_words.format(n=max(1, round(left))))

    def submit(self) -> None:
        raise NotImplementedError
