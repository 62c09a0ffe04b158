"""`chinwag --lock-server` (what `chinwag web` runs each tab's client with):
the login and register screens show the server and cannot change it, so a
visitor of the web page cannot point the web host at another address; the
client still logs in to that server."""

from __future__ import annotations

from textual.widgets import Input

from chinwag.tui.__main__ import build_parser
from chinwag.tui.screens.login import LoginScreen
from chinwag.tui.screens.register import RegisterScreen
from chinwag.web.cli import build_parser as web_parser
from chinwag.web.cli import client_args

from .conftest import log_in, wait_for


async def test_a_locked_server_field_cannot_be_edited_on_either_screen(server, user, make_app) -> None:
    await (await user("alice")).close()
    app = make_app(server, username="alice", lock_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        field = app.screen.query_one("#server", Input)
        assert field.disabled and field.value == f"127.0.0.1:{server.port}"
        field.focus()
        await pilot.press("x")
        assert field.value == f"127.0.0.1:{server.port}", "typing cannot reach it"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RegisterScreen), what="the register screen")
        assert app.screen.query_one("#server", Input).disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="back")
        await log_in(pilot)


async def test_unlocked_by_default(server, make_app) -> None:
    app = make_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        assert not app.screen.query_one("#server", Input).disabled


def test_chinwag_web_locks_every_tabs_client() -> None:
    assert build_parser().parse_args(["--lock-server"]).lock_server
    assert "--lock-server" in client_args(web_parser().parse_args([]))
    assert client_args(web_parser().parse_args(["--server", "chat:7878"]))[0] == "--lock-server"
