"""The Redis engine under the store: connections, script loading, and the
batched script calls of the message path. It knows nothing of chinwag's
data; store.py says what to call, this module says how.

One redis-py client and connection pool per process, plus, on a single
Redis, the lean RESP connection (resp.py) for the batched path. Batched
calls (the store's `send` and `ack`, a resume's scripts and the presence
count, the read side's script pages) queue during one turn of the event loop
and go to Redis together, one batch in flight at a time, so a busy server
makes one round trip per batch rather than per call, and results come back
in the order Redis applied them. On a single Redis the calls of one script
run as a few calls of its *_MANY form (see `Coalesced`); on a cluster each
is one EVALSHA, routed by its keys.

The rules this module keeps (see docs/reliability.md): a reply is only ever
given to the call that asked for it, replies and calls are never paired over
unequal lengths, and no await on Redis is unbounded (`guard`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from .resp import RespConnection, RespError, RespSubscription

log = logging.getLogger(__name__)

T = TypeVar("T")

CLUSTER_SCHEME = "redis+cluster://"

SCRIPT_CHUNK = 128  # operations per batched script call
# An Op of this "script" is one plain command (its args), batched with the
# script calls: the bus's PUBLISH rides in the same write as a batch.
COMMAND = ""
# A lazy call (a cursor move) waits at most this long for a batch to ride in,
# unless someone needs it sooner (`push`).
LAZY_WAIT_S = 0.05


class StorageUnavailable(Exception):
    """Redis cannot be reached or failed; the request answers `internal`."""


class MalformedReply(Exception):
    """A reply that does not have the shape its call expects (a decoder's
    verdict): the call fails with StorageUnavailable, and it is logged."""


class _ScriptMissing(Exception):
    """Redis no longer knows a script (it restarted, or its script cache was
    flushed): load the scripts and try again, once."""


def _script_missing(error: BaseException | None) -> bool:
    """A NOSCRIPT error, from redis-py (NoScriptError) or from the lean
    connection (a hiredis ReplyError reading "NOSCRIPT ...")."""
    return isinstance(error, NoScriptError) or str(error).startswith("NOSCRIPT")


def connect_redis(url: str, *, decode: bool = True, timeout: float = 5.0) -> aioredis.Redis | RedisCluster:
    """The process's Redis client: RESP2 (pinned), one quick retry on a broken
    connection, and short timeouts so a dead or stalled Redis fails requests
    within seconds. `timeout` bounds each read, and the wait for a free pooled
    connection. A timed-out command is not retried (it may have been applied;
    redis-py drops that connection, so its late reply is never read).
    A `redis+cluster://host:port` URL names any node of a Redis Cluster."""
    common: dict[str, Any] = {
        "protocol": 2,
        "decode_responses": decode,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1, supported_errors=(RedisConnectionError,)),
        "socket_connect_timeout": min(2.0, timeout),
        "socket_timeout": timeout,
    }
    if url.startswith(CLUSTER_SCHEME):
        return RedisCluster.from_url("redis://" + url[len(CLUSTER_SCHEME) :], max_connections=512, **common)
    # A blocking pool: under a burst, requests wait for a free connection
    # instead of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=timeout, **common)
    return aioredis.Redis(connection_pool=pool)


async def _bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """Await a redis-py call within `timeout`: a stalled Redis gives
    StorageUnavailable, not a hang (cancelling a redis-py command drops its
    connection, so its late reply is never read)."""
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:  # (before OSError, of which it is a kind)
        raise StorageUnavailable(f"Redis did not answer within {timeout:g} s") from None
    except (RedisError, OSError) as exc:
        raise StorageUnavailable(str(exc) or type(exc).__name__) from exc


async def command(url: str, *args: Any, timeout: float = 5.0) -> Any:
    """One command on a connection of its own, closed after: for tools that
    are not the server (starting Redis, `--check`, setting up a cluster).
    StorageUnavailable if Redis does not answer within `timeout`."""
    client = aioredis.Redis.from_url(
        url, protocol=2, decode_responses=True, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    execute: Callable[..., Awaitable[Any]] = client.execute_command  # (untyped in redis-py)
    try:
        return await _bounded(execute(*args), timeout)
    finally:
        await client.aclose()


async def ping(url: str, timeout: float = 5.0) -> None:
    """Redis at `url` (a cluster URL too) answers PING within `timeout`;
    else StorageUnavailable saying why."""
    client = connect_redis(url, timeout=timeout)
    try:
        await _bounded(client.ping(), timeout)
    finally:
        await client.aclose()


class Op:
    """One queued script call. `many_keys` is its keys in the fixed layout
    of the script's *_MANY form (placeholders for absent keys); `decode`
    turns its reply into its result (see `Decoder`)."""

    __slots__ = ("args", "decode", "future", "keys", "many_keys", "script")

    def __init__(
        self,
        script: str,
        keys: list[str],
        args: list[Any],
        future: asyncio.Future[Any],
        many_keys: list[str] | None,
        decode: Decoder | None,
    ) -> None:
        self.script, self.keys, self.args, self.future = script, keys, args, future
        self.many_keys, self.decode = many_keys, decode


# A call's reply -> its result; raises MalformedReply for a reply that is not
# this call's own, or StorageUnavailable for a reply that says the call failed.
Decoder = Callable[[Op, Any], Any]


@dataclass(frozen=True, slots=True)
class Coalesced:
    """How the batched calls of one script run, on a single Redis, as calls
    of its *_MANY form: `pack` gives one call's keys and arguments for a
    chunk of operations; the reply is one status for the whole chunk when
    `width` is 0, else `width` values per operation, flat (each operation's
    reply is its slice)."""

    many: str
    pack: Callable[[Sequence[Op]], tuple[list[str], list[Any]]]
    width: int


def _per_op(result: Any, width: int, count: int) -> Any:
    """One command's reply as the replies of its group's `count` operations:
    an error stays one error for them all; width 0 gives every operation the
    one reply; else the flat reply is cut into slices of `width`. A reply
    that does not divide into them is passed on as None: malformed for every
    one."""
    if isinstance(result, Exception):
        return result
    if width == 0:
        return [result] * count
    if not isinstance(result, list):
        return result
    if len(result) % width:
        return None
    return [result[i : i + width] for i in range(0, len(result), width)]


def _chunks(items: list[Op], size: int) -> list[list[Op]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _fail(ops: Iterable[Op], error: Exception) -> None:
    for op in ops:
        if not op.future.done():
            op.future.set_exception(error)


class Subscription:
    """A pub/sub subscription on a connection of its own, through redis-py
    (a cluster's). `run` hands each message's payload to `on_message` until
    the subscription breaks, and then raises StorageUnavailable. redis-py
    reconnects a broken subscription by itself inside `get_message` (and
    subscribes again); what was published in between is lost, so
    `on_reconnect` is told."""

    def __init__(
        self, pubsub: Any, on_message: Callable[[bytes], None], on_reconnect: Callable[[], None] | None = None
    ) -> None:
        self._pubsub = pubsub
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        connection = getattr(pubsub, "connection", None)
        if on_reconnect is not None and connection is not None:
            connection.register_connect_callback(self._reconnected)  # kept as a weak method: lives with self

    def _reconnected(self, connection: Any) -> None:
        if self._on_reconnect is not None:
            self._on_reconnect()

    async def run(self) -> None:
        """Deliver messages for as long as the subscription lives (a quiet
        bus is not a fault)."""
        while True:
            try:
                message: dict[str, Any] | None = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                raise StorageUnavailable(str(exc) or type(exc).__name__) from exc
            if message is not None and isinstance(data := message.get("data"), bytes):
                self._on_message(data)

    async def aclose(self) -> None:
        await self._pubsub.aclose()


class LeanSubscription:
    """The same on a single Redis, over resp.py's RespSubscription: a bus
    message reaches `on_message` from the socket's callback, with no task
    woken and no redis-py parse (every node reads its own events back, so
    this is paid for every event). It does not reconnect by itself."""

    def __init__(self, subscription: RespSubscription) -> None:
        self._subscription = subscription

    async def run(self) -> None:
        error = await self._subscription.wait()
        raise StorageUnavailable(str(error))

    async def aclose(self) -> None:
        self._subscription.close()


def _unobserved(*_: object) -> None:
    """The round-trip observers' default (the node's metrics replace it)."""


class Engine:
    """Redis for one process: `redis` (a redis-py client, answers decoded)
    for the store's own reads and pipelines, always awaited under `guard`;
    `call` for one script call; `batched` for the queued ones."""

    def __init__(
        self, url: str, scripts: Mapping[str, str], coalesced: Mapping[str, Coalesced], *, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.cluster = url.startswith(CLUSTER_SCHEME)
        # The bound on any one wait for Redis (Settings.redis_timeout): past
        # it a request fails with StorageUnavailable instead of hanging.
        self.timeout = timeout
        self.redis = connect_redis(url, timeout=timeout)
        self.bus_client = connect_redis(url, decode=False, timeout=timeout)
        self._resp = None if self.cluster else RespConnection(url, timeout)
        self._sources = dict(scripts)
        self._sha: dict[str, str] = {}
        self._coalesced = dict(coalesced)
        self._queue: list[Op] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch_failed = False  # the batch being run lost (some of) its replies
        # Told of each round trip (metrics.py): a batch's size, seconds and
        # failure; another call's seconds and failure.
        self.on_batch: Callable[[int, float, bool], None] = _unobserved
        self.on_call: Callable[[float, bool], None] = _unobserved

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.load_scripts()

    async def close(self) -> None:
        self.push()  # what is queued (lazy cursor moves) goes before the connection closes
        if self._flusher is not None:
            await asyncio.wait([self._flusher], timeout=self.timeout)
        if self._resp is not None:
            self._resp.close()
        for client in (self.redis, self.bus_client):
            await client.aclose()
            # A client given its pool (connect_redis) leaves it open on aclose;
            # after the server's gc.freeze() nothing would ever close its sockets.
            pool = getattr(client, "connection_pool", None)
            if pool is not None:
                await pool.disconnect()

    async def load_scripts(self) -> None:
        async def load() -> None:
            for name, source in self._sources.items():
                self._sha[name] = await self.redis.script_load(source)

        await self.guard(load())

    async def guard(self, awaitable: Awaitable[Any]) -> Any:
        """Await a redis-py call within the engine's bound (see `_bounded`).
        (Any: with decoded answers redis-py's `bytes | str` types are `str`.)"""
        started = time.perf_counter()
        try:
            result = await _bounded(awaitable, self.timeout)
        except StorageUnavailable:
            self.on_call(time.perf_counter() - started, True)
            raise
        self.on_call(time.perf_counter() - started, False)
        return result

    async def _with_scripts(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """The one "script missing -> load and retry" path, for single and
        batched calls alike: `attempt` raises _ScriptMissing if Redis lost
        its scripts; they are loaded again and it runs once more."""
        try:
            return await attempt()
        except _ScriptMissing:
            pass
        await self.load_scripts()
        try:
            return await attempt()
        except _ScriptMissing as exc:
            raise StorageUnavailable(str(exc)) from None

    # --- one script call ------------------------------------------------------------

    async def call(self, script: str, keys: list[str], args: Iterable[Any]) -> Any:
        """One script call outside the batch (the rare operations)."""
        args = list(args)

        async def attempt() -> Any:
            try:
                return await self.guard(self.redis.evalsha(self._sha[script], len(keys), *keys, *args))
            except StorageUnavailable as exc:
                if _script_missing(exc.__cause__):
                    raise _ScriptMissing(str(exc.__cause__)) from None
                raise

        return await self._with_scripts(attempt)

    async def call_each(self, script: str, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        """Several calls of one script (keys, args), queued for the next
        batch (`batched`): the read side's pages of several conversations at
        once, sharing the round trip with whatever else this loop turn sends
        (the other resumes' reads, the sends). One reply per call, in order;
        any failure fails the lot (once every call has answered)."""
        if not calls:
            return []
        futures = [self.batched(script, keys, args) for keys, args in calls]
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    # --- batched script calls ---------------------------------------------------------

    def batched(
        self,
        script: str,
        keys: list[str],
        args: list[Any],
        *,
        many_keys: list[str] | None = None,
        decode: Decoder | None = None,
        lazy: bool = False,
    ) -> asyncio.Future[Any]:
        """Queue a script call for the next batch; the write is queued before
        this returns, so calls are applied in the order they were made. A
        `lazy` call starts no batch of its own: it goes with the next one, or
        after LAZY_WAIT_S, or when `push` is called (a caller about to wait
        for it), so a cursor move costs no round trip of its own."""
        loop = self._loop or asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append(Op(script, keys, args, future, many_keys, decode))
        if not self._flushing:
            if not lazy:
                self._start_flush(loop)
            elif self._lazy_timer is None:
                self._lazy_timer = loop.call_later(LAZY_WAIT_S, self.push)
        return future

    def push(self) -> None:
        """Send what is queued now, lazy calls included."""
        if self._queue and not self._flushing:
            self._start_flush(self._loop or asyncio.get_running_loop())

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._lazy_timer is not None:  # the lazy calls go with this batch
            self._lazy_timer.cancel()
            self._lazy_timer = None
        self._flushing = True
        self._flusher = loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._queue:
                # One turn of the loop for company: what the connections woken with
                # the first call queue goes with it (and, while a batch is in
                # flight, what queues meanwhile goes next, together).
                await asyncio.sleep(0)
                batch, self._queue = self._queue, []
                started, self._batch_failed = time.perf_counter(), False
                try:
                    await self._run(batch)
                except Exception as exc:  # never leave a caller waiting on a dead batch
                    log.exception("batch to Redis failed")
                    _fail(batch, StorageUnavailable(str(exc) or type(exc).__name__))
                    self._batch_failed = True
                self.on_batch(len(batch), time.perf_counter() - started, self._batch_failed)
        finally:
            self._flushing = False

    async def _run(self, batch: list[Op]) -> None:
        """Run a batch; the operations whose script Redis lost run again
        after a reload (the one path of `_with_scripts`)."""
        pending = batch

        async def attempt() -> None:
            nonlocal pending
            if self._resp is not None:
                pending = await self._run_single(pending, self._resp)
            else:
                pending = await self._run_cluster(pending)
            if pending:
                raise _ScriptMissing("Redis does not know the script (NOSCRIPT)")

        try:
            await self._with_scripts(attempt)
        except StorageUnavailable as exc:
            _fail(pending, exc)
            self._batch_failed = True

    async def _run_cluster(self, batch: list[Op]) -> list[Op]:
        """A cluster: one script call per operation, routed by its keys.
        (redis-py's cluster pipeline refuses its evalsha() wrapper but routes
        the raw command.) Returns the operations whose script was missing."""
        pipe = self.redis.pipeline(transaction=False)
        for op in batch:
            pipe.execute_command("EVALSHA", self._sha[op.script], len(op.keys), *op.keys, *op.args)
        try:
            results = await _bounded(pipe.execute(raise_on_error=False), self.timeout)  # observed as the batch
        except StorageUnavailable as exc:
            _fail(batch, exc)
            self._batch_failed = True
            return []
        if len(results) != len(batch):  # redis-py promises one per command; never pair by guesswork
            log.warning("Redis answered %d of %d commands; failing the batch", len(results), len(batch))
            _fail(batch, StorageUnavailable("Redis sent a malformed reply"))
            return []
        return self._settle(
            [([op], r if isinstance(r, Exception) else [r]) for op, r in zip(batch, results, strict=True)]
        )

    async def _run_single(self, batch: list[Op], resp: RespConnection) -> list[Op]:
        """On a single Redis a batch is a few calls of the *_MANY scripts:
        two commands per round trip for sends and acks, however many.
        Returns the operations whose script was missing."""
        groups: list[list[Op]] = []
        commands: list[tuple[Any, ...]] = []
        by_script: dict[str, list[Op]] = {name: [] for name in self._coalesced}
        for op in batch:
            by_script.setdefault(op.script, []).append(op)
        widths: list[int] = []  # per command: 0, one reply for its group; else per operation
        for script, ops in by_script.items():
            if script == COMMAND:  # plain commands (PUBLISH), in the order queued
                for op in ops:
                    commands.append(tuple(op.args))
                    groups.append([op])
                    widths.append(0)
                continue
            form = self._coalesced.get(script)
            if form is None:  # no *_MANY form: one call each
                for op in ops:
                    commands.append(("EVALSHA", self._sha[op.script], len(op.keys), *op.keys, *op.args))
                    groups.append([op])
                    widths.append(0)
                continue
            # Script calls stay short (SCRIPT_CHUNK operations each): Redis runs a
            # script to its end, and every other client of it waits meanwhile.
            for chunk in _chunks(ops, SCRIPT_CHUNK):
                keys, args = form.pack(chunk)
                commands.append(("EVALSHA", self._sha[form.many], len(keys), *keys, *args))
                groups.append(chunk)
                widths.append(form.width)
        failure: RespError | None = None
        try:
            results = await resp.execute(commands)
        except RespError as exc:
            # The commands whose replies arrived are settled; the others may or
            # may not have been applied, and fail (a send retried with its cmid
            # then gets the stored mid).
            failure, results = exc, exc.replies
        if len(results) > len(commands):
            failure, results = RespError(f"Redis sent {len(results)} replies to {len(commands)} commands"), []
        answered: list[tuple[list[Op], Exception | list[Any]]] = [  # the groups whose replies arrived
            (ops, _per_op(result, width, len(ops)))
            for ops, width, result in zip(groups[: len(results)], widths[: len(results)], results, strict=True)
        ]
        if failure is not None or len(results) < len(commands):
            self._batch_failed = True
            error = StorageUnavailable(str(failure or "Redis sent too few replies"))
            for ops in groups[len(answered) :]:
                _fail(ops, error)
        return self._settle(answered)

    def _settle(self, groups: list[tuple[list[Op], Exception | list[Any]]]) -> list[Op]:
        """Resolve futures from each group's replies (one per operation, or
        one error for the group). Returns the operations of the groups whose
        script Redis no longer knows (it restarted and lost its script
        cache), unresolved, to run again after a reload."""
        missing: list[Op] = []
        for ops, replies in groups:
            if isinstance(replies, Exception):
                if _script_missing(replies):
                    missing.extend(ops)
                else:
                    _fail(ops, StorageUnavailable(str(replies)))
                continue
            if not isinstance(replies, list) or len(replies) > len(ops):
                log.warning("Redis sent a malformed reply for %d operations: %.200r", len(ops), replies)
                _fail(ops, StorageUnavailable("Redis sent a malformed reply"))  # none can be trusted
                continue
            if len(replies) < len(ops):
                # The scripts answer one entry per operation, in order: a short
                # list answers the operations it covers, and the rest fail.
                log.warning("Redis answered %d of %d operations", len(replies), len(ops))
                _fail(ops[len(replies) :], StorageUnavailable("Redis sent a malformed reply"))
                ops = ops[: len(replies)]
            for op, reply in zip(ops, replies, strict=True):
                if op.future.done():
                    continue
                if isinstance(reply, Exception):
                    op.future.set_exception(StorageUnavailable(str(reply)))
                elif op.decode is None:
                    op.future.set_result(reply)
                else:
                    try:
                        op.future.set_result(op.decode(op, reply))
                    except StorageUnavailable as exc:
                        op.future.set_exception(exc)
                    except MalformedReply:
                        log.warning("malformed reply to %s: %.200r", op.script, reply)
                        op.future.set_exception(StorageUnavailable("Redis sent a malformed reply"))
        return missing

    # --- pub/sub ------------------------------------------------------------------------

    async def publish(self, channel: str, payload: bytes) -> None:
        await self.publish_soon(channel, payload)

    def publish_soon(self, channel: str, payload: bytes) -> asyncio.Future[Any]:
        """Publish with the next batch: on a single Redis the PUBLISH goes in
        the same write as that batch's script calls (no round trip, task or
        wake-up of its own); on a cluster, on the bus client. The future
        fails with StorageUnavailable."""
        if self._resp is not None:
            return self.batched(COMMAND, [], ["PUBLISH", channel, payload])
        return asyncio.ensure_future(self.guard(self.bus_client.publish(channel, payload)))

    async def subscribe(
        self, channel: str, on_message: Callable[[bytes], None], on_reconnect: Callable[[], None] | None = None
    ) -> Subscription | LeanSubscription:
        """A subscription to `channel` on a connection of its own, lean on a
        single Redis; the caller runs it (`run`) and closes it (`aclose()`).
        `on_reconnect`: see Subscription."""
        if not self.cluster:
            try:
                lean = await RespSubscription.open(self.url, channel, on_message, self.timeout)
            except RespError as exc:
                raise StorageUnavailable(str(exc)) from exc
            return LeanSubscription(lean)
        initialize = getattr(self.bus_client, "initialize", None)
        if initialize is not None:  # a cluster client learns the slot map first
            await self.guard(initialize())
        pubsub: Any = self.bus_client.pubsub(ignore_subscribe_messages=True)  # (untyped in redis-py)
        try:
            await pubsub.subscribe(channel)
        except BaseException as exc:
            await pubsub.aclose()
            if isinstance(exc, RedisError):
                raise StorageUnavailable(str(exc) or type(exc).__name__) from exc
            raise
        return Subscription(pubsub, on_message, on_reconnect)


__all__ = [
    "CLUSTER_SCHEME",
    "Coalesced",
    "Decoder",
    "Engine",
    "LeanSubscription",
    "MalformedReply",
    "Op",
    "StorageUnavailable",
    "Subscription",
    "command",
    "connect_redis",
    "ping",
]
