"""The chinwag operations on Redis: users, tokens, conversations, cursors,
history, the login replay, presence, throttles and rooms.

This module says what is stored where (with keys.py and scripts.py); how
it reaches Redis (connections, script loading, the batched calls of the
message path, cluster routing, the bound on every wait) is engine.py's job.
Only these two modules use redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..protocol import limits
from . import keys, scripts
from .conv import is_room, mid_after, mid_before, mid_key, room_id
from .engine import (
    CLUSTER_SCHEME,
    Coalesced,
    Engine,
    MalformedReply,
    Op,
    StorageUnavailable,
    Subscription,
    connect_redis,
)
from .statuses import LoginStatus, RoomCreation, SendResult, SendStatus


@dataclass(frozen=True, slots=True)
class StoredMessage:
    mid: str
    conv_id: str
    sender: str
    text: str
    cmid: str | None


# The old names of the send statuses (statuses.SendStatus is the one definition).
SEND_NEW, SEND_DUPLICATE, SEND_NOT_MEMBER = SendStatus.NEW, SendStatus.DUPLICATE, SendStatus.NOT_MEMBER


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _entry_message(conv_id: str, entry: Sequence[Any]) -> StoredMessage:
    mid, raw = entry[0], entry[1]
    fields = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
    return StoredMessage(mid, conv_id, fields.get("f", ""), fields.get("t", ""), fields.get("c"))


# The login replay's pages (see Store.replay): entries one REPLAY count call
# scans (about 1.5 ms of Redis), and entries one round trip of XREVRANGEs may
# return.
REPLAY_PAGE = 1_000
REPLAY_ROUND_ENTRIES = 2_000


# --- the message path's batched scripts -----------------------------------------
# SEND's arguments: sender, text, maxlen, cmid ttl, has cmid, is room, cmid,
# conv id (see scripts.SEND); its keys in SEND_MANY's layout ride in the op.
_SEND_CONV = 7  # the conv id's place in SEND's arguments


# A reply's code -> its status (a dict lookup: this runs once per message).
_SEND_RESULTS = {int(s): s for s in SendStatus if s is not SendStatus.FAILED}


def _send_result(op: Op, reply: Any) -> SendResult:
    """A send's reply has the script's shape, and a new message is in the
    conversation the op wrote to: a cheap last check that a reply is this
    operation's own."""
    if not (isinstance(reply, list) and len(reply) == 3):
        raise MalformedReply
    mid, code, conv = reply
    if code == SendStatus.FAILED:
        raise StorageUnavailable(str(conv))  # SEND_MANY: this one failed, alone
    status = _SEND_RESULTS.get(code) if isinstance(code, int) else None
    if status is None or not (isinstance(mid, str) and isinstance(conv, str)):
        raise MalformedReply
    if status is SendStatus.NEW and (not mid or conv != op.args[_SEND_CONV]):
        raise MalformedReply
    return SendResult(mid, status, conv)


def _pack_sends(ops: Sequence[Op]) -> tuple[list[str], list[Any]]:
    return [k for op in ops for k in op.many_keys or ()], [a for op in ops for a in op.args]


def _pack_acks(ops: Sequence[Op]) -> tuple[list[str], list[Any]]:
    args: list[Any] = []
    for op in ops:
        args.append(len(op.args) // 2)
        args.extend(op.args)
    return [op.keys[0] for op in ops], args


# On one Redis, a batch's sends are SEND_MANY calls and its acks ACK_MANY calls.
COALESCED = {
    "SEND": Coalesced("SEND_MANY", _pack_sends, reply_each=True),
    "ACK": Coalesced("ACK_MANY", _pack_acks, reply_each=False),
}


class Store:
    def __init__(self, url: str, *, history_maxlen: int = 100_000, timeout: float = 5.0) -> None:
        self.engine = Engine(url, scripts.SCRIPTS, COALESCED, timeout=timeout)
        self.url = url
        self.cluster = self.engine.cluster
        self.timeout = timeout
        self.redis = self.engine.redis  # for the store's own reads; always awaited under _guard
        self.history_maxlen = history_maxlen
        self._guard = self.engine.guard
        self._call = self.engine.call
        self._display: dict[str, str] = {}
        self._known_users: set[str] = set()
        self._rooms_indexed = False  # the room index is known to exist (see _index_rooms)

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.engine.close()

    async def redis_version(self) -> str:
        info = await self._guard(self.redis.info("server"))
        return str(info.get("redis_version", "?"))

    # --- messages -------------------------------------------------------------

    def send(self, conv_id: str, sender: str, text: str, cmid: str | None) -> Awaitable[SendResult]:
        """Append a message, batched with the other writes of this loop turn;
        the write is queued before this returns, so messages are stored in
        the order `send` was called. For a cmid the user already used, in any
        conversation, the result is DUPLICATE with the original's mid and
        conv id.

        On one Redis the whole check-and-store is one script; on a cluster,
        whose scripts keep to one slot, the user's record is read before and
        written after the script, which keeps a copy in the conversation's
        slot so a crash between the steps still stores the message once."""
        if cmid is not None and self.cluster:
            return asyncio.ensure_future(self._send_on_cluster(conv_id, sender, text, cmid))
        return self._store_message(conv_id, sender, text, cmid, keys.cmid(sender, cmid) if cmid is not None else None)

    async def _send_on_cluster(self, conv_id: str, sender: str, text: str, cmid: str) -> SendResult:
        record = keys.cmid(sender, cmid)
        previous = await self._guard(self.redis.get(record))
        if previous:
            prev_conv, _, prev_mid = previous.partition(" ")
            return SendResult(prev_mid, SendStatus.DUPLICATE, prev_conv)
        result = await self._store_message(conv_id, sender, text, cmid, keys.cmid_in_conv(conv_id, sender, cmid))
        if result.status != SendStatus.NOT_MEMBER:
            await self._guard(self.redis.set(record, f"{result.conv} {result.mid}", ex=limits.CMID_TTL_S))
        return result

    def _store_message(
        self, conv_id: str, sender: str, text: str, cmid: str | None, record: str | None
    ) -> asyncio.Future[SendResult]:
        stream = keys.stream(conv_id)
        room = is_room(conv_id)
        members = keys.members(conv_id) if room else None
        keys_ = [k for k in (stream, record, members) if k is not None]
        return self.engine.batched(
            "SEND",
            keys_,
            [
                sender,
                text,
                self.history_maxlen,
                limits.CMID_TTL_S,
                "1" if cmid is not None else "0",
                "1" if room else "0",
                cmid or "",
                conv_id,
            ],
            many_keys=[stream, record or "", members or ""],
            decode=_send_result,
        )

    def ack(self, user: str, upto: dict[str, str]) -> asyncio.Future[Any]:
        """Move `user`'s cursors forward (batched; never backwards)."""
        args: list[str] = []
        for cid, mid in upto.items():
            args += (cid, mid)
        return self.engine.batched("ACK", [keys.cursors(user)], args)

    async def history(self, conv_id: str, before: str | None, limit: int) -> tuple[list[StoredMessage], bool]:
        upper = "+" if before is None else mid_before(before)
        if upper is None:
            return [], False
        entries = await self._guard(
            self.redis.xrevrange(
                keys.stream(conv_id),
                max=upper,
                min="-",
                count=limit + 1,
            )
        )
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
        out = [(cid, _entry_message(cid, last[0]) if last else None) for cid, last in zip(conv_ids, lasts, strict=True)]
        out.sort(key=lambda item: mid_key(item[1].mid) if item[1] else (0, 0), reverse=True)
        return out

    async def last_mid(self, conv_id: str) -> str:
        entries = await self._guard(self.redis.xrevrange(keys.stream(conv_id), count=1))
        return entries[0][0] if entries else "0-0"

    async def replay(
        self, user: str, conv_ids: Sequence[str], cursors: dict[str, str], max_per_conv: int = limits.REPLAY_MAX
    ) -> dict[str, tuple[int, list[StoredMessage]]]:
        """For each conversation: (unread from others, newest entries after the cursor).

        Paged so that no single command holds Redis for long, whatever the
        backlog: the newest `max_per_conv` entries come with XREVRANGE (a few
        conversations per round trip), and only a conversation with more
        than that behind its cursor has the rest counted, REPLAY_PAGE entries
        per script call. The count stays exact; its cost is spread over many
        short calls that everyone else's commands interleave with."""
        starts = {cid: mid_after(cursors.get(cid, "0-0")) for cid in conv_ids}
        out: dict[str, tuple[int, list[StoredMessage]]] = {
            cid: (0, []) for cid, start in starts.items() if start is None
        }
        todo = {cid: start for cid, start in starts.items() if start is not None}
        per_round = max(1, REPLAY_ROUND_ENTRIES // max(1, max_per_conv))
        older: list[tuple[str, str, str]] = []  # (conv, range start, range end) still to count
        pending = list(todo)
        for i in range(0, len(pending), per_round):
            group = pending[i : i + per_round]
            pipe = self.redis.pipeline(transaction=False)
            for cid in group:
                pipe.xrevrange(keys.stream(cid), max="+", min=todo[cid], count=max_per_conv)
            for cid, newest in zip(group, await self._guard(pipe.execute()), strict=True):
                entries = [_entry_message(cid, e) for e in reversed(newest)]
                out[cid] = (sum(1 for m in entries if m.sender != user), entries)
                if len(entries) == max_per_conv:
                    older.append((cid, todo[cid], "(" + entries[0].mid))
        for cid, start, end in older:
            unread, entries = out[cid]
            while True:
                others, scanned, last = await self._call("REPLAY", [keys.stream(cid)], [start, end, user, REPLAY_PAGE])
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
        created = await self._call(
            "REGISTER",
            [keys.user(name), keys.user_convs(name), keys.cursors(name)],
            [display_name, password_hash, int(time.time() * 1000), lobby, lobby_last],
        )
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
        data: dict[str, str] = await self._guard(self.redis.hgetall(keys.user(name)))
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
            for n, dn in zip(missing, await self._guard(pipe.execute()), strict=True):
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
        name: str | None
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

    async def create_room(self, room: str, most: int) -> RoomCreation:
        """CREATED, EXISTS (it already existed), or FULL (the server has `most` rooms)."""
        await self._index_rooms()
        return RoomCreation(int(await self._call("CREATE_ROOM", [keys.ROOMS, keys.ROOMS_BY_SIZE], [room, most])))

    async def join(self, room: str, name: str) -> tuple[bool, int]:
        """Returns (newly joined, member count). The cursor starts at the room's
        newest message, so joining does not flood the user with old history.
        The room must exist (`create_room`)."""
        cid = room_id(room)
        if await self.is_member(cid, name):
            return False, int(await self._guard(self.redis.scard(keys.members(cid))))
        last = await self.last_mid(cid)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.cursors(name), cid, last)
        pipe.sadd(keys.user_convs(name), cid)
        pipe.sadd(keys.members(cid), name)
        pipe.scard(keys.members(cid))
        *_, added, count = await self._guard(pipe.execute())
        if added:
            await self._room_size_changed(room, +1)
        return bool(added), int(count)

    async def leave(self, room: str, name: str) -> bool:
        cid = room_id(room)
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(keys.members(cid), name)
        pipe.srem(keys.user_convs(name), cid)
        pipe.hdel(keys.cursors(name), cid)
        removed, *_ = await self._guard(pipe.execute())
        if removed:
            await self._room_size_changed(room, -1)
        return bool(removed)

    async def _room_size_changed(self, room: str, delta: int) -> None:
        """Keep the index's member count: moved by what SADD/SREM reported,
        so concurrent joins add up. (Only a crash between the two steps could
        leave it one off.) The lobby is not indexed: it is always listed."""
        if room != limits.LOBBY:
            await self._guard(self.redis.zincrby(keys.ROOMS_BY_SIZE, delta, room))

    async def _index_rooms(self) -> None:
        """Build the room index once from the room set, for data written
        before the index existed."""
        if self._rooms_indexed:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(keys.ROOMS_BY_SIZE)
        pipe.scard(keys.ROOMS)
        has_index, count = await self._guard(pipe.execute())
        if not has_index and count > 1:
            names = [r for r in await self._guard(self.redis.smembers(keys.ROOMS)) if r != limits.LOBBY]
            for start in range(0, len(names), 1000):
                part = names[start : start + 1000]
                pipe = self.redis.pipeline(transaction=False)
                for room in part:
                    pipe.scard(keys.members(room_id(room)))
                sizes = await self._guard(pipe.execute())
                await self._guard(self.redis.zadd(keys.ROOMS_BY_SIZE, dict(zip(part, map(int, sizes), strict=True))))
        self._rooms_indexed = True

    async def rooms(self, joined: Sequence[str], most: int) -> tuple[list[tuple[str, int]], int]:
        """At most about 2 * `most` rooms with their member counts: the lobby
        and the rooms in `joined` (counted afresh), then the busiest, with the
        counts of the index (so without reading every room); and how many
        rooms there are in all. The cost depends on `most`, not on the number
        of rooms."""
        await self._index_rooms()
        mine = [limits.LOBBY, *sorted(r for r in joined if r != limits.LOBBY)[:most]]
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrevrange(keys.ROOMS_BY_SIZE, 0, most - 1, withscores=True)
        pipe.scard(keys.ROOMS)
        for room in mine:
            pipe.scard(keys.members(room_id(room)))
        busiest, total, *counts = await self._guard(pipe.execute())
        out = [(room, int(c)) for room, c in zip(mine, counts, strict=True)]
        seen = set(mine)
        out += [(room, max(0, int(score))) for room, score in busiest if room not in seen]
        return out, max(int(total), len(out))

    # --- presence ------------------------------------------------------------------

    async def presence_change(self, node_id: str, name: str, delta: int) -> int:
        """Count a connection in or out; returns the user's connections on all nodes."""
        return int(await self._call("PRESENCE", [keys.PRESENCE_ONLINE, keys.presence_node(node_id)], [name, delta]))

    async def online_counts(self, names: Sequence[str] | None = None) -> dict[str, int]:
        if names is None:
            data = await self._guard(self.redis.hgetall(keys.PRESENCE_ONLINE))
            return {n: int(c) for n, c in data.items() if int(c) > 0}
        if not names:
            return {}
        values = await self._guard(self.redis.hmget(keys.PRESENCE_ONLINE, list(names)))
        return {n: int(v) for n, v in zip(names, values, strict=True) if v is not None and int(v) > 0}

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
        return list(
            await self._call(
                "REAP", [keys.PRESENCE_ONLINE, keys.PRESENCE_NODES, keys.presence_node(node_id)], [node_id]
            )
        )

    # --- throttles -------------------------------------------------------------------
    # Every check-and-count is one script, run before the work it guards.

    async def _take(self, counters: Sequence[tuple[str, int, int]]) -> tuple[int, float]:
        """Take one event from each (key, limit, window s) counter, all of one
        slot, if each has room. (0, 0) when taken, else (1-based index of the
        full counter, seconds until its window ends)."""
        args: list[int] = []
        for _, limit, window in counters:
            args += (limit, window)
        which, pttl = await self._call("TAKE", [k for k, _, _ in counters], args)
        return int(which), int(pttl) / 1000

    async def _refund(self, counters: Sequence[str]) -> None:
        await self._call("REFUND", list(counters), [])

    async def login_take_address(
        self, address: str, attempts: int, attempts_window: int, failures: int, failures_window: int
    ) -> tuple[int, float]:
        """Reserve a login attempt and a failure for the address: (0, 0), or
        (1 too many attempts | 2 too many failures, seconds to wait)."""
        return await self._take(
            [
                (keys.login_attempts_address(address), attempts, attempts_window),
                (keys.login_failures_address(address), failures, failures_window),
            ]
        )

    async def login_refund_address(self, address: str, *, attempt: bool) -> None:
        """Give back the failure (and, if `attempt`, the attempt) reserved above."""
        counters = [keys.login_failures_address(address)]
        if attempt:
            counters.append(keys.login_attempts_address(address))
        await self._refund(counters)

    @staticmethod
    def _login_user_keys(name: str, address: str) -> list[str]:
        return [
            keys.login_failures_user(name),
            keys.login_failures_pair(name, address),
            keys.known_addresses(name),
            keys.logins_user(name),
        ]

    async def login_take_user(
        self, name: str, address: str, address_tag: str, args: Sequence[Any]
    ) -> tuple[LoginStatus, float, bool]:
        """LOGIN_USER (see scripts.py): (status, seconds to wait, address known)."""
        status, wait_ms, known = await self._call(
            "LOGIN_USER", self._login_user_keys(name, address), [address_tag, int(time.time() * 1000), *args]
        )
        return LoginStatus(int(status)), int(wait_ms) / 1000, bool(known)

    async def login_settle_user(
        self, name: str, address: str, address_tag: str, outcome: str, known: bool, known_ttl: int, known_max: int
    ) -> None:
        await self._call(
            "LOGIN_SETTLE",
            self._login_user_keys(name, address),
            [address_tag, outcome, 1 if known else 0, int(time.time() * 1000), known_ttl, known_max],
        )

    async def resume_take_address(self, address: str, limit: int, window: int) -> float:
        """Seconds to wait, 0 when the resume is counted."""
        which, wait = await self._take([(keys.resumes_address(address), limit, window)])
        return wait if which else 0.0

    async def resume_take_user(
        self, name: str, address_tag: str, limit: int, window: int, known_ttl: int, known_max: int
    ) -> float:
        wait_ms = await self._call(
            "RESUME_USER",
            [keys.resumes_user(name), keys.known_addresses(name)],
            [limit, window, address_tag, int(time.time() * 1000), known_ttl, known_max],
        )
        return int(wait_ms) / 1000

    async def take_registration(self, address: str, limit: int, window: int) -> float:
        which, wait = await self._take([(keys.registrations_address(address), limit, window)])
        return wait if which else 0.0

    async def take_room_creation(self, name: str, limit: int, window: int) -> float:
        which, wait = await self._take([(keys.room_creations_user(name), limit, window)])
        return wait if which else 0.0

    async def refund_room_creation(self, name: str) -> None:
        await self._refund([keys.room_creations_user(name)])

    # --- pub/sub -------------------------------------------------------------------------

    async def publish(self, payload: bytes) -> None:
        await self.engine.publish(keys.BUS_CHANNEL, payload)

    async def subscribe_bus(self) -> Subscription:
        """A pub/sub subscription to the node bus on a connection of its own;
        the caller closes it with `aclose()`. Its `get_message` raises
        StorageUnavailable when the subscription breaks."""
        return await self.engine.subscribe(keys.BUS_CHANNEL)


__all__ = [
    "CLUSTER_SCHEME",
    "SEND_DUPLICATE",
    "SEND_NEW",
    "SEND_NOT_MEMBER",
    "LoginStatus",
    "RoomCreation",
    "SendResult",
    "SendStatus",
    "StorageUnavailable",
    "Store",
    "StoredMessage",
    "connect_redis",
    "hash_token",
]
