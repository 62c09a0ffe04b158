"""One conversation's lines (chinwag/tui/timeline.py): changes to messages,
and what history pages leave known and unknown (gaps)."""

from __future__ import annotations

from chinwag.protocol.messages import DeletedEvent, EditedEvent, Message, ReactionEvent
from chinwag.tui.timeline import Conversation, Gap, below, mid_key, next_mid, order_key


def m(n: int, sender: str = "bob", text: str = "hi", ts: int | None = None, **extra) -> Message:
    """Message n: mid `(1000 + 10 n)-0`, a message every 10 ms."""
    ms = 1000 + 10 * n
    return Message(f"{ms}-0", "#lobby", sender, text, ts if ts is not None else ms, **extra)


def mids(conv: Conversation) -> list[int]:
    return [(order_key(line)[0] - 1000) // 10 for line in conv.messages()]


def key(n: int) -> tuple[int, int, int]:
    return (1000 + 10 * n, 0, 0)


def past(n: int) -> tuple[int, int, int]:
    """A gap's lower end after a page that ends with message n."""
    return below((1000 + 10 * n, 1, 0))  # just below next_mid(message n)


def loaded(*numbers: int, more: bool = True) -> Conversation:
    """A conversation whose newest page holds `numbers`."""
    conv = Conversation("#lobby")
    conv.add_page([m(n) for n in numbers], more=more, before=None)
    return conv


# --- changes ---------------------------------------------------------------------------------


def test_edits_deletions_and_reactions_give_the_current_state() -> None:
    conv = loaded(1, 2)
    version = conv.version
    assert conv.apply(EditedEvent("#lobby", m(1).mid, "fixed", 5000, "1100-0"))
    assert conv.version > version
    first = conv.get(m(1).mid)
    assert first is not None and (first.text, first.edited) == ("fixed", 5000)
    for user, on in (("carol", True), ("dave", True), ("carol", False), ("erin", True)):
        conv.apply(ReactionEvent("#lobby", m(2).mid, "👍", user, on, "x"))
    conv.apply(ReactionEvent("#lobby", m(2).mid, "🎉", "carol", True, "y"))
    second = conv.get(m(2).mid)
    assert second is not None and second.reactions == {"👍": ("dave", "erin"), "🎉": ("carol",)}
    assert not conv.apply(ReactionEvent("#lobby", m(2).mid, "🎉", "carol", True, "z"))  # already so: no change
    assert conv.apply(DeletedEvent("#lobby", m(2).mid, "bob", "w"))
    gone = conv.get(m(2).mid)
    assert gone is not None and gone.deleted and gone.text == "" and gone.reactions == {}
    assert not conv.apply(EditedEvent("#lobby", m(2).mid, "back?", 6000, "v"))  # a tombstone stays one
    assert not conv.apply(ReactionEvent("#lobby", m(2).mid, "👍", "carol", True, "u"))


def test_a_change_to_a_message_not_loaded_is_kept_until_it_arrives() -> None:
    conv = loaded(5, 6)
    assert not conv.apply(EditedEvent("#lobby", m(2).mid, "new words", 7000, "1200-0"))
    assert not conv.apply(ReactionEvent("#lobby", m(3).mid, "👀", "carol", True, "1201-0"))
    # A page read before the changes, answered after them, brings the old state:
    conv.add_page([m(2, text="old words"), m(3), m(4)], more=True, before=m(5).mid)
    two, three = conv.get(m(2).mid), conv.get(m(3).mid)
    assert two is not None and two.text == "new words" and two.edited == 7000
    assert three is not None and three.reactions == {"👀": ("carol",)}


# --- pages and gaps ----------------------------------------------------------------------------


def test_a_page_older_than_everything_loaded_leaves_a_gap_above_what_was_there() -> None:
    conv = loaded(90, 91, 92)
    window = [m(n) for n in range(40, 51)]  # history(before=next_mid(m(50))) around message 50
    conv.add_page(window, more=True, before=next_mid(m(50).mid))
    assert mids(conv) == [*range(40, 51), 90, 91, 92]
    assert conv.gaps == [Gap(past(50), key(90))]
    assert conv.more is True  # older than 40 is still to load at the top


def test_filling_a_gap_from_above_shrinks_it_then_closes_it() -> None:
    conv = loaded(90, 91, 92)
    conv.add_page([m(n) for n in range(40, 51)], more=True, before=next_mid(m(50).mid))
    gap = conv.gaps[0]
    conv.add_page([m(n) for n in range(70, 90)], more=True, before=gap.hi_mid)
    assert [(g.lo, g.hi) for g in conv.gaps] == [(gap.lo, key(70))]
    conv.add_page([m(n) for n in range(45, 70)], more=True, before=conv.gaps[0].hi_mid)
    assert conv.gaps == []
    assert mids(conv) == [*range(40, 93)]


def test_filling_a_gap_from_below_aims_just_past_its_start() -> None:
    conv = loaded(190, 191, 192)
    conv.add_page([m(n) for n in range(40, 51)], more=True, before=next_mid(m(50).mid))
    gap = conv.gaps[0]
    step = conv.probe_step(gap, 100)
    assert step == 700  # 10 ms a message below the gap: a page of 100 aims 70 messages on
    before = conv.probe_before(gap, step)
    assert before == f"{1000 + 10 * 50 + 700}-0"
    closer = conv.probe_before(gap, step // 4)
    assert key(190) > mid_key(before) > mid_key(closer) > gap.lo  # type: ignore[operator]
    assert closer == "1675-0"
    conv.add_page([m(n) for n in range(45, 68)], more=True, before=closer)  # everything before 1675 ms
    (left,) = conv.gaps
    assert left.hi == key(190) and left.lo == below(mid_key(closer))  # type: ignore[arg-type]
    assert mids(conv)[:29] == [*range(40, 68), 190]


def test_a_probe_past_the_gap_asks_for_the_gap_itself() -> None:
    conv = loaded(52)
    conv.add_page([m(50)], more=True, before=next_mid(m(50).mid))
    gap = conv.gaps[0]
    assert conv.probe_step(gap, 100) == 3_600_000  # nothing to estimate from: an hour,
    assert conv.probe_before(gap, conv.probe_step(gap, 100)) == m(52).mid  # past the gap: the gap itself


def test_a_gap_after_the_first_message_is_probed_by_the_history_above_it() -> None:
    conv = loaded(*range(300, 310))
    conv.add_page([m(0)], more=False, before=next_mid(m(0).mid))
    assert conv.probe_step(conv.gaps[0], 100) == 700  # 10 ms a message up there too


def test_a_page_inside_a_gap_splits_it() -> None:
    conv = loaded(90)
    conv.add_page([m(n) for n in range(10, 21)], more=True, before=next_mid(m(20).mid))
    conv.add_page([m(n) for n in range(50, 56)], more=True, before=next_mid(m(55).mid))
    assert [(g.lo, g.hi) for g in conv.gaps] == [(past(20), key(50)), (past(55), key(90))]


def test_a_page_that_reaches_the_beginning_closes_the_top() -> None:
    conv = loaded(50, 51)
    conv.add_page([m(n) for n in range(0, 10)], more=False, before=next_mid(m(9).mid))
    assert conv.more is False
    assert [(g.lo, g.hi) for g in conv.gaps] == [(past(9), key(50))]


def test_a_page_reaches_a_gaps_start_when_it_holds_less_than_asked_or_goes_back_to_it() -> None:
    conv = loaded(90)
    conv.add_page([m(n) for n in range(40, 51)], more=True, before=next_mid(m(50).mid))
    gap = conv.gaps[0]
    assert conv.reaches(gap, [m(n) for n in range(50, 60)], limit=100)  # less than a page: all there is
    assert conv.reaches(gap, [m(n) for n in range(50, 60)], limit=10)  # goes back to 50, the gap's start
    assert not conv.reaches(gap, [m(n) for n in range(51, 61)], limit=10)  # 51..60 of more: 50..51 unknown


def test_the_smallest_id_after_a_mid() -> None:
    assert next_mid("1700000000000-4") == "1700000000000-5"
    assert next_mid(f"12-{2**64 - 1}") == "13-0"


def test_a_catch_up_cut_short_of_a_resume_hole_leaves_a_gap_and_one_that_reaches_it_none() -> None:
    # held: 1-3 from before the link went down, then 20-30 replayed by the resume
    for reached_it in (False, True):
        conv = loaded(1, 2, 3)
        for n in range(20, 31):
            conv.add(m(n))
        page = [m(n) for n in range(12 if not reached_it else 4, 20)]
        conv.add_below(page, True, m(20).mid, hole=not reached_it)
        assert mids(conv) == [1, 2, 3, *range(12 if not reached_it else 4, 31)]
        if reached_it:
            assert conv.gaps == []
        else:
            assert [(g.lo, g.hi) for g in conv.gaps] == [(key(3), key(12))]  # 4-11 may exist, not loaded
