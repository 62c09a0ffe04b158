"""Keyboard (and mouse) navigation on the chat screen (demo data, no server needed)."""

from __future__ import annotations

from chinwag.protocol.messages import Message
from chinwag.tui.screens.chat_messages import ServerEvents
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.draft import DraftLine
from chinwag.tui.widgets.header import ConversationHeader

from .demo import LIVING, at, open_demo_chat, open_living_chat, snapshot_app


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


def row_offset(view: ConversationView, mid: str, line: int = 0) -> tuple[int, int]:
    """Where to click in the view for line `line` of message `mid`."""
    index = next(i for i, row in enumerate(view.rows) if row.kind == "msg" and row.item.mid == mid)
    return (20, view._starts[index] + line - int(view.scroll_y))


async def test_a_click_selects_and_a_click_on_a_quote_goes_to_the_quoted(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        screen = await open_living_chat(pilot)
        view = screen.query_one(ConversationView)
        bobs, daves, alices = LIVING[0], LIVING[1], LIVING[3]
        await pilot.click(ConversationView, offset=row_offset(view, bobs.mid, line=1))  # its text, under the quote
        assert view.selected == bobs.mid and app.focused is view
        await pilot.click(ConversationView, offset=row_offset(view, alices.mid, line=0))  # the quote of dave's
        assert view.selected == daves.mid


async def test_selection_keys_and_leaving_it(tmp_path) -> None:
    app = snapshot_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        screen = await open_living_chat(pilot)
        view = screen.query_one(ConversationView)
        await pilot.press("up")
        assert view.selected == LIVING[3].mid
        await pilot.press("k", "k", "j")
        assert view.selected == LIVING[2].mid  # the tombstone: selectable, nothing to do with it
        await pilot.press("j", "down")  # down from the newest: back to the composer
        assert isinstance(app.focused, Composer) and view.selected is None
        await pilot.press("alt+k", "r")
        draft = screen.query_one(DraftLine)
        assert draft.has_class("-active") and isinstance(app.focused, Composer)
        await pilot.press("escape")  # in the composer: drops the reply
        assert not draft.has_class("-active") and view.selected is None
        await pilot.press("alt+k", "e", *" (really)")
        assert app.focused.value == "thanks dave! (really)"
        await pilot.press("escape")
        assert app.focused.value == "" and not draft.has_class("-active")
