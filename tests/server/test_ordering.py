"""ordering.InOrder on its own: entries fed by hand, Redis played by a list.
(The same rules through real nodes: tests/multinode/test_delivery_gaps.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chinwag.server.ordering import InOrder
from chinwag.server.statuses import ChangeKind
from chinwag.server.store import Stored, StoredChange, StoredMessage

CONV = "#dev"


def msg(mid: str, prev: str | None) -> StoredMessage:
    return StoredMessage(mid, CONV, "ann", f"text {mid}", None, prev=prev)


class Redis:
    """The conversation's stream as a repair reads it."""

    def __init__(self, entries: Sequence[Stored]) -> None:
        self.entries = list(entries)
        self.reads: list[str] = []
        self.fail = 0

    async def fetch(self, cid: str, after: str, most: int) -> list[Stored]:
        assert cid == CONV
        self.reads.append(after)
        if self.fail:
            self.fail -= 1
            raise OSError("Redis is away")
        ids = [e.mid if isinstance(e, StoredMessage) else e.id for e in self.entries]
        start = ids.index(after) + 1 if after in ids else 0
        return self.entries[start : start + most]


def made(redis: Redis | None = None) -> tuple[InOrder, list[str]]:
    out: list[str] = []
    fetch = (redis or Redis([])).fetch
    order = InOrder(
        lambda e: out.append(e.mid if isinstance(e, StoredMessage) else e.id), fetch, wait_s=0.01, retry_s=0.01
    )
    return order, out


async def settle(order: InOrder) -> None:
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not order._held and not order._repairs:
            return


async def test_entries_in_order_go_straight_through() -> None:
    order, out = made()
    order.covered(CONV, "1-0")
    for mid, prev in (("2-0", "1-0"), ("3-0", "2-0"), ("3-1", "3-0")):
        order.arrive(msg(mid, prev))
    assert out == ["2-0", "3-0", "3-1"]
    assert order.gaps == 0


async def test_an_overtaking_entry_waits_for_its_predecessor_and_both_go_in_order() -> None:
    redis = Redis([])
    order, out = made(redis)
    order.covered(CONV, "1-0")
    order.arrive(msg("3-0", "2-0"))  # 2-0 is still on its way
    assert out == []
    order.arrive(msg("2-0", "1-0"))
    assert out == ["2-0", "3-0"]
    await settle(order)
    assert redis.reads == []  # it came in time: nothing read


async def test_a_missing_entry_is_read_from_redis_once_and_goes_first() -> None:
    lost = msg("2-0", "1-0")
    redis = Redis([msg("1-0", ""), lost, msg("3-0", "2-0")])
    order, out = made(redis)
    order.covered(CONV, "1-0")
    order.arrive(msg("3-0", "2-0"))
    order.arrive(msg("4-0", "3-0"))
    await settle(order)
    assert out == ["2-0", "3-0", "4-0"]
    assert redis.reads == ["1-0"]
    assert order.gaps == 1 and order.repaired == 2  # 2-0, and 3-0 read with it
    order.arrive(lost)  # it turns up after all: already delivered
    assert out == ["2-0", "3-0", "4-0"]


async def test_changes_are_ordered_with_messages() -> None:
    change = StoredChange("3-0", CONV, ChangeKind.EDITED, "2-0", "ann", "new", 3, prev="2-0")
    order, out = made()
    order.covered(CONV, "1-0")
    order.arrive(change)
    order.arrive(msg("2-0", "1-0"))
    assert out == ["2-0", "3-0"]


async def test_without_a_starting_point_or_a_prev_entries_pass_as_they_come() -> None:
    order, out = made()
    order.arrive(msg("5-0", "4-0"))  # nothing known yet: it starts the order
    order.arrive(msg("7-0", None))  # from a node before prev
    order.arrive(msg("6-0", "5-0"))  # older than the tip: had it
    assert out == ["5-0", "7-0"]


async def test_a_repair_that_keeps_failing_lets_the_held_entries_through_in_the_end() -> None:
    redis = Redis([])
    redis.fail = 100
    order, out = made(redis)
    order.covered(CONV, "1-0")
    order.arrive(msg("3-0", "2-0"))
    order.arrive(msg("4-0", "3-0"))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if out:
            break
    assert out == ["3-0", "4-0"]
    assert len(redis.reads) == 5  # ordering.TRIES


async def test_a_repair_that_fails_once_is_tried_again() -> None:
    lost = msg("2-0", "1-0")
    redis = Redis([msg("1-0", ""), lost])
    redis.fail = 1
    order, out = made(redis)
    order.covered(CONV, "1-0")
    order.arrive(msg("3-0", "2-0"))
    await settle(order)
    assert out == ["2-0", "3-0"]
    assert redis.reads == ["1-0", "1-0"]


async def test_a_gap_past_what_one_repair_reads_is_read_on_until_filled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chinwag.server.ordering.GAP_MOST", 2)
    stream = [msg(f"{i}-0", f"{i - 1}-0" if i > 1 else "") for i in range(1, 8)]
    redis = Redis(stream)
    order, out = made(redis)
    order.covered(CONV, "1-0")
    order.arrive(msg("8-0", "7-0"))
    await settle(order)
    assert out == [f"{i}-0" for i in range(2, 9)]
    assert redis.reads == ["1-0", "3-0", "5-0", "7-0"][: len(redis.reads)] and len(redis.reads) >= 3


async def test_forget_drops_what_is_held() -> None:
    order, out = made()
    order.covered(CONV, "1-0")
    order.arrive(msg("3-0", "2-0"))
    order.forget(CONV)
    await asyncio.sleep(0.05)
    assert out == [] and order.tip(CONV) is None
