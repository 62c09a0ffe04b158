"""A clock a test moves by hand, for the server's timers (ChatServer.clock):
the sweep's pre-login, idle and ping timeouts, the rate buckets and the
typing interval then take no wall time to test."""

from __future__ import annotations

from chinwag.server.app import ChatServer


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def install_clock(server: ChatServer) -> FakeClock:
    """Give a started server a fake clock; do it before the test's first
    connection (each connection's buckets and timestamps read it)."""
    clock = FakeClock()
    server.clock = clock
    return clock


def tick(server: ChatServer, clock: FakeClock, seconds: float) -> None:
    """Move time on and run the sweep, as the housekeeper would."""
    clock.advance(seconds)
    server.sweep()
