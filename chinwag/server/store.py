"""The only module that talks to Redis.

One client and connection pool per process. Writes on the message path
(`send`, `ack`) are batched: everything queued during one turn of the event
loop goes to Redis in one pipeline of script calls, one batch in flight at a
time, so a busy server makes one round trip per batch rather than per message,
and results come back in the order Redis applied them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

from ..protocol import limits
from . import keys, scripts
from .resp import RespConnection, RespError
from .conv import mid_after, mid_before, mid_key, room_id

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """Redis cannot be reached or failed; the request answers `internal`."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    mid: str
    conv_id: str
    sender: str
    text: str
    cmid: str | None


SEND_NEW, SEND_DUPLICATE, SEND_NOT_MEMBER = 0, 1, 2


CLUSTER_SCHEME = "redis+cluster://"


def connect_redis(url: str, *, decode: bool = True) -> aioredis.Redis:
    """The process's Redis client: RESP2 (pinned), one quick retry on a broken
    connection, and short timeouts so a dead Redis fails requests in seconds.
    A `redis+cluster://host:port` URL names any node of a Redis Cluster."""
    common: dict[str, Any] = {
        "protocol": 2,
        "decode_responses": decode,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        "socket_connect_timeout": 2.0,
        "socket_timeout": 5.0,
    }
    if url.startswith(CLUSTER_SCHEME):
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(  # type: ignore[return-value]
            "redis://" + url[len(CLUSTER_SCHEME):], max_connections=512, **common)
    # A blocking pool: under a burst, requests wait for a free connection
    # instead of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5.0, **common)
    return aioredis.Redis(connection_pool=pool)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _entry_message(conv_id: str, entry: Sequence[Any]) -> StoredMessage:
    mid, raw = entry[0], entry[1]
    fields = dict(zip(raw[::2], raw[1::2])) if isinstance(raw, list) else raw
    return StoredMessage(mid, conv_id, fields.get("f", ""), fields.get("t", ""), fields.get("c"))


# The login replay's pages (see Store.replay): entries one REPLAY count call
# scans (about 1.5 ms of Redis), and entries one round trip of XREVRANGEs may
# return.
REPLAY_PAGE = 1_000
REPLAY_ROUND_ENTRIES = 2_000

SCRIPT_CHUNK = 128  # operations per batched script call
BATCH_WAIT_S = 0.001
BATCH_SMALL = 16


def _chunks(items: list[_Op], size: int) -> list[list[_Op]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class _Op:
    """One queued script call. `many_keys` is its keys in the fixed layout
    of the script's *_MANY form (placeholders for absent keys)."""

    __slots__ = ("sha", "keys", "args", "future", "many_keys")

    def __init__(self, sha: str, keys_: list[str], args: list[Any], future: asyncio.Future[Any],
                 many_keys: list[str] | None = None) -> None:
        self.sha, self.keys, self.args, self.future = sha, keys_, args, future
        self.many_keys = many_keys


class Store:
    def __init__(self, url: str, *, history_maxlen: int = 100_000) -> None:
        self.url = url
        self.cluster = url.startswith(CLUSTER_SCHEME)
        self.redis = connect_redis(url)
        self._resp = None if self.cluster else RespConnection(url)
        self.bus_client = connect_redis(url, decode=False)
        self.history_maxlen = history_maxlen
        self._sha: dict[str, str] = {}
        self._sources = {
            name: getattr(scripts, name)
            for name in ("SEND", "SEND_MANY", "ACK", "ACK_MANY", "REPLAY", "REGISTER", "PRESENCE",
                         "REAP", "COUNT_EVENT", "HEARTBEAT", "PRESENCE_SYNC")
        }
        self._queue: list[_Op] = []
        self._flushing = False
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start()
        self._display: dict[str, str] = {}
        self._known_users: set[str] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._load_scripts()

    async def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
        await self.redis.aclose()
        await self.bus_client.aclose()

    async def _load_scripts(self) -> None:
        try:
            for name, source in self._sources.items():
                self._sha[name] = await self.redis.script_load(source)
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def redis_version(self) -> str:
        info = await self._guard(self.redis.info("server"))
        return str(info.get("redis_version", "?"))

    # --- batched script calls ------------------------------------------------

    def _call_batched(self, script: str, keys_: list[str], args: list[Any],
                      many_keys: list[str] | None = None) -> asyncio.Future[Any]:
        loop = self._loop or asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append(_Op(script, keys_, args, future, many_keys))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._queue:
                # A small batch waits a moment for company (fewer round trips and
                # wake-ups at low load); a big one goes at once.
                await asyncio.sleep(BATCH_WAIT_S if len(self._queue) < BATCH_SMALL else 0)
                batch, self._queue = self._queue, []
                try:
                    await self._run_batch(batch)
                except Exception as exc:  # never leave a caller waiting on a dead batch
                    log.exception("batch to Redis failed")
                    self._fail(batch, StorageUnavailable(str(exc) or type(exc).__name__))
        finally:
            self._flushing = False

    async def _run_batch(self, batch: list[_Op], reloaded: bool = False) -> None:
        if self._resp is not None:
            await self._run_batch_single(batch, reloaded)
            return
        # A cluster: one script call per operation, routed by its keys.
        # (redis-py's cluster pipeline refuses its evalsha() wrapper but
        # routes the raw command.)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for op in batch:
                pipe.execute_command("EVALSHA", self._sha[op.sha], len(op.keys), *op.keys, *op.args)
            results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            self._fail(batch, StorageUnavailable(str(exc) or type(exc).__name__))
            return
        await self._settle([([op], r if isinstance(r, Exception) else [r]) for op, r in zip(batch, results)],
                           reloaded)

    async def _run_batch_single(self, batch: list[_Op], reloaded: bool) -> None:
        """On a single Redis a batch is one SEND_MANY and one ACK_MANY call:
        two commands per round trip, however many messages and acks."""
        sends = [op for op in batch if op.sha == "SEND"]
        acks = [op for op in batch if op.sha == "ACK"]
        groups: list[list[_Op]] = []
        commands: list[tuple[Any, ...]] = []
        # Script calls stay short (SCRIPT_CHUNK operations each): Redis runs a
        # script to its end, and every other client of it waits meanwhile.
        for chunk in _chunks(sends, SCRIPT_CHUNK):
            keys_ = [k for op in chunk for k in op.many_keys or ()]
            args = [a for op in chunk for a in op.args]
            commands.append(("EVALSHA", self._sha["SEND_MANY"], len(keys_), *keys_, *args))
            groups.append(chunk)
        for chunk in _chunks(acks, SCRIPT_CHUNK):
            args = []
            for op in chunk:
                args.append(len(op.args) // 2)
                args.extend(op.args)
            commands.append(("EVALSHA", self._sha["ACK_MANY"], len(chunk), *(op.keys[0] for op in chunk), *args))
            groups.append(chunk)
        try:
            results = await self._resp.execute(commands)  # type: ignore[union-attr]
        except RespError as exc:
            self._fail(batch, StorageUnavailable(str(exc)))
            return
        await self._settle([
            (ops, result if isinstance(result, Exception) or ops[0].sha == "SEND" else [0] * len(ops))
            for ops, result in zip(groups, results)
        ], reloaded)

    def _fail(self, ops: list[_Op], error: Exception) -> None:
        for op in ops:
            if not op.future.done():
                op.future.set_exception(error)

    async def _settle(self, groups: list[tuple[list[_Op], Exception | list[Any]]], reloaded: bool) -> None:
        """Resolve futures from each group's replies (one per operation, or
        one error for the group). A group whose script Redis no longer knows
        (it restarted and lost its script cache) runs again after a reload."""
        retry: list[_Op] = []
        for ops, replies in groups:
            if isinstance(replies, Exception):
                if not reloaded and (isinstance(replies, NoScriptError) or str(replies).startswith("NOSCRIPT")):
                    retry.extend(ops)
                else:
                    self._fail(ops, StorageUnavailable(str(replies)))
                continue
            for op, reply in zip(ops, replies):
                if op.future.done():
                    continue
                if isinstance(reply, Exception):
                    op.future.set_exception(StorageUnavailable(str(reply)))
                elif isinstance(reply, list) and len(reply) == 3 and reply[1] == -1:
                    op.future.set_exception(StorageUnavailable(str(reply[2])))  # SEND_MANY: this one failed
                else:
                    op.future.set_result(reply)
        if retry:
            try:
                await self._load_scripts()
            except StorageUnavailable as exc:
                self._fail(retry, exc)
                return
            await self._run_batch(retry, reloaded=True)

    async def _call(self, script: str, keys_: list[str], args: Iterable[Any]) -> Any:
        """One script call outside the batch (rare operations)."""
        try:
            try:
                return await self.redis.evalsha(self._sha[script], len(keys_), *keys_, *args)
            except NoScriptError:
                await self._load_scripts()
                return await self.redis.evalsha(self._sha[script], len(keys_), *keys_, *args)
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(str(exc) or type(exc).__name__) from exc

    async def _guard(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(str(exc) or type(exc).__name__) from exc

    # --- messages -------------------------------------------------------------

    def send(self, conv_id: str, sender: str, text: str, cmid: str | None) -> Awaitable[list[Any]]:
        """Append a message, batched with the other writes of this loop turn;
        the write is queued before this returns, so messages are stored in
        the order `send` was called. Resolves to [mid, status, conv id]; for a
        cmid the user already used, in any conversation, the original's mid
        and conv id.

        On one Redis the whole check-and-store is one script; on a cluster,
        whose scripts keep to one slot, the user's record is read before and
        written after the script, which keeps a copy in the conversation's
        slot so a crash between the steps still stores the message once."""
        if cmid is not None and self.cluster:
            return asyncio.ensure_future(self._send_on_cluster(conv_id, sender, text, cmid))
        return self._store_message(conv_id, sender, text, cmid,
                                   keys.cmid(sender, cmid) if cmid is not None else None)

    async def _send_on_cluster(self, conv_id: str, sender: str, text: str, cmid: str) -> list[Any]:
        record = keys.cmid(sender, cmid)
        previous = await self._guard(self.redis.get(record))
        if previous:
            prev_conv, _, prev_mid = previous.partition(" ")
            return [prev_mid, SEND_DUPLICATE, prev_conv]
        result = await self._store_message(conv_id, sender, text, cmid,
                                           keys.cmid_in_conv(conv_id, sender, cmid))
        if int(result[1]) != SEND_NOT_MEMBER:
            await self._guard(self.redis.set(record, f"{result[2]} {result[0]}", ex=limits.CMID_TTL_S))
        return result

    def _store_message(self, conv_id: str, sender: str, text: str, cmid: str | None,
                       record: str | None) -> asyncio.Future[Any]:
        stream = keys.stream(conv_id)
        is_room = conv_id[0] == "#"
        members = keys.members(conv_id) if is_room else None
        keys_ = [k for k in (stream, record, members) if k is not None]
        return self._call_batched("SEND", keys_, [
            sender, text, self.history_maxlen, limits.CMID_TTL_S,
            "1" if cmid is not None else "0", "1" if is_room else "0", cmid or "", conv_id,
        ], many_keys=[stream, record or "", members or ""])

    def ack(self, user: str, upto: dict[str, str]) -> asyncio.Future[Any]:
        """Move `user`'s cursors forward (batched; never backwards)."""
        args: list[str] = []
        for cid, mid in upto.items():
            args += (cid, mid)
        return self._call_batched("ACK", [keys.cursors(user)], args)

    async def history(self, conv_id: str, before: str | None, limit: int) -> tuple[list[StoredMessage], bool]:
        upper = "+" if before is None else mid_before(before)
        if upper is None:
            return [], False
        entries = await self._guard(self.redis.xrevrange(
            keys.stream(conv_id), max=upper, min="-", count=limit + 1,
        ))
        more = len(entries) > limit
        entries = entries[:limit]
        entries.reverse()
        return [_entry_message(conv_id, e) for e in entries], more

    async def conversations(self, name: str) -> list[tuple[str, StoredMessage | None]]:
        """The user's conversations with their newest message, newest first."""
        conv_ids = sorted(await self._guard(self.redis.smembers(keys.user_convs(name))))
        pipe = self.redis.pipeline(transaction=False)
        for cid in conv_ids:
            pipe.xrevrange(keys.stream(cid), count=1)
        lasts = await self._guard(pipe.execute()) if conv_ids else []
        out = [(cid, _entry_message(cid, last[0]) if last else None) for cid, last in zip(conv_ids, lasts)]
        out.sort(key=lambda item: mid_key(item[1].mid) if item[1] else (0, 0), reverse=True)
        return out

    async def last_mid(self, conv_id: str) -> str:
        entries = await self._guard(self.redis.xrevrange(keys.stream(conv_id), count=1))
        return entries[0][0] if entries else "0-0"

    async def replay(self, user: str, conv_ids: Sequence[str], cursors: dict[str, str],
                     max_per_conv: int = limits.REPLAY_MAX) -> dict[str, tuple[int, list[StoredMessage]]]:
        """For each conversation: (unread from others, newest entries after the cursor).

        Paged so that no single command holds Redis for long, whatever the
        backlog: the newest `max_per_conv` entries come with XREVRANGE (a few
        conversations per round trip), and only a conversation with more
        than that behind its cursor has the rest counted, REPLAY_PAGE entries
        per script call. The count stays exact; its cost is spread over many
        short calls that everyone else's commands interleave with."""
        starts = {cid: mid_after(cursors.get(cid, "0-0")) for cid in conv_ids}
        out: dict[str, tuple[int, list[StoredMessage]]] = {
            cid: (0, []) for cid, start in starts.items() if start is None}
        todo = {cid: start for cid, start in starts.items() if start is not None}
        per_round = max(1, REPLAY_ROUND_ENTRIES // max(1, max_per_conv))
        older: list[tuple[str, str, str]] = []  # (conv, range start, range end) still to count
        pending = list(todo)
        for i in range(0, len(pending), per_round):
            group = pending[i:i + per_round]
            pipe = self.redis.pipeline(transaction=False)
            for cid in group:
                pipe.xrevrange(keys.stream(cid), max="+", min=todo[cid], count=max_per_conv)
            for cid, newest in zip(group, await self._guard(pipe.execute())):
                entries = [_entry_message(cid, e) for e in reversed(newest)]
                out[cid] = (sum(1 for m in entries if m.sender != user), entries)
                if len(entries) == max_per_conv:
                    older.append((cid, todo[cid], "(" + entries[0].mid))
        for cid, start, end in older:
            unread, entries = out[cid]
            while True:
                others, scanned, last = await self._call(
                    "REPLAY", [keys.stream(cid)], [start, end, user, REPLAY_PAGE])
                unread += int(others)
                if int(scanned) < REPLAY_PAGE:
                    break
                start = "(" + last
            out[cid] = (unread, entries)
        return out

    # --- users and sessions ------------------------------------------------------

    async def create_user(self, name: str, display_name: str, password_hash: str) -> bool:
        lobby = room_id(limits.LOBBY)
        lobby_last = await self.last_mid(lobby)
        created = await self._call("REGISTER", [keys.user(name), keys.user_convs(name), keys.cursors(name)],
                                   [display_name, password_hash, int(time.time() * 1000), lobby, lobby_last])
        if not created:
            return False
        await self._guard(self._index_user(name))
        self._display[name] = display_name
        self._known_users.add(name)
        return True

    def _index_user(self, name: str) -> Any:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.USERS_INDEX, {name: 0})
        pipe.sadd(keys.members(room_id(limits.LOBBY)), name)
        pipe.sadd(keys.ROOMS, limits.LOBBY)
        return pipe.execute()

    async def ensure_lobby(self, name: str) -> None:
        """Repair a registration cut short between its two steps."""
        await self._guard(self._index_user(name))

    async def get_user(self, name: str) -> dict[str, str] | None:
        data = await self._guard(self.redis.hgetall(keys.user(name)))
        if not data:
            return None
        self._display[name] = data.get("dn", name)
        self._known_users.add(name)
        return data

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        await self._guard(self.redis.hset(keys.user(name), "pw", password_hash))

    async def user_exists(self, name: str) -> bool:
        if name in self._known_users:
            return True
        if await self._guard(self.redis.exists(keys.user(name))):
            self._known_users.add(name)
            return True
        return False

    async def display_names(self, names: Iterable[str]) -> dict[str, str]:
        names = list(names)
        missing = [n for n in names if n not in self._display]
        if missing:
            pipe = self.redis.pipeline(transaction=False)
            for n in missing:
                pipe.hget(keys.user(n), "dn")
            for n, dn in zip(missing, await self._guard(pipe.execute())):
                if dn is not None:
                    self._display[n] = dn
        return {n: self._display.get(n, n) for n in names}

    async def store_token(self, token: str, name: str, ttl: int) -> None:
        await self._guard(self.redis.set(keys.token(hash_token(token)), name, ex=ttl))

    async def token_user(self, token: str, ttl: int) -> str | None:
        """The token's user, refreshing its expiry (a sliding window)."""
        key = keys.token(hash_token(token))
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.expire(key, ttl)
        name, _ = await self._guard(pipe.execute())
        return name

    async def revoke_token(self, token: str) -> None:
        await self._guard(self.redis.delete(keys.token(hash_token(token))))

    async def session_state(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The user's conversations and their cursors."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.smembers(keys.user_convs(name))
        pipe.hgetall(keys.cursors(name))
        convs, cursors = await self._guard(pipe.execute())
        return sorted(convs), cursors

    async def add_dm(self, a: str, b: str, conv_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(keys.user_convs(a), conv_id)
        pipe.sadd(keys.user_convs(b), conv_id)
        await self._guard(pipe.execute())

    async def search_users(self, prefix: str | None, limit: int) -> list[str]:
        low = f"[{prefix}" if prefix else "-"
        high = f"[{prefix}\xff" if prefix else "+"
        return list(await self._guard(self.redis.zrangebylex(keys.USERS_INDEX, low, high, start=0, num=limit)))

    # --- rooms -------------------------------------------------------------------

    async def room_exists(self, room: str) -> bool:
        return bool(await self._guard(self.redis.sismember(keys.ROOMS, room)))

    async def is_member(self, conv_id: str, name: str) -> bool:
        return bool(await self._guard(self.redis.sismember(keys.members(conv_id), name)))

    async def join(self, room: str, name: str) -> tuple[bool, int]:
        """Returns (newly joined, member count). The cursor starts at the room's
        newest message, so joining does not flood the user with old history."""
        cid = room_id(room)
        if await self.is_member(cid, name):
            return False, int(await self._guard(self.redis.scard(keys.members(cid))))
        last = await self.last_mid(cid)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.cursors(name), cid, last)
        pipe.sadd(keys.user_convs(name), cid)
        pipe.sadd(keys.ROOMS, room)
        pipe.sadd(keys.members(cid), name)
        pipe.scard(keys.members(cid))
        *_, added, count = await self._guard(pipe.execute())
        return bool(added), int(count)

    async def leave(self, room: str, name: str) -> bool:
        cid = room_id(room)
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(keys.members(cid), name)
        pipe.srem(keys.user_convs(name), cid)
        pipe.hdel(keys.cursors(name), cid)
        removed, *_ = await self._guard(pipe.execute())
        return bool(removed)

    async def rooms(self) -> list[tuple[str, int]]:
        names = sorted(await self._guard(self.redis.smembers(keys.ROOMS)))
        pipe = self.redis.pipeline(transaction=False)
        for room in names:
            pipe.scard(keys.members(room_id(room)))
        counts = await self._guard(pipe.execute())
        return [(room, int(c)) for room, c in zip(names, counts)]

    # --- presence ------------------------------------------------------------------

    async def presence_change(self, node_id: str, name: str, delta: int) -> int:
        """Count a connection in or out; returns the user's connections on all nodes."""
        return int(await self._call("PRESENCE", [keys.PRESENCE_ONLINE, keys.presence_node(node_id)],
                                    [name, delta]))

    async def online_counts(self, names: Sequence[str] | None = None) -> dict[str, int]:
        if names is None:
            data = await self._guard(self.redis.hgetall(keys.PRESENCE_ONLINE))
            return {n: int(c) for n, c in data.items() if int(c) > 0}
        if not names:
            return {}
        values = await self._guard(self.redis.hmget(keys.PRESENCE_ONLINE, list(names)))
        return {n: int(v) for n, v in zip(names, values) if v is not None and int(v) > 0}

    async def heartbeat(self, node_id: str, ttl: float) -> tuple[bool, list[str]]:
        """Mark the node alive for `ttl` s by Redis's clock. Returns (the node
        was not listed, nodes whose time is up by Redis's clock)."""
        absent, expired = await self._call("HEARTBEAT", [keys.PRESENCE_NODES], [node_id, int(ttl * 1000)])
        return bool(int(absent)), [n for n in expired if n != node_id]

    async def presence_sync(self, node_id: str, counts: dict[str, int]) -> tuple[list[str], list[str]]:
        """Make the node's presence in Redis exactly `counts` (its counted
        connections per user); returns (users now online, users now offline)."""
        args: list[Any] = []
        for name, count in counts.items():
            if count > 0:
                args += (name, count)
        came, went = await self._call("PRESENCE_SYNC", [keys.PRESENCE_ONLINE, keys.presence_node(node_id)], args)
        return list(came), list(went)

    async def reap_node(self, node_id: str) -> list[str]:
        """Remove a node's connections from presence; returns users now offline."""
        return list(await self._call(
            "REAP", [keys.PRESENCE_ONLINE, keys.PRESENCE_NODES, keys.presence_node(node_id)], [node_id]
        ))

    # --- throttles -------------------------------------------------------------------

    async def login_failures(self, name: str, address: str) -> list[tuple[int, float]]:
        """(count, seconds left in the window) for the user and for the address."""
        pipe = self.redis.pipeline(transaction=False)
        for key in (keys.login_failures_user(name), keys.login_failures_address(address)):
            pipe.get(key)
            pipe.pttl(key)
        raw = await self._guard(pipe.execute())
        return [(int(raw[i] or 0), max(0, int(raw[i + 1])) / 1000) for i in range(0, len(raw), 2)]

    async def _count_event(self, key: str, window: int) -> tuple[int, float]:
        count, pttl = await self._call("COUNT_EVENT", [key], [window])
        return int(count), max(0, int(pttl)) / 1000

    async def count_login_failure(self, name: str, address: str, window: int) -> None:
        await self._count_event(keys.login_failures_user(name), window)
        await self._count_event(keys.login_failures_address(address), window)

    async def clear_login_failures(self, name: str) -> None:
        await self._guard(self.redis.delete(keys.login_failures_user(name)))

    async def count_registration(self, address: str, window: int) -> tuple[int, float]:
        return await self._count_event(keys.registrations_address(address), window)

    # --- pub/sub -------------------------------------------------------------------------

    async def publish(self, payload: bytes) -> None:
        if self._resp is not None:  # the lean connection: a fraction of redis-py's cost
            try:
                await self._resp.execute([("PUBLISH", keys.BUS_CHANNEL, payload)])
            except RespError as exc:
                raise StorageUnavailable(str(exc)) from exc
            return
        await self._guard(self.bus_client.publish(keys.BUS_CHANNEL, payload))

    async def subscribe_bus(self) -> Any:
        """A pub/sub subscription to the node bus on a connection of its own;
        the caller closes it with `aclose()`."""
        initialize = getattr(self.bus_client, "initialize", None)
        if initialize is not None:  # a cluster client learns the slot map first
            await self._guard(initialize())
        pubsub = self.bus_client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.BUS_CHANNEL)
        except BaseException:
            await pubsub.aclose()
            raise
        return pubsub


__all__ = [
    "Store", "StoredMessage", "StorageUnavailable", "connect_redis", "hash_token",
    "SEND_NEW", "SEND_DUPLICATE", "SEND_NOT_MEMBER",
]
