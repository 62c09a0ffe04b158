"""The connection state at the right of the footer: "connected",
"reconnecting in 3 s" (counting down), "catching up 37 messages"."""

from __future__ import annotations

from collections.abc import Callable

from textual.reactive import reactive
from textual.widgets import Static

from ...protocol.reconnect import ConnectionStateEvent
from ..text import literal, literal_content


def describe(state: ConnectionStateEvent | None, now: float, since: float) -> tuple[str, str]:
    """The words and a CSS class for a connection state."""
    if state is None or state.state == "connecting":
        return "connecting…", "-busy"
    if state.state == "connected":
        return "● connected", "-ok"
    if state.state == "catching_up":
        count = f" {state.pending} message{'s' if state.pending != 1 else ''}" if state.pending else ""
        return f"catching up{count}…", "-busy"
    if state.state == "reconnecting":
        left = max(0.0, (state.retry_in or 0.0) - (now - since))
        return (f"reconnecting in {left:.0f} s" if left >= 0.5 else "reconnecting…"), "-bad"
    detail = f": {state.detail}" if state.detail else ""
    return f"disconnected{detail}", "-bad"


class ConnectionStatus(Static):
    state: reactive[ConnectionStateEvent | None] = reactive(None, always_update=True)

    def __init__(self, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self._since = clock()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._show()

    def watch_state(self) -> None:
        self._since = self.clock()
        self._show()

    def _tick(self) -> None:
        if self.state is not None and self.state.state == "reconnecting":
            self._show()

    def _show(self) -> None:
        words, css = describe(self.state, self.clock(), self._since)
        self.set_classes(css)
        detail = self.state.detail if self.state is not None else None
        self.tooltip = literal_content(detail) if detail else None  # the server's words
        self.update(literal(words))
