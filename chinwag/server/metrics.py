"""`--metrics HOST:PORT`: this node's numbers in Prometheus text format.

Two kinds of number, so the message path stays cheap:

- read at scrape time from what the node keeps anyway (connections, users,
  messages accepted and delivered, the heartbeat's age, the search queue):
  a `Readings` the node fills when asked, nothing counted on the way;
- counted as they happen, where nothing else keeps them: plain ints and
  `Histogram`s of our own (a bisect and two additions, no lock: everything
  runs on the event loop, scrapes included), observed once per run of
  sends and once per Redis batch rather than per message where the code
  allows. prometheus_client only formats them, through a custom collector.

Label values come from fixed sets only: request types from the protocol's
table (anything else a client names is "unknown"), error codes from
ErrorCode, Redis paths "batch" and "call", and the node id the operator
gave. A username, room name or message text never becomes a label.

The endpoint is a small HTTP/1.1 responder on the event loop, not
prometheus_client's thread server: a scrape makes its few hundred lines in
a millisecond or two, and on the loop it sees one consistent moment of the
counters without locks on the hot path (a thread would hold the GIL for
that time anyway). It answers `GET /metrics`
(and HEAD), closes each connection after the answer, gives a client
REQUEST_TIMEOUT_S to send its request and serves at most MAX_SCRAPES at once.
With metrics off (the default) the node uses NO_METRICS, whose observations
do nothing, and listens on nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .. import __version__
from ..protocol.errors import ErrorCode
from ..protocol.messages import REQUEST_TYPES

log = logging.getLogger(__name__)

S = TypeVar("S", bound=Callable[..., Awaitable[Any]])

UNKNOWN_TYPE = "unknown"  # a frame whose type is not in the protocol's table (or not a string)
NO_REQUEST = "none"  # an error answering no request: a bad frame, a refused connection
REQUEST_LABELS: tuple[str, ...] = tuple(sorted(REQUEST_TYPES))
_TYPE_LABELS = frozenset(REQUEST_LABELS)
_CODE_LABELS = frozenset(str(code) for code in ErrorCode)
REDIS_PATHS = ("batch", "call")  # the engine's batched script calls; its other round trips

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

REQUEST_TIMEOUT_S = 5.0  # for a scraper to send its request head, and to take the answer
MAX_REQUEST_HEAD = 8192
MAX_SCRAPES = 8  # answered at once; further connections are closed at once


class MetricsUnavailable(Exception):
    """The metrics endpoint cannot listen where --metrics says; one line for the operator."""


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[v6]:PORT` for an IPv6 address) as (host, port); ValueError saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:9464)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"'{text}': {host} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"'{text}': write an IPv6 address in brackets, e.g. [::1]:9464")
    port = int(port_text)
    if not 0 <= port <= 65_535:
        raise ValueError(f"'{text}': {port} is not a TCP port (0 to 65535)")
    return host, port


class Histogram:
    """A cumulative-bucket histogram for one event-loop thread: `observe`
    is a bisect and three additions, no lock."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """`times` events of `value` each (a run of sends answered together)."""
        self.counts[bisect_left(self.bounds, value)] += times
        self.count += times
        self.total += value * times

    def buckets(self) -> list[tuple[str, float]]:
        """Prometheus's cumulative buckets, `le` as text, +Inf last."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((repr(float(bound)), running))
        out.append(("+Inf", self.count))
        return out


@dataclass(frozen=True, slots=True)
class Readings:
    """What the node keeps anyway, read at scrape time."""

    connections: int  # open, logged in or not
    users: int  # distinct users logged in on this node
    logged_in: int  # connections logged in
    accepted: int  # messages stored by this node
    delivered: int  # message events handed to local connections
    heartbeat_age: float | None  # seconds since this node's last heartbeat went through (None: none yet)
    index_queue: int | None  # entries waiting for the search index (None: no index)
    delivery_gaps: int = 0  # conversations' entries that arrived before their predecessor (InOrder.gaps)
    gap_entries_read: int = 0  # entries those gaps' repairs read from Redis and delivered (InOrder.repaired)


class Metrics:
    """This node's counters and histograms, and the collector that formats them."""

    def __init__(self, node_id: str, read: Callable[[], Readings] | None = None) -> None:
        self.node_id = node_id
        self.read = read
        self.requests: dict[str, int] = dict.fromkeys(REQUEST_LABELS, 0)
        self.errors: dict[tuple[str, str], int] = {}
        self.overflows = 0
        self.send_latency = Histogram(LATENCY_BUCKETS)
        self.search_latency = Histogram(LATENCY_BUCKETS)
        self.batch_sizes = Histogram(BATCH_BUCKETS)
        self.redis_latency = {path: Histogram(REDIS_BUCKETS) for path in REDIS_PATHS}
        self.redis_failures = dict.fromkeys(REDIS_PATHS, 0)

    # --- observations (the hot path: keep them short) ----------------------------------

    def request(self, kind: str) -> None:
        """A request of a type from the protocol's table taken for handling."""
        self.requests[kind] += 1

    def sent(self, count: int, since: float) -> None:
        """A run of `count` sends answered; the oldest arrived at `since`
        (time.perf_counter()): each counts with the run's latency."""
        self.requests["send"] += count
        self.send_latency.observe(time.perf_counter() - since, count)

    def error(self, kind: object, code: str) -> None:
        """An `error` frame sent. `kind`: the request type it answers, as
        the client wrote it (hostile: anything outside the table is
        "unknown"), or NO_REQUEST."""
        if kind != NO_REQUEST and not (type(kind) is str and kind in _TYPE_LABELS):
            kind = UNKNOWN_TYPE
        key = (str(kind), str(code) if code in _CODE_LABELS else str(ErrorCode.INTERNAL))
        self.errors[key] = self.errors.get(key, 0) + 1

    def overflow(self) -> None:
        """A client dropped with `bye overflow`."""
        self.overflows += 1

    def redis_batch(self, size: int, seconds: float, failed: bool) -> None:
        """One batch of queued script calls went to Redis (engine.py)."""
        self.batch_sizes.observe(size)
        self.redis_latency["batch"].observe(seconds)
        if failed:
            self.redis_failures["batch"] += 1

    def redis_call(self, seconds: float, failed: bool) -> None:
        """One other round trip to Redis (a read, a pipeline, a single script call)."""
        self.redis_latency["call"].observe(seconds)
        if failed:
            self.redis_failures["call"] += 1

    def timed_search(self, search: S) -> S:
        """`search` (the index's answer to one request), its time observed, failures too."""

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await search(*args, **kwargs)
            finally:
                self.search_latency.observe(time.perf_counter() - started)

        return cast(S, timed)

    # --- the collector ------------------------------------------------------------------

    def _count(self, type_: str, code: str) -> int:
        return self.errors.get((type_, code), 0)

    def collect(self) -> Iterable[Metric]:
        """prometheus_client's Collector protocol: every family, labelled by node."""
        node = self.node_id
        n = ["node"]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=n)
            family.add_metric([node], value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=n)
            family.add_metric([node], value)
            return family

        def histogram(family: HistogramMetricFamily, labels: list[str], h: Histogram) -> None:
            family.add_metric(labels, h.buckets(), h.total)

        info = GaugeMetricFamily("chinwag_node_info", "This node: its version (always 1).", labels=[*n, "version"])
        info.add_metric([node, __version__], 1)
        yield info

        readings = self.read() if self.read is not None else None
        if readings is not None:
            yield gauge("chinwag_connections", "Client connections open, logged in or not.", readings.connections)
            yield gauge("chinwag_logged_in_connections", "Client connections logged in.", readings.logged_in)
            yield gauge("chinwag_users", "Distinct users logged in on this node.", readings.users)
            yield counter("chinwag_messages_accepted", "Messages stored by this node.", readings.accepted)
            yield counter(
                "chinwag_messages_delivered",
                "Message events handed to this node's connections (a room message counts once per recipient).",
                readings.delivered,
            )
            yield counter(
                "chinwag_delivery_gaps",
                "Entries that reached this node before the entry before them in their conversation.",
                readings.delivery_gaps,
            )
            yield counter(
                "chinwag_delivery_gap_entries_read",
                "Entries the node read from Redis to fill those gaps, and delivered.",
                readings.gap_entries_read,
            )
            if readings.heartbeat_age is not None:
                yield gauge(
                    "chinwag_heartbeat_age_seconds",
                    "Seconds since this node's last heartbeat went through to Redis.",
                    readings.heartbeat_age,
                )
            if readings.index_queue is not None:
                yield gauge(
                    "chinwag_search_index_queue", "Entries waiting for this node's search index.", readings.index_queue
                )

        requests = CounterMetricFamily(
            "chinwag_requests",
            "Requests taken for handling, by type (a run of merged acks counts once).",
            labels=[*n, "type"],
        )
        for kind, value in self.requests.items():
            requests.add_metric([node, kind], value)
        yield requests

        errors = CounterMetricFamily(
            "chinwag_errors",
            "Error frames sent, by the request type they answer and code.",
            labels=[*n, "type", "code"],
        )
        for (kind, code), value in sorted(self.errors.items()):
            errors.add_metric([node, kind, code], value)
        yield errors

        failures = CounterMetricFamily(
            "chinwag_login_failures", "Logins and resumes refused for bad credentials.", labels=[*n, "type"]
        )
        throttled = CounterMetricFamily(
            "chinwag_login_throttled", "Logins and resumes refused by the login limits.", labels=[*n, "type"]
        )
        for kind in ("login", "resume"):
            failures.add_metric([node, kind], self._count(kind, ErrorCode.BAD_CREDENTIALS))
            throttled.add_metric([node, kind], self._count(kind, ErrorCode.THROTTLED))
        yield failures
        yield throttled

        yield counter("chinwag_overflow_drops", "Clients dropped for not reading (bye overflow).", self.overflows)

        send = HistogramMetricFamily(
            "chinwag_send_latency_seconds", "Sends, from the frame in to the answer out.", labels=n
        )
        histogram(send, [node], self.send_latency)
        yield send

        search = HistogramMetricFamily("chinwag_search_latency_seconds", "Search requests answered.", labels=n)
        histogram(search, [node], self.search_latency)
        yield search

        sizes = HistogramMetricFamily(
            "chinwag_redis_batch_size", "Script calls per batched round trip to Redis.", labels=n
        )
        histogram(sizes, [node], self.batch_sizes)
        yield sizes

        latency = HistogramMetricFamily(
            "chinwag_redis_round_trip_seconds",
            "Round trips to Redis: a batch of script calls, or another call.",
            labels=[*n, "path"],
        )
        redis_failures = CounterMetricFamily(
            "chinwag_redis_failures", "Round trips to Redis that failed or timed out.", labels=[*n, "path"]
        )
        for path in REDIS_PATHS:
            histogram(latency, [node, path], self.redis_latency[path])
            redis_failures.add_metric([node, path], self.redis_failures[path])
        yield latency
        yield redis_failures


class _Off(Metrics):
    """Metrics off: every observation does nothing."""

    def request(self, kind: str) -> None:
        pass

    def sent(self, count: int, since: float) -> None:
        pass

    def error(self, kind: object, code: str) -> None:
        pass

    def overflow(self) -> None:
        pass

    def redis_batch(self, size: int, seconds: float, failed: bool) -> None:
        pass

    def redis_call(self, seconds: float, failed: bool) -> None:
        pass

    def timed_search(self, search: S) -> S:
        return search


NO_METRICS: Metrics = _Off("")


def registry_for(metrics: Metrics) -> CollectorRegistry:
    """The node's collector plus prometheus_client's process, platform and GC ones."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class MetricsServer:
    """The HTTP endpoint on the event loop (see the module's docstring)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._server: asyncio.Server | None = None
        self._active = 0

    @classmethod
    async def start(cls, registry: CollectorRegistry, address: str) -> MetricsServer:
        """Listen on `address` (HOST:PORT); MetricsUnavailable saying why not."""
        host, port = parse_address(address)
        self = cls(registry)
        try:
            self._server = await asyncio.start_server(
                self._serve, host, port, limit=MAX_REQUEST_HEAD, reuse_address=True
            )
        except OSError as exc:
            why = "it is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise MetricsUnavailable(
                f"cannot serve metrics on {address} ({why}): choose another with --metrics"
            ) from None
        return self

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= MAX_SCRAPES:
            writer.close()
            return
        self._active += 1
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status, body, head_only = await self._answer(reader)
                reason = _REASONS[status]
                content_type = CONTENT_TYPE_LATEST if status == 200 else "text/plain; charset=utf-8"
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                )
                if not head_only:
                    writer.write(body)
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a scraper that went away or dawdled: nothing to tell
        except Exception:
            log.exception("metrics endpoint failed")
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return 400, b"not an HTTP request\n", False
        method, target = parts[0], parts[1]
        if target.split(b"?", 1)[0] != b"/metrics":
            return 404, b"metrics are at /metrics\n", method == b"HEAD"
        if method not in (b"GET", b"HEAD"):
            return 405, b"GET /metrics\n", False
        return 200, generate_latest(self.registry), method == b"HEAD"
