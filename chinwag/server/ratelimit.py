"""Rate limits on an injectable clock: a token bucket per connection and
action, and an interval gate (at most one event per key per interval)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Clock = Callable[[], float]
K = TypeVar("K", bound=Hashable)


class TokenBucket:
    __slots__ = ("burst", "clock", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> float:
        """Take one token; returns 0.0 on success, else seconds until one is free."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else float("inf")


class IntervalGate(Generic[K]):
    """Lets an event for a key through at most once every `interval` seconds.
    Past `max_keys` remembered keys, the ones whose interval is over are
    forgotten, so the table stays bounded by the keys active lately."""

    __slots__ = ("_last", "clock", "interval", "max_keys")

    def __init__(self, interval: float, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self._last: dict[K, float] = {}

    def allow(self, key: K) -> bool:
        now = self.clock()
        if now - self._last.get(key, -1e9) < self.interval:
            return False
        if len(self._last) > self.max_keys:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        return True
