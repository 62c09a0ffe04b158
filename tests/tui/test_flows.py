"""Pilot tests of each user flow against a real server and a real Redis."""

from __future__ import annotations

import asyncio

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import Message
from chinwag.tui.config import load_config
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.screens.login import LoginScreen
from chinwag.tui.widgets.composer import Composer
from chinwag.tui.widgets.conversation import ConversationView
from chinwag.tui.widgets.sidebar import Sidebar
from chinwag.tui.widgets.status import ConnectionStatus

from ..support.events import drain, next_of
from ..support.settings import PASSWORD
from .conftest import fill, log_in, log_lines, palette_hits, texts, wait_for


async def test_register_then_logged_in(server, make_app, tmp_path) -> None:
    app = make_app(server)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen.query("#again"), what="the register screen")
        assert app.focused is not None and app.focused.id == "username"
        await pilot.press(*"Carol")
        hint = str(app.screen.query_one("#username-hint").render())
        assert "@carol" in hint
        fill(app, display="Carol C", password=PASSWORD, again=PASSWORD)
        await pilot.press("enter")
        chat = await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen, what="the chat screen")
        assert chat.state.me.username == "carol"
        assert chat.state.current == "#lobby"
        assert isinstance(app.focused, Composer)
    assert load_config(tmp_path / "config.toml").username == "carol"
    assert PASSWORD not in (tmp_path / "config.toml").read_text()


async def test_register_rules_shown_as_you_type(server, make_app) -> None:
    app = make_app(server)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen.query("#again"))
        await pilot.press("9", "x")
        assert "starts with a letter" in str(app.screen.query_one("#username-hint").render())
        fill(app, password="short")
        await pilot.pause()
        assert "at least 8" in str(app.screen.query_one("#password-hint").render())


async def test_wrong_password_says_what_to_do(server, user, make_app) -> None:
    await (await user("dave")).close()
    app = make_app(server, username="dave")
    async with app.run_test(size=(100, 32)) as pilot:
        fill(app, password="not the password")
        await pilot.press("enter")
        message = app.screen.query_one("#message")
        await wait_for(pilot, lambda: "wrong password" in str(message.render()))
        assert "unknown user or wrong password — press ctrl+r to register" in str(message.render())
        assert isinstance(app.screen, LoginScreen)


async def test_unreachable_server_counts_down(make_app) -> None:
    app = make_app(address="127.0.0.1:9", username="erin")
    async with app.run_test(size=(100, 32)) as pilot:
        fill(app, password=PASSWORD)
        await pilot.press("enter")
        message = app.screen.query_one("#message")
        await wait_for(pilot, lambda: "cannot reach" in str(message.render()))
        assert "cannot reach server at 127.0.0.1:9" in str(message.render())
        assert "retrying in 3 s" in str(message.render())


async def test_login_opens_lobby_ready_to_type(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        assert chat.state.current == "#lobby"
        assert isinstance(app.focused, Composer)
        await pilot.press(*"hello", "space", *"[bold]x", "enter")
        await wait_for(
            pilot,
            lambda: texts(app, "#lobby") == ["hello [bold]x"] and not chat.state.conversations["#lobby"].pending,
            what="the confirmed line",
        )
        got = await next_of(bob, Message)
        assert (got.sender, got.text) == ("alice", "hello [bold]x")
        await pilot.pause(0.2)
        shown = [line for line in log_lines(app) if "hello [bold]x" in line]
        assert len(shown) == 1  # the markup is shown literally, and once
        assert not [e for e in await drain(bob) if isinstance(e, Message)]
        await pilot.press("up")  # an empty composer: up selects the newest message
        view = app.screen.query_one(ConversationView)
        assert app.focused is view and view.selected_message is not None
        assert view.selected_message.text == "hello [bold]x"
        await pilot.press("escape")
        assert isinstance(app.focused, Composer) and view.selected is None
        await pilot.press("ctrl+up")  # the lines sent, like a shell's history
        assert app.focused.value == "hello [bold]x"
        await pilot.press("up")  # recalling: up goes on through them
        assert app.focused.value == "hello [bold]x"


async def test_dm_via_quick_switcher(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")  # online, but alice has never talked to him
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        await pilot.press("ctrl+k")
        await pilot.pause()
        await pilot.press(*"bob")
        await wait_for(pilot, lambda: any("@bob" in hit for hit in palette_hits(app)), what="the bob hit")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.state.current == "@bob", what="the DM to open")
        assert isinstance(app.focused, Composer)
        await pilot.press(*"hi", "enter")
        got = await next_of(bob, Message)
        assert (got.conv, got.text) == ("@alice", "hi")


async def test_live_message_elsewhere_raises_badge_and_rings(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        await pilot.pause(0.2)
        await bob.send("@alice", "are you there?")
        await bob.send("@alice", "ping")
        await wait_for(
            pilot,
            lambda: chat.state.conversations.get("@bob") and chat.state.conversations["@bob"].unread == 2,
            what="the badge",
        )
        entry = next(e for e in app.screen.query_one(Sidebar).entries if e.address == "@bob")
        assert entry.unread == 2 and entry.online
        assert app.window_title.startswith("(2)")
        assert app.bells >= 1
        assert chat.state.current == "#lobby"
        await pilot.press("alt+u")
        assert chat.state.current == "@bob"
        assert chat.state.conversations["@bob"].unread == 0
        assert any("new messages" in line for line in log_lines(app))


async def test_offline_messages_fill_conversations_at_login(server, user, make_app) -> None:
    alice = await user("alice")
    await alice.join("rust")
    await alice.close()
    bob = await user("bob")
    await bob.join("rust")
    await bob.send("@alice", "while you were out")
    await bob.send("@alice", "second")
    await bob.send("#rust", "alice: look at this")
    await bob.send("#lobby", "lobby news")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        state = chat.state
        await wait_for(
            pilot,
            lambda: (
                "@bob" in state.conversations
                and len(texts(app, "@bob")) == 2
                and "#rust" in state.conversations
                and texts(app, "#rust")
            ),
            what="the offline messages",
        )
        assert state.conversations["@bob"].unread == 2
        assert (state.conversations["#rust"].unread, state.conversations["#rust"].mentions) == (1, 1)
        assert state.conversations["#lobby"].unread == 0  # in view
        await wait_for(pilot, lambda: "lobby news" in texts(app, "#lobby"))
        await wait_for(pilot, lambda: any("new messages" in line for line in log_lines(app)))
        entries = {e.address: e for e in app.screen.query_one(Sidebar).entries}
        assert entries["@bob"].unread == 2
        assert entries["#rust"].mentions == 1


async def test_history_loads_on_scroll(make_server, user, make_app) -> None:
    server = await make_server(send_rate=100_000.0, send_burst=100_000)
    bob = await user("bob", to=server)
    sends = [bob.request_nowait("send", to="#lobby", text=f"old {n}") for n in range(250)]
    await asyncio.gather(*sends)
    await (await user("alice", to=server)).close()  # joins after: all 250 are history
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        lobby = chat.state.conversations["#lobby"]
        await wait_for(pilot, lambda: len(texts(app, "#lobby")) == 100, what="the latest page")
        await pilot.pause(0.2)
        assert len(texts(app, "#lobby")) == 100
        assert texts(app, "#lobby")[-1] == "old 249"
        view = chat.query_one("#log")
        for expected in (200, 250):
            view.scroll_home(animate=False)
            await wait_for(
                pilot, lambda expected=expected: len(texts(app, "#lobby")) == expected, what=f"{expected} messages"
            )
        assert texts(app, "#lobby") == [f"old {n}" for n in range(250)]
        assert lobby.more is False
        await pilot.pause(0.1)
        assert "beginning of #lobby" in log_lines(app)[0]


async def test_reconnect_after_restart_loses_and_doubles_nothing(make_server, make_app) -> None:
    server = await make_server()
    port = server.port
    setup = ChatClient("127.0.0.1", port)
    await setup.connect()
    for name in ("alice", "bob"):
        await setup.register(name, PASSWORD)
    await setup.close()
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        status = chat.query_one(ConnectionStatus)
        await wait_for(pilot, lambda: status.state and status.state.state == "connected")
        await pilot.press(*"before", "enter")
        await wait_for(pilot, lambda: texts(app, "#lobby") == ["before"])

        await server.stop()
        await wait_for(pilot, lambda: status.state.state in ("reconnecting", "connecting"), what="the link to drop")
        await pilot.press(*"during1", "enter", *"during2", "enter")
        assert len(chat.state.conversations["#lobby"].pending) == 2

        server2 = await make_server(port=port)
        bob = ChatClient("127.0.0.1", port)
        await bob.connect()
        await bob.login("bob", PASSWORD)
        await bob.send("#lobby", "from bob after restart")
        await wait_for(pilot, lambda: status.state.state == "connected", timeout=10)
        await wait_for(
            pilot,
            lambda: not chat.state.conversations["#lobby"].pending and len(texts(app, "#lobby")) == 4,
            what="every line",
            timeout=10,
        )
        assert sorted(texts(app, "#lobby")) == sorted(["before", "during1", "during2", "from bob after restart"])
        assert texts(app, "#lobby").index("during1") < texts(app, "#lobby").index("during2")
        got = [e.text for e in await drain(bob, 0.5) if isinstance(e, Message) and e.sender == "alice"]
        assert got == ["before", "during1", "during2"]  # each stored exactly once
        history, _ = await bob.history("#lobby")
        assert sorted(m.text for m in history) == sorted(texts(app, "#lobby"))
        lines = log_lines(app)
        for text in ("before", "during1", "during2", "from bob after restart"):
            assert sum(text in line for line in lines) == 1
        await bob.close()
        await server2.stop()


async def test_throttled_login_shows_the_wait(make_server, user, make_app) -> None:
    # fay logged in from here before: her failures from here are what count
    server = await make_server(login_failures_per_user_address=1)
    await (await user("fay", to=server)).close()
    app = make_app(server, username="fay")
    async with app.run_test(size=(100, 32)) as pilot:
        message = app.screen.query_one("#message")
        for _ in range(2):
            fill(app, password="wrong password")
            await pilot.press("enter")
            await wait_for(pilot, lambda: "connecting" not in str(message.render()) and str(message.render()))
            await pilot.pause(0.1)
        assert "too many failed attempts — try again in" in str(message.render())
