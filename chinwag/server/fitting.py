"""Cutting a reply's list to what fits in one frame: a page of long
messages, a long room or member list is cut, never refused (the reply says
`more`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from ..protocol.frames import FrameTooLarge, encode_frame


def fit_start(items: list[Any], frame_of: Callable[[list[Any]], dict[str, Any]], max_frame: int) -> list[Any]:
    """`_fit` from the start for many small items, in about two encodings
    instead of a dozen: each item is measured once, the count that fits is
    found from the running total, then checked."""
    if not items:
        return items
    overhead = len(encode_frame(frame_of([])))
    total, n = overhead + 4, 0  # 4: the largest growth of an array header
    for item in items:
        total += len(msgpack.packb(item, use_bin_type=True))
        if total > max_frame:
            break
        n += 1
    try:
        encode_frame(frame_of(items[:n]), max_frame)
    except FrameTooLarge:  # the estimate is an upper bound, so this does not happen; stay safe
        return fit(items[:n], frame_of, max_frame, keep="start")
    return items[:n]


def fit(items: list[Any], frame_of: Callable[[list[Any]], dict[str, Any]], max_frame: int, keep: str) -> list[Any]:
    """The longest run of `items` (from the end or the start) whose reply fits
    in one frame; a history page of long messages is cut, never refused."""
    lo, hi = 0, len(items)

    def fits(n: int) -> bool:
        part = items[len(items) - n :] if keep == "end" else items[:n]
        try:
            encode_frame(frame_of(part), max_frame)
        except FrameTooLarge:
            return False
        return True

    if fits(hi):
        return items
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return items[len(items) - lo :] if keep == "end" else items[:lo]
