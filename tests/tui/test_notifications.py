"""Desktop notifications through the terminal, against a real server: the
sequence written for a direct message, a mention or a highlight keyword
while the terminal is unfocused or the conversation is not open (OSC 9,
OSC 777 wrapped for tmux, the bell); none while you are looking at it or
at level `none`; the levels and keywords set on another device followed."""

from __future__ import annotations

from textual import events

from chinwag.protocol.messages import NotifySettings

from .conftest import log_in, texts, wait_for

NOTIFY = ["notify"]
WEZTERM = {"TERM_PROGRAM": "WezTerm", "TERM": "xterm-256color"}
FOOT_IN_TMUX = {"TMUX": "/tmp/tmux-1000/default,4242,0", "TERM": "tmux-256color", "VTE_VERSION": "7600"}


def said(app, address: str) -> list[str]:
    """The texts of a conversation so far (none before it exists)."""
    return texts(app, address) if address in app.screen.state.conversations else []


async def unfocus(pilot) -> None:
    pilot.app.post_message(events.AppBlur())
    await wait_for(pilot, lambda: not pilot.app.app_focus, what="the terminal losing focus")


async def test_a_direct_message_notifies_by_osc9_only_when_not_looked_at(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice", env=WEZTERM)
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await bob.send("@alice", "psst")  # the lobby is open: @bob is not
        await wait_for(pilot, lambda: app.notifications, what="the notification")
        assert app.notifications == ["\x1b]9;bob: psst\x07"]

        chat.switch_to("@bob")
        await pilot.pause()
        await bob.send("@alice", "are you there?")  # open and focused: she sees it
        await wait_for(pilot, lambda: len(said(app, "@bob")) == 2, what="the second line")
        await pilot.pause(0.1)
        assert len(app.notifications) == 1

        await unfocus(pilot)
        await bob.send("@alice", "hello?\x1b]0;evil\x07")  # open but the terminal is elsewhere
        await wait_for(pilot, lambda: len(app.notifications) == 2, what="the unfocused one")
        assert app.notifications[1] == "\x1b]9;bob: hello? ]0;evil\x07"  # no control character gets through


async def test_inside_tmux_the_sequence_is_wrapped_for_passthrough(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice", env=FOOT_IN_TMUX)
    async with app.run_test(size=(110, 32)) as pilot:
        await log_in(pilot)
        await unfocus(pilot)
        await bob.send("#lobby", "alice: the deploy is done")  # a mention, in the open room, unfocused
        await wait_for(pilot, lambda: app.notifications, what="the notification")
        inner = "\x1b]777;notify;bob in #lobby;alice: the deploy is done\x07"
        assert app.notifications == [f"\x1bPtmux;{inner.replace(chr(27), chr(27) * 2)}\x1b\\"]


async def test_levels_and_keywords_follow_the_user_from_another_device(server, user, make_app) -> None:
    await (await user("bob")).close()
    phone = await user("alice", features=NOTIFY)
    await phone.set_notify("#lobby", "all")  # before the terminal logs in: loaded at login
    bob = await user("bob")
    app = make_app(server, username="alice", env=WEZTERM)
    async with app.run_test(size=(110, 32)) as pilot:
        chat = await log_in(pilot)
        await wait_for(pilot, lambda: chat.state.notify_settings.level("#lobby") == "all", what="the settings")
        await unfocus(pilot)
        await bob.send("#lobby", "plain words")  # no mention: notifies only at `all`
        await wait_for(pilot, lambda: app.notifications, what="the notification at `all`")
        assert app.notifications == ["\x1b]9;bob in #lobby: plain words\x07"]

        await phone.set_notify("#lobby", "none")
        await phone.set_notify("@bob", "none")
        await wait_for(pilot, lambda: chat.state.notify_settings.level("@bob") == "none", what="the change")
        await bob.send("#lobby", "alice: a mention, silenced")
        await bob.send("@alice", "a direct message, silenced")
        await wait_for(pilot, lambda: said(app, "@bob") == ["a direct message, silenced"], what="both lines")
        await pilot.pause(0.1)
        assert len(app.notifications) == 1  # `none`: nothing, whatever it is

        settings = await phone.set_highlights(["backup"])
        assert settings == NotifySettings({"#lobby": "none", "@bob": "none"}, ("backup",))
        await phone.set_notify("#lobby", None)  # back to the default: mentions
        await wait_for(
            pilot,
            lambda: chat.state.notify_settings == NotifySettings({"@bob": "none"}, ("backup",)),
            what="the keyword and the default",
        )
        await bob.send("#lobby", "the BACKUP job failed")
        await wait_for(pilot, lambda: len(app.notifications) == 2, what="the keyword's notification")
        assert app.notifications[1] == "\x1b]9;bob in #lobby: the BACKUP job failed\x07"


async def test_without_a_better_sequence_it_is_the_bell_and_off_is_silent(server, user, make_app, tmp_path) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice", env={"TERM": "xterm-256color"})
    async with app.run_test(size=(110, 32)) as pilot:
        await log_in(pilot)
        await bob.send("@alice", "ring")
        await wait_for(pilot, lambda: app.notifications, what="the bell")
        assert app.notifications == ["\x07"] and app.bells == 1
    (tmp_path / "config.toml").write_text('notifications = "off"\n', encoding="utf-8")
    app = make_app(server, username="alice", env=WEZTERM)
    assert app.config.notifications == "off"
    async with app.run_test(size=(110, 32)) as pilot:
        await log_in(pilot)
        await bob.send("@alice", "quiet")
        await wait_for(pilot, lambda: "quiet" in said(app, "@bob"), what="the line")
        await pilot.pause(0.1)
        assert app.notifications == [] and app.bells == 0
