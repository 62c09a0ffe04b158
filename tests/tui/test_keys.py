"""Keyboard navigation on the chat screen (demo data, no server needed)."""

from __future__ import annotations

from chinwag.protocol.messages import Message
from chinwag.tui.screens.chat import ServerEvents
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.header import ConversationHeader

from .demo import at, open_demo_chat, snapshot_app


async def test_conversation_keys_and_escape(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        screen = await open_demo_chat(pilot)
        state = screen.state
        visited = []
        for key in ("ctrl+n", "alt+down", "ctrl+p", "alt+up"):
            await pilot.press(key)
            visited.append(state.current)
        assert visited == ["#ops", "@bob", "#ops", "#lobby"]
        await pilot.press("alt+u")
        assert state.current == "@dave"  # the only conversation still unread
        screen.query_one(ConversationView).focus()
        await pilot.press("escape")
        assert isinstance(app.focused, Composer)


async def test_page_keys_scroll_and_the_header_says_newer_lines_wait(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        screen = await open_demo_chat(pilot)
        base = at(3, 14, 10)
        screen.post_message(
            ServerEvents([Message(f"{base + n}-0", "#lobby", "bob", f"line {n}", base + n) for n in range(200)])
        )
        await pilot.pause(0.2)
        view = screen.query_one(ConversationView)
        assert view.is_vertical_scroll_end
        await pilot.press("pageup", "pageup")
        await pilot.pause()
        assert view.scroll_y < view.max_scroll_y
        title = str(screen.query_one(ConversationHeader).query_one("#typing").render())
        assert "newer lines below" in title
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert view.is_vertical_scroll_end
