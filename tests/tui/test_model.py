"""The TUI's pure parts: the chat model, the composer's commands, the server
address and the config file."""

from __future__ import annotations

import tomllib

import pytest

from chinwag.protocol.client import Sent
from chinwag.protocol.messages import Message, NotifySettings, User
from chinwag.tui.commands import CommandError, parse_line
from chinwag.tui.config import Config, load_config, save_config
from chinwag.tui.connection import ServerAddress
from chinwag.tui.state import ChatState, Conversation


def msg(n: int, conv: str, sender: str, text: str = "hi", cmid: str | None = None) -> Message:
    return Message(f"{1000 + n}-0", conv, sender, text, 1000 + n, cmid)


# --- conversations ------------------------------------------------------------------------


def test_a_line_is_shown_once_whichever_comes_first_event_or_ok() -> None:
    conv = Conversation("#lobby")
    conv.add_pending("c1", "hello", 0)
    assert conv.add(msg(1, "#lobby", "me", "hello", cmid="c1"))
    assert not conv.pending
    assert not conv.confirm("c1", Sent("1001-0", 1001, "#lobby"), "me")
    assert len(conv.lines) == 1

    other = Conversation("#lobby")
    other.add_pending("c2", "again", 0)
    assert other.confirm("c2", Sent("1002-0", 1002, "#lobby"), "me")
    assert not other.add(msg(2, "#lobby", "me", "again", cmid="c2"))
    assert [line.text for line in other.lines] == ["again"]


def test_history_pages_merge_in_order_without_duplicates() -> None:
    conv = Conversation("#lobby")
    for n in (5, 6):
        conv.add(msg(n, "#lobby", "bob"))
    conv.add_page([msg(n, "#lobby", "bob") for n in range(3, 7)], more=True, before=None)
    conv.add_page([msg(n, "#lobby", "bob") for n in range(0, 3)], more=False, before="1003-0")
    assert [line.mid for line in conv.lines] == [f"{1000 + n}-0" for n in range(7)]
    assert conv.more is False


def test_out_of_order_arrival_is_sorted_and_bumps_the_version() -> None:
    conv = Conversation("#lobby")
    conv.add(msg(2, "#lobby", "bob"))
    version = conv.version
    conv.add(msg(1, "#lobby", "bob"))
    assert [line.mid for line in conv.lines] == ["1001-0", "1002-0"]
    assert conv.version > version


# --- the session ------------------------------------------------------------------------------


def test_offline_messages_are_counted_once_and_mark_where_unread_starts() -> None:
    state = ChatState(User("me", "Me"))
    state.begin_session({"@bob": 2, "#lobby": 1})
    state.receive(msg(1, "@bob", "bob"))
    state.receive(msg(2, "@bob", "bob"))
    state.receive(msg(3, "#lobby", "bob"))
    assert state.conversations["@bob"].unread == 2  # from `unread`, not counted again
    assert state.conversations["@bob"].marker == "1001-0"
    assert state.conversations["#lobby"].unread == 0  # the lobby is in view
    assert state.conversations["#lobby"].marker == "1003-0"  # but the line still shows
    live = state.receive(msg(4, "@bob", "bob"))
    assert live.counted and live.notify and state.conversations["@bob"].unread == 3


def test_mentions_are_counted_apart_and_ring() -> None:
    state = ChatState(User("me", "Me"))
    state.joined("rust", 3)
    plain = state.receive(msg(1, "#rust", "bob", "hello all"))
    mention = state.receive(msg(2, "#rust", "bob", "@me look"))
    bare = state.receive(msg(3, "#rust", "bob", "ME: and this"))
    not_a_word = state.receive(msg(4, "#rust", "bob", "meme"))
    assert (plain.notify, mention.notify, bare.notify, not_a_word.notify) == (False, True, True, False)
    conv = state.conversations["#rust"]
    assert (conv.unread, conv.mentions) == (4, 2)
    assert state.alerts() == 2


def test_the_alert_rule_in_view_depends_on_the_window() -> None:
    state = ChatState(User("me", "Me"))
    state.open("@bob")
    assert not state.receive(msg(1, "@bob", "bob")).notify  # in view, window in front
    state.window_focused = False
    assert state.receive(msg(2, "@bob", "bob")).notify  # in view, window behind
    assert not state.receive(msg(3, "#lobby", "bob", "no mention")).notify
    state.open("#lobby")
    assert state.receive(msg(4, "#lobby", "bob", "me: look")).notify  # a mention in view
    assert not state.receive(msg(5, "#lobby", "me", "me: my own")).notify
    state.catching_up = True
    assert not state.receive(msg(6, "#lobby", "bob", "@me replayed")).notify


def test_levels_and_highlight_keywords_decide_what_notifies() -> None:
    state = ChatState(User("me", "Me"))
    state.joined("ops", 3)
    state.notify_settings = NotifySettings({"#ops": "all", "@bob": "none"}, ("backup", "db-2"))
    assert state.receive(msg(1, "#ops", "erin", "anything at all")).notify  # `all`, out of view
    assert not state.receive(msg(2, "@bob", "bob", "me: direct, but none")).notify
    assert not state.receive(msg(3, "#lobby", "bob", "the backup failed")).notify  # in view, window in front
    state.window_focused = False
    assert state.receive(msg(4, "#lobby", "bob", "the BACKUP failed")).notify  # a keyword, a whole word
    assert state.receive(msg(5, "#lobby", "bob", "db-2 is full")).notify
    assert not state.receive(msg(6, "#lobby", "bob", "backups are fine")).notify  # not the whole word
    assert not state.receive(msg(7, "#lobby", "bob", "no mention")).notify  # `mentions`: not for this
    assert state.receive(msg(8, "#lobby", "bob", "me: now")).notify


def test_sidebar_order_and_navigation() -> None:
    state = ChatState(User("me", "Me"))
    state.joined("zed", 2)
    state.joined("alpha", 2)
    for name, online in (("carol", True), ("bob", False), ("dave", True)):
        state.set_presence(User(name, name), online)
    state.receive(msg(1, "@bob", "bob"))  # offline, but talked to
    state.set_presence(User("erin", "Erin"), False)  # offline, never talked to: not listed
    state.receive(msg(2, "#zed", "carol", "ping me"))
    assert [e.address for e in state.sidebar()] == ["#lobby", "#alpha", "#zed", "@carol", "@dave", "@bob"]
    assert state.step(1) == "#alpha" and state.step(-1) == "@bob"
    assert state.next_unread() == "#zed"  # a mention, then direct messages, then the rest
    state.open("#zed")
    assert state.next_unread() == "@bob"


def test_typing_expires() -> None:
    state = ChatState(User("me", "Me"))
    state.set_typing("#lobby", "bob", now=100.0)
    assert state.typers("#lobby", 101.0) == ["bob"]
    assert state.typers("#lobby", 107.0) == []


# --- the composer's lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "target", "text"),
    [
        ("hello", "say", "", "hello"),
        ("//slash at the start", "say", "", "/slash at the start"),
        ("/me waves", "say", "", "/me waves"),
        ("/join #Rust", "join", "rust", ""),
        ("/leave", "leave", "", ""),
        ("/msg @Bob how are you", "msg", "bob", "how are you"),
        ("/who", "who", "", ""),
        ("/help", "help", "", ""),
    ],
)
def test_lines_and_commands(line: str, name: str, target: str, text: str) -> None:
    command = parse_line(line)
    assert command is not None
    assert (command.name, command.target, command.text) == (name, target, text)


@pytest.mark.parametrize("line", ["/join", "/join bad name!", "/msg", "/me", "/frobnicate"])
def test_bad_commands_say_what_to_type(line: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_line(line)
    assert "usage" in str(caught.value) or "/help" in str(caught.value)


def test_a_blank_line_is_nothing() -> None:
    assert parse_line("   ") is None


# --- server address and config ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("chat.example.org", "chat.example.org", 7878),
        ("127.0.0.1:7999", "127.0.0.1", 7999),
        ("[::1]:7000", "::1", 7000),
    ],
)
def test_server_addresses(text: str, host: str, port: int) -> None:
    address = ServerAddress.parse(text)
    assert (address.host, address.port) == (host, port)
    assert ServerAddress.parse(str(address)) == address


@pytest.mark.parametrize("text", ["", "host:", "host:99999", "host:http", "a b:1", "[::1"])
def test_bad_server_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        ServerAddress.parse(text)


def test_config_round_trip_and_never_a_password(tmp_path) -> None:
    path = tmp_path / "chinwag" / "config.toml"
    assert load_config(path) == Config()
    config = Config(server='odd "host":7878', username="al\\ice", theme="nord")
    save_config(path, config)
    assert load_config(path) == config
    assert set(tomllib.loads(path.read_text())) == {"server", "username", "theme", "notifications"}
    path.write_text("this is [not toml")
    assert load_config(path) == Config()
    path.write_text('notifications = "osc99"\n')
    assert load_config(path).notifications == "osc99"
    path.write_text('notifications = "\\u001b]9;x"\n')  # a method this client does not know
    assert load_config(path).notifications == "auto"


# --- read markers (`read`) --------------------------------------------------------------------------

READ = ("read",)


def test_with_read_markers_the_counts_come_from_the_server_and_follow_the_marker() -> None:
    state = ChatState(User("me", "Me"))
    state.begin_session({"@bob": 3}, {"@bob": "1000-0", "#lobby": "1004-0"}, READ)
    for n in (1, 2, 3):
        state.receive(msg(n, "@bob", "bob"))  # the replay: counted by login already
    bob = state.conversations["@bob"]
    assert bob.unread == 3 and bob.marker == "1001-0"
    state.resumed({"@bob": 3}, {"@bob": "1000-0"})  # the catch-up is over
    assert state.receive(msg(4, "@bob", "bob")).counted and bob.unread == 4
    assert not state.receive(msg(4, "#lobby", "bob")).notify  # at the lobby's marker: read elsewhere
    assert state.mark_read("@bob", "1002-0") and bob.unread == 2
    assert not state.mark_read("@bob", "1001-0")  # never backwards
    assert state.mark_read("@bob", "1004-0") and bob.unread == 0
    assert bob.read_upto == "1004-0"


def test_with_read_markers_the_conversation_in_view_keeps_its_count_until_seen() -> None:
    state = ChatState(User("me", "Me"))
    state.begin_session({"@bob": 2}, {"@bob": "1000-0"}, READ)
    state.receive(msg(1, "@bob", "bob"))
    state.receive(msg(2, "@bob", "bob"))
    state.resumed({"@bob": 2}, {"@bob": "1000-0"})
    state.open("@bob")
    conv = state.conversations["@bob"]
    assert conv.unread == 2 and conv.marker == "1001-0"
    assert next(e for e in state.sidebar() if e.address == "@bob").unread == 0  # not shown in view
    assert state.alerts() == 2  # but the window title counts what has not been seen
    state.mark_read("@bob", "1002-0")
    assert state.alerts() == 0


def test_a_marker_moved_elsewhere_while_disconnected_is_taken_and_ours_sent_again() -> None:
    state = ChatState(User("me", "Me"))
    state.begin_session({}, {"@bob": "1000-0", "@carol": "1000-0"}, READ)
    state.resumed({}, {"@bob": "1000-0", "@carol": "1000-0"})
    for n in (1, 2, 3):
        state.receive(msg(n, "@bob", "bob"))
        state.receive(msg(n, "@carol", "carol"))
    state.mark_read("@carol", "1003-0")  # read here; the `read` was dropped with the link
    state.reconnecting()
    again = state.resumed({"@bob": 1}, {"@bob": "1002-0", "@carol": "1000-0"})
    assert again == [("@carol", "1003-0")]
    assert state.conversations["@bob"].read_upto == "1002-0"
    assert (state.conversations["@bob"].unread, state.conversations["@carol"].unread) == (1, 0)


def test_without_read_markers_nothing_changes() -> None:
    state = ChatState(User("me", "Me"))
    state.begin_session({"@bob": 1}, {"@bob": "1005-0"}, ())
    assert not state.read_markers and state.conversations["@bob"].read_upto is None
    assert state.resumed({}, {}) == []


def test_who_may_change_a_message() -> None:
    state = ChatState(User("me", "Me"))
    mine, theirs = msg(1, "#lobby", "me"), msg(2, "#lobby", "bob")
    assert state.may_edit(mine) and state.may_delete(mine)
    assert not state.may_edit(theirs) and not state.may_delete(theirs)
    gone = Message(mine.mid, mine.conv, "me", "", mine.ts, deleted=True)
    assert not state.may_edit(gone) and not state.may_delete(gone)
