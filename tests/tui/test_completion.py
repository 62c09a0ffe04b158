"""Tab completion's rules (chinwag/tui/completion.py), fed lines and cursors:
which word, which candidates in which order, cycling both ways, and the line
around the word kept exactly."""

from __future__ import annotations

from chinwag.tui.completion import Sources, begin

SOURCES = Sources(
    nicks=("carol", "Carl", "bob", "carol", "casey"),
    rooms=("lobby", "ops", "ops-alerts"),
    commands=("join", "leave", "msg", "me", "who", "help"),
)


def test_a_nick_inside_a_line_cycles_through_the_candidates_in_order_and_back() -> None:
    line = "hi ca"
    c = begin(line, len(line), SOURCES)
    assert c is not None
    assert c.candidates == ("carol ", "Carl ", "casey "), "in the order given, once, case-insensitive"
    assert (c.text, c.cursor) == ("hi carol ", 9)
    assert c.step().text == "hi Carl "
    assert c.step().step().step().text == "hi carol ", "round and round"
    assert c.step(back=True).text == "hi casey "
    back = begin(line, len(line), SOURCES, back=True)
    assert back is not None and back.text == "hi casey ", "shift+tab starts from the end"


def test_a_nick_at_the_start_of_the_line_gets_a_colon() -> None:
    c = begin("bo", 2, SOURCES)
    assert c is not None and c.text == "bob: "
    at = begin("@bo", 3, SOURCES)
    assert at is not None and at.text == "@bob ", "a mention keeps its sigil and gets a space"


def test_the_rest_of_the_line_is_kept_and_completing_in_the_middle_adds_no_second_space() -> None:
    c = begin("ask ca about it", 6, SOURCES)
    assert c is not None and c.text == "ask carol about it" and c.cursor == 9
    inside = begin("hi carol", 5, SOURCES)
    assert inside is not None and inside.text == "hi carol rol", "only the part before the cursor is the word"


def test_rooms_and_commands() -> None:
    room = begin("see #op", 7, SOURCES)
    assert room is not None and room.candidates == ("#ops ", "#ops-alerts ")
    cmd = begin("/m", 2, SOURCES)
    assert cmd is not None and cmd.candidates == ("/msg ", "/me ")
    assert begin("say /m", 6, SOURCES) is None, "a command only at the start of the line"


def test_nothing_to_complete_leaves_the_line_alone() -> None:
    assert begin("", 0, SOURCES) is None
    assert begin("hi ", 3, SOURCES) is None, "no word at the cursor"
    assert begin("hi zz", 5, SOURCES) is None
    assert begin("/zz", 3, SOURCES) is None
    assert begin("line one\nca", 11, SOURCES) is not None, "a word after a newline counts"
