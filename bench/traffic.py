"""The message-traffic engine shared by the `dm` and `room` workloads.

Each worker process logs its share of the users in through a driver
(bench/drivers.py: the real `ChatClient`, the lean raw-protocol driver, or
IRC for a peer server) and, per phase:

1. sends from `t_start` to `t_end`, either closed-loop (each sender keeps at
   most `window` sends in flight) or open-loop at a fixed offered rate (sends
   scheduled at exact times; latency is measured from the *scheduled* time, so
   a stalled server or load generator cannot hide its own delay);
2. waits for every reply, then tells the runner what was acknowledged;
3. receives until every client holds everything addressed to it (the runner
   says how much that is) or a deadline passes, plus a short grace for late
   duplicates;
4. returns what was acknowledged, what was received, duplicates and latencies.

Every message text starts with the sender's send (or scheduled) time from
CLOCK_MONOTONIC, which all processes on the machine share, so the receiver
computes the end-to-end latency. Each client dedupes by `(conv, mid)` and
counts what it saw twice before deduping. The chinwag drivers ack
automatically, as any real client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple

from .clients import bounded_gather
from .drivers import Conn, DriverName, open_conn, stamp_of, written_of
from .machine import sleep_until
from .stats import percentile, rounded
from .window import Window, WindowServer
from .workers import AsyncPipe, Stop, WorkerPool

# Open-loop mode: a client with this many sends unanswered skips its next
# scheduled sends (counted as `not_offered`): the system is overloaded, and
# the latency figures are then a lower bound.
MAX_IN_FLIGHT = 16
DRAIN_TIMEOUT = 20.0
GRACE = 0.2


async def _until(done: Callable[[], bool], deadline: float) -> None:
    """Poll `done` every 10 ms until true or `deadline` (monotonic): the
    counters it reads are bumped by every receiver, far too often for an Event."""
    while not done():
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.01)


# --- what runner and workers say to each other --------------------------------------


class Delivery(NamedTuple):
    """One message on its way: who sent it, to whom (a DM's recipient, or the
    room's address), and the server's mid."""

    sender: str
    recipient: str
    mid: str


@dataclass
class TrafficConfig:
    """A worker's share of the users and how they behave."""

    kind: Literal["dm", "room"]
    port: int
    ports: list[int]  # the node each of `users` logs in to
    users: list[str]
    everyone: list[str]
    room: str = "bench"
    senders: list[str] | None = None  # None: every user sends
    peers: int = 0
    acks: bool = True
    warm_both_ways: bool = False
    warm_concurrency: int = 24
    driver: DriverName = "client"


@dataclass(frozen=True)
class PhaseSpec:
    """One measured phase, as the runner asks a worker to run it."""

    kind: Literal["dm", "room"]
    mode: Literal["closed", "rate"]
    phase: str  # the prefix of this phase's cmids
    tag: str  # phase + worker: the cmid prefix of this worker's sends
    seed: int = 0
    window: int = 0  # closed loop: sends in flight per sender
    rate: float = 0.0  # fixed rate: sends/s offered by this worker
    t_start: float = 0.0
    t_warm: float = 0.0
    t_end: float = 0.0


@dataclass(frozen=True)
class Ready:
    clients: int


@dataclass(frozen=True)
class Settle:
    """Runner -> worker: consume what setup left queued."""


@dataclass(frozen=True)
class Settled:
    pass


@dataclass(frozen=True)
class SentReport:
    """Worker -> runner, after sending: acknowledged sends, in all and per
    DM recipient."""

    per_recipient: dict[str, int]
    acked: int


@dataclass(frozen=True)
class Expect:
    """Runner -> worker: the totals over all workers (what to wait for)."""

    per_recipient: dict[str, int]
    acked: int


@dataclass
class PhaseResult:
    """Worker -> runner: what one phase sent and received."""

    acked: list[Delivery] = field(default_factory=list)
    received: list[Delivery] = field(default_factory=list)  # dm: from others
    room_counts: dict[str, int] = field(default_factory=dict)  # room: mid -> local members that got it
    latencies: array = field(default_factory=lambda: array("d"))
    issue_lags: array = field(default_factory=lambda: array("d"))  # open loop: ms from scheduled time to write
    from_write: array = field(default_factory=lambda: array("d"))  # open loop: latencies from the write
    skipped: int = 0
    sent_in_window: int = 0
    in_window: int = 0
    echo_in_window: int = 0
    dups: int = 0
    echo_dups: int = 0
    echo_lost: int = 0
    closed: int = 0
    unsatisfied: int = 0
    acks_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)


Seen = tuple[str, str]  # (conv, mid) as the receiving client sees it


class ClientState:
    __slots__ = (
        "acked",
        "acked_n",
        "address",
        "closed",
        "conn",
        "dups",
        "echo_dups",
        "echo_got",
        "echo_in_window",
        "echo_seen",
        "errors",
        "expected",
        "got",
        "in_window",
        "inflight",
        "name",
        "peers",
        "room_counts",
        "seen",
        "seq",
        "waiter",
        "window",
    )

    def __init__(self, name: str, conn: Conn, peers: list[str]) -> None:
        self.name = name
        self.conn = conn
        self.peers = peers
        self.address = "@" + name
        self.seq = 0
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None
        self.reset()

    def reset(self) -> None:
        self.inflight = 0
        self.window = 0  # closed loop: sends kept in flight; 0 otherwise
        self.acked: list[Delivery] = []
        self.acked_n = 0
        self.seen: set[Seen] = set()
        self.echo_seen: set[Seen] = set()
        self.got = self.echo_got = self.dups = self.echo_dups = 0
        self.expected: int | None = None
        self.in_window = self.echo_in_window = 0
        self.errors: Counter[str] = Counter()
        self.room_counts: Counter[str] | None = None
        self.conn.reset_acks()


class Phase:
    """One measured run inside a worker."""

    def __init__(self, spec: PhaseSpec, states: list[ClientState], room: str) -> None:
        self.spec = spec
        self.states = states
        self.kind = spec.kind
        self.conv = "#" + room
        self.t_start = int(spec.t_start * 1e9)
        self.t_warm = int(spec.t_warm * 1e9)
        self.t_end = int(spec.t_end * 1e9)
        self.tag = spec.tag
        self.rng = random.Random(spec.seed)
        self.random = self.rng.random
        self.latencies = array("d")
        self.issue_lags = array("d")
        self.from_write = array("d")
        self.room_counts: Counter[str] = Counter()  # room: mid -> local members that got it
        self.skipped = 0
        self.sent_in_window = 0
        self.stop_receiving = False

    # --- sending ---------------------------------------------------------------

    def issue(self, st: ClientState, stamp: int, written: int | None = None) -> None:
        if self.kind == "dm":
            peers = st.peers
            peer = peers[int(self.random() * len(peers))]
            to = "@" + peer
        else:
            peer, to = self.conv, self.conv
        st.seq += 1
        # tag: phase + worker
        if not st.conn.send(to, stamp, f"{self.tag}.{st.seq}", partial(self.replied, st, peer), written):
            st.closed = True
            st.errors["closed"] += 1
            return
        st.inflight += 1
        if self.t_warm <= stamp < self.t_end:
            self.sent_in_window += 1

    def replied(self, st: ClientState, peer: str, mid: str | None, error: str | None) -> None:
        st.inflight -= 1
        if mid is None:
            st.errors[error or "unknown"] += 1
        else:
            st.acked_n += 1
            st.acked.append(Delivery(st.name, peer, mid))
        if st.window:  # closed loop: the answer frees a place in the window, refilled at once
            now = time.monotonic_ns()
            if not st.closed and now < self.t_end:
                self.issue(st, now)
            if st.inflight == 0:
                waiter = st.waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def closed_loop(self, st: ClientState, window: int) -> None:
        """Keep `window` sends in flight from `st` until t_end: the first
        `window` now, then one more from each reply's callback (no task wakes
        per send), then wait for the last answers."""
        await sleep_until_ns(self.t_start)
        st.window = window
        now = time.monotonic_ns()
        while not st.closed and st.inflight < window and now < self.t_end:
            self.issue(st, now)
            now = time.monotonic_ns()
        if st.inflight:
            st.waiter = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(st.waiter, max(0.0, (self.t_end - now) / 1e9) + DRAIN_TIMEOUT)
            st.waiter = None
        st.window = 0

    async def open_loop(self, senders: list[ClientState], rate: float) -> None:
        """Offer `rate` sends/s in total from `senders`, round-robin, each
        scheduled at an exact time."""
        if rate <= 0 or not senders:
            return
        await sleep_until_ns(self.t_start)
        interval = 1e9 / rate
        k = 0
        count = len(senders)
        while True:
            now = time.monotonic_ns()
            if now >= self.t_end:
                break
            due = int((now - self.t_start) / interval) + 1
            while k < due:
                stamp = self.t_start + int(k * interval)
                if stamp >= self.t_end:
                    break
                st = senders[k % count]
                if st.inflight >= MAX_IN_FLIGHT or st.closed:
                    self.skipped += 1
                else:
                    written = time.monotonic_ns()
                    self.issue(st, stamp, written)
                    if self.t_warm <= stamp:
                        # the generator's own lateness, inside every latency figure of the phase
                        self.issue_lags.append((written - stamp) / 1e6)
                k += 1
            await asyncio.sleep(0.001)  # uvloop timers have 1 ms resolution; shorter spins

    async def wait_replies(self, timeout: float) -> None:
        await _until(lambda: not any(st.inflight for st in self.states), time.monotonic() + timeout)

    # --- receiving ---------------------------------------------------------------

    def receiver(self, st: ClientState) -> Callable[[str, str, str, str, str], None]:
        """The sink for `st`'s connection during this phase."""
        dm = self.kind == "dm"
        t_warm, t_end = self.t_warm, self.t_end
        latencies = self.latencies
        from_write = self.from_write
        prefix = self.spec.phase + "w"
        room_conv = self.conv
        room_counts = self.room_counts
        name = st.name
        seen = st.seen
        echo_seen = st.echo_seen
        monotonic_ns = time.monotonic_ns

        def on_message(conv: str, mid: str, sender: str, text: str, cmid: str) -> None:
            if self.stop_receiving or not cmid.startswith(prefix):
                return  # not a message of this phase (setup traffic, or another phase's)
            now = monotonic_ns()
            key = (conv, mid)
            if dm:
                if sender == name:  # our own message, echoed to the sending connection
                    if key in echo_seen:
                        st.echo_dups += 1
                        return
                    echo_seen.add(key)
                    st.echo_got += 1
                    if t_warm <= now < t_end:
                        st.echo_in_window += 1
                    return
                if key in seen:
                    st.dups += 1
                    return
                seen.add(key)
            else:
                if conv != room_conv:
                    return
                if key in seen:
                    st.dups += 1
                    return
                seen.add(key)
                room_counts[mid] += 1
            st.got += 1
            if t_warm <= now < t_end:
                st.in_window += 1
            stamp = stamp_of(text)
            if t_warm <= stamp < t_end:
                latencies.append((now - stamp) / 1e6)
                written = written_of(text)
                if written is not None:
                    from_write.append((now - written) / 1e6)

        return on_message

    def satisfied(self, st: ClientState) -> bool:
        if st.closed:
            return True
        if st.expected is None or st.got < st.expected:
            return False
        return self.kind != "dm" or not st.conn.echoes or st.echo_got >= st.acked_n


async def settle(states: list[ClientState], quiet: float = 0.3, limit: float = 15.0) -> None:
    """Let whatever setup left queued arrive (and be acked), until no client
    has heard anything for `quiet` seconds, so phases start clean."""
    deadline = time.monotonic() + limit
    heard = -1
    while time.monotonic() < deadline:
        now_heard = sum(st.conn.heard for st in states)
        if now_heard == heard:
            return
        heard = now_heard
        await asyncio.sleep(quiet)
    raise TimeoutError(f"setup traffic still arriving after {limit:.0f} s")


def pick_peers(name: str, everyone: list[str], count: int) -> list[str]:
    """The users `name` writes to: `count` others at random offsets (the same
    offsets for everyone, so if A writes to B, B writes to A), or every other
    user if `count` is 0."""
    n = len(everyone)
    if count <= 0 or count >= n - 1:
        return [p for p in everyone if p != name]
    offsets = random.Random(20261129).sample(range(1, (n + 1) // 2), max(1, count // 2))
    i = everyone.index(name)
    return sorted({everyone[(i + o) % n] for o in offsets} | {everyone[(i - o) % n] for o in offsets})


async def sleep_until_ns(t: int) -> None:
    delay = (t - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


async def traffic_worker(config: TrafficConfig, pipe: AsyncPipe) -> None:
    kind = config.kind
    room = config.room
    names = config.users
    everyone = config.everyone
    auto_ack = config.acks
    # the node each user logs in to (several nodes: `ports`, one per user)
    port_of = dict(zip(names, config.ports or [config.port] * len(names), strict=True))
    conns = await bounded_gather(names, lambda n: open_conn(config.driver, port_of[n], n, auto_ack), 16)
    failed = [c for c in conns if isinstance(c, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} logins failed; first: {failed[0]!r}")
    states = [ClientState(n, c, pick_peers(n, everyone, config.peers)) for n, c in zip(names, conns, strict=True)]
    if kind == "room":
        joined = await bounded_gather(states, lambda st: st.conn.join(room), 16)
        bad = [j for j in joined if isinstance(j, Exception)]
        if bad:
            raise RuntimeError(f"{len(bad)} joins failed; first: {bad[0]!r}")
    if kind == "dm" and config.driver != "irc":
        # (IRC records nothing, and a nick exists only once its user is
        # connected, perhaps by another worker: nothing to warm there.)
        # The first message between two users records the conversation for both
        # (a Redis round trip outside the send batch); send it now, gently, so
        # the measurement sees the steady state. Receivers skip it (other tag).
        # A node remembers the conversations and users it has checked, so with
        # several nodes each side sends one (both users' nodes learn the pair).
        both = config.warm_both_ways

        async def first_messages(st: ClientState) -> None:
            for peer in (p for p in st.peers if both or st.name < p):
                await st.conn.send_wait("@" + peer, time.monotonic_ns(), f"warm.{peer}")

        warmed = await bounded_gather(states, first_messages, config.warm_concurrency)
        bad = [w for w in warmed if isinstance(w, Exception)]
        if bad:
            raise RuntimeError(f"{len(bad)} clients failed to open their conversations; first: {bad[0]!r}")
    pipe.send(Ready(len(states)))
    sending = set(names if config.senders is None else config.senders)
    senders = [st for st in states if st.name in sending]

    while True:
        command = await pipe.recv(timeout=900)
        if isinstance(command, Stop):
            break
        if isinstance(command, Settle):
            await settle(states)
            pipe.send(Settled())
            continue
        assert isinstance(command, PhaseSpec), command
        spec = command
        for st in states:
            st.reset()
        phase = Phase(spec, states, room)
        for st in states:
            st.conn.sink = phase.receiver(st)
        if spec.mode == "closed":
            await asyncio.gather(*(phase.closed_loop(st, spec.window) for st in senders))
        else:
            await phase.open_loop(senders, spec.rate)
        await phase.wait_replies(DRAIN_TIMEOUT)
        per_recipient: Counter[str] = Counter()
        total = 0
        for st in states:
            total += st.acked_n
            if kind == "dm":
                per_recipient.update(d.recipient for d in st.acked)
        pipe.send(SentReport(dict(per_recipient), total))
        expect = await pipe.recv(timeout=120)
        assert isinstance(expect, Expect), expect
        for st in states:
            # a room member expects every message (but its own where the server
            # does not deliver those to their sender); a DM user what was sent to it
            if kind == "room":
                st.expected = expect.acked - (0 if st.conn.self_delivery else st.acked_n)
            else:
                st.expected = expect.per_recipient.get(st.name, 0)
        await _until(lambda phase=phase: all(phase.satisfied(st) for st in states), time.monotonic() + DRAIN_TIMEOUT)
        await asyncio.sleep(GRACE)
        phase.stop_receiving = True
        for st in states:
            st.conn.sink = None
        pipe.send(collect(phase, states, kind))

    for st in states:
        await st.conn.close()


def collect(phase: Phase, states: list[ClientState], kind: str) -> PhaseResult:
    errors: Counter[str] = Counter()
    out = PhaseResult(
        latencies=phase.latencies,
        issue_lags=phase.issue_lags,
        from_write=phase.from_write,
        skipped=phase.skipped,
        sent_in_window=phase.sent_in_window,
        closed=sum(st.closed or st.conn.closed for st in states),
        acks_sent=sum(st.conn.acks_sent() for st in states),
    )
    for st in states:
        errors.update(st.errors)
        out.acked.extend(st.acked)
        out.in_window += st.in_window
        out.echo_in_window += st.echo_in_window
        out.dups += st.dups
        out.echo_dups += st.echo_dups
        if not phase.satisfied(st):
            out.unsatisfied += 1
        if kind == "dm":
            # what this client received from others: its conv is "@sender"
            out.received.extend(Delivery(conv[1:], st.name, mid) for conv, mid in st.seen)
            if st.conn.echoes:
                out.echo_lost += st.acked_n - len({("@" + d.recipient, d.mid) for d in st.acked} & st.echo_seen)
    if kind == "room":
        out.room_counts = dict(phase.room_counts)
    out.errors = dict(errors)
    return out


# --- the runner's side ------------------------------------------------------------


def drive_phase(
    server: WindowServer, pool: WorkerPool, specs: list[PhaseSpec], warmup: float, duration: float
) -> tuple[Window, list[PhaseResult]]:
    """Run one phase on every worker: `specs[i]` goes to worker i, with the
    shared timing added. Returns the CPU window (warm-up excluded) and the
    workers' results."""
    t_start = time.monotonic() + 0.5
    t_warm, t_end = t_start + warmup, t_start + warmup + duration
    pool.send_each([dataclasses.replace(spec, t_start=t_start, t_warm=t_warm, t_end=t_end) for spec in specs])
    window = Window(server, pool, label=f"{specs[0].kind}-{specs[0].phase}")
    sleep_until(t_warm)
    window.open()
    sleep_until(t_end)
    window.close()
    sent = pool.recv_all(SentReport, timeout=DRAIN_TIMEOUT + 60)
    per_recipient: Counter[str] = Counter()
    for report in sent:
        per_recipient.update(report.per_recipient)
    pool.send_all(Expect(dict(per_recipient), sum(report.acked for report in sent)))
    results = pool.recv_all(PhaseResult, timeout=DRAIN_TIMEOUT + 60)
    return window, results


def issue_lag_summary(lags: list[array], from_write: list[array]) -> dict[str, Any]:
    """How late the generator wrote its scheduled sends (open loop), and the
    latencies counted from the write instead: its timer wakes every 1 ms at
    best, so at a low rate a send leaves up to a millisecond after the time
    its latency is measured from. Empty for a closed loop."""
    lag = sorted(x for part in lags for x in part)
    written = sorted(x for part in from_write for x in part)
    if not lag:
        return {}
    return {
        "loadgen_issue_lag_p50_ms": rounded(percentile(lag, 50), 3),
        "loadgen_issue_lag_p99_ms": rounded(percentile(lag, 99), 3),
        "p50_from_write_ms": rounded(percentile(written, 50)),
        "p99_from_write_ms": rounded(percentile(written, 99)),
    }


def latency_summary(parts: list[array]) -> dict[str, Any]:
    merged: list[float] = []
    for part in parts:
        merged.extend(part)
    merged.sort()
    return {
        "latency_samples": len(merged),
        "p50_ms": rounded(percentile(merged, 50)),
        "p99_ms": rounded(percentile(merged, 99)),
        "p999_ms": rounded(percentile(merged, 99.9)),
        "max_ms": rounded(merged[-1] if merged else None),
    }
