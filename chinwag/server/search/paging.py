"""The order of search results and the `next` cursor that continues it.

Results come newest first by the order key (`order_key`), and among equal
keys (two conversations with the same stream id) by conversation and then
by id, newest first: a total order. A cursor names the last result given,
so the next page is everything after it in that order. Messages accepted
between pages are newer than any cursor and never appear on a later page;
nothing is repeated or skipped, as an offset would when the index grows.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from ..conv import mid_key
from .query import QueryError

MS_BITS, SEQ_BITS = 42, 22  # 2**42 ms is the year 2109; 4 million ids in one ms of one conversation
_VERSION = 1
_HEAD = struct.Struct(">BQQQ")  # version, order key, ms, seq
CONV_BYTES_MAX = 256  # of a cursor's conversation id; ours are far shorter
PAGE_CHARS_MAX = 4 * (_HEAD.size + CONV_BYTES_MAX) // 3 + 4


def order_key(mid: str) -> int:
    """A u64 that sorts like the stream id `ms-seq`: ms in the high bits and
    seq in the low ones. Distinct within a conversation for every id Redis
    makes before 2109 with fewer than 2**22 ids in one millisecond; beyond
    that it saturates, and `rank`'s tie-break still orders results exactly."""
    ms, seq = mid_key(mid)
    return (min(ms, (1 << MS_BITS) - 1) << SEQ_BITS) | min(seq, (1 << SEQ_BITS) - 1)


@dataclass(frozen=True, slots=True)
class Position:
    """A result's place in the order: also what a cursor holds."""

    order: int
    conv: str
    mid: str

    def rank(self) -> tuple[int, str, int, int]:
        """Ascending rank = result order (newest first)."""
        ms, seq = mid_key(self.mid)
        return -self.order, self.conv, -ms, -seq


def encode_page(last: Position) -> str:
    ms, seq = mid_key(last.mid)
    raw = _HEAD.pack(_VERSION, last.order, ms, seq) + last.conv.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page(page: str) -> Position:
    """The position a `next` string names; QueryError for anything else."""
    if not isinstance(page, str) or not 0 < len(page) <= PAGE_CHARS_MAX or not page.isascii():
        raise QueryError("bad page")
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
    except (binascii.Error, ValueError):
        raise QueryError("bad page") from None
    if len(raw) <= _HEAD.size or len(raw) > _HEAD.size + CONV_BYTES_MAX:
        raise QueryError("bad page")
    version, order, ms, seq = _HEAD.unpack_from(raw)
    try:
        conv = raw[_HEAD.size :].decode()
    except UnicodeDecodeError:
        raise QueryError("bad page") from None
    if version != _VERSION or encode_page(Position(order, conv, f"{ms}-{seq}")) != page:
        raise QueryError("bad page")
    return Position(order, conv, f"{ms}-{seq}")
