"""The composer's rules as data: every command tab offers is one the parser
knows; /notify and /highlight parsed and refused as the server would; the
outbox's file name; the editor chosen; what ctrl+q says of lines unsent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chinwag.protocol import limits
from chinwag.tui.commands import COMMANDS, Command, CommandError, parse_line
from chinwag.tui.connection import LinkSettings, ServerAddress, outbox_path
from chinwag.tui.editor import EditorFailed, edit_text, editor_command
from chinwag.tui.room_commands import notify_line
from chinwag.tui.widgets.composer import as_lines


@pytest.mark.parametrize("word", COMMANDS)
def test_every_completed_command_is_known(word: str) -> None:
    try:
        parse_line(f"/{word}")
    except CommandError as exc:
        assert "unknown command" not in str(exc)


def test_notify_levels() -> None:
    assert parse_line("/notify None") == Command("notify", text="none")
    assert parse_line("/notify default") == Command("notify", text="default")
    assert parse_line("/notify") == Command("notify", text="")
    with pytest.raises(CommandError, match=re.escape("usage: /notify all|mentions|none|default")):
        parse_line("/notify loud")


def test_highlight_words() -> None:
    assert parse_line("/highlight deploy  outage deploy") == Command("highlight", target="set", text="deploy\noutage")
    assert parse_line("/highlight -") == Command("highlight", target="set", text="")
    assert parse_line("/highlight") == Command("highlight")
    with pytest.raises(CommandError, match="at most 20"):
        parse_line("/highlight " + " ".join(f"w{n}" for n in range(limits.HIGHLIGHTS_MAX + 1)))
    with pytest.raises(CommandError, match="1 to 40"):
        parse_line("/highlight " + "x" * (limits.HIGHLIGHT_MAX + 1))


def test_notify_line_names_the_default_by_kind() -> None:
    assert "mentions and highlight keywords (the default)" in notify_line("#ops", None)
    assert "every message (the default)" in notify_line("@bob", None)


def test_the_outbox_is_per_server_and_user(tmp_path: Path) -> None:
    assert outbox_path(tmp_path, ServerAddress("chat.example", 7878), "Alice") == (
        tmp_path / "chat.example_7878" / "alice.jsonl"
    )
    assert outbox_path(tmp_path, ServerAddress("::1", 7878), "bob") == tmp_path / "__1_7878" / "bob.jsonl"
    assert outbox_path(tmp_path, ServerAddress("h", 1), "../../etc") is None  # not a username: no file
    link = LinkSettings(outbox=tmp_path).open(ServerAddress("127.0.0.1", 7878), "alice")
    assert link.journal is not None and link.journal.path == tmp_path / "127.0.0.1_7878" / "alice.jsonl"
    assert LinkSettings().open(ServerAddress("127.0.0.1", 7878), "alice").journal is None


def test_the_editor_is_visual_then_editor_then_vi() -> None:
    assert editor_command({"VISUAL": "code -w", "EDITOR": "nano"}) == ["code", "-w"]
    assert editor_command({"EDITOR": "nano"}) == ["nano"]
    assert editor_command({}) == ["vi"]


def test_an_editor_that_cannot_start_leaves_the_draft() -> None:
    with pytest.raises(EditorFailed, match="could not start"):
        edit_text("draft", ["/nonexistent/editor"])


def test_pasted_newlines_become_lines() -> None:
    assert as_lines("a\rb\r\nc\n") == "a\nb\nc\n"
