"""Looking at everything Redis holds, for tests that must prove a text is
gone (a deleted message is erased, not hidden): every key's values as its
type reads them, and its DUMP (the bytes a snapshot would write), with RDB
compression off so a text cannot hide inside an LZF block."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis as sync_redis


def _nodes(url: str, ports: list[int] | None) -> Iterator[sync_redis.Redis]:
    if ports is None:
        yield sync_redis.Redis.from_url(url)
        return
    for port in ports:
        yield sync_redis.Redis(host="127.0.0.1", port=port)


def _values(node: sync_redis.Redis, key: bytes) -> list[bytes]:
    kind = node.type(key).decode()
    if kind == "string":
        return [node.get(key) or b""]
    if kind == "hash":
        return [b for pair in node.hgetall(key).items() for b in pair]
    if kind == "set":
        return list(node.smembers(key))
    if kind == "zset":
        return list(node.zrange(key, 0, -1))
    if kind == "list":
        return list(node.lrange(key, 0, -1))
    if kind == "stream":
        out: list[bytes] = []
        for entry_id, fields in node.xrange(key):
            out.append(entry_id)
            for pair in fields.items():
                out.extend(pair)
        return out
    raise AssertionError(f"a key of an unexpected type: {key!r} is a {kind}")


def holders(url: str, needle: str, ports: list[int] | None = None) -> list[str]:
    """Every key (on every node listed by `ports`, else the one Redis of
    `url`) whose values or DUMP contain `needle`."""
    raw = needle.encode()
    found: list[str] = []
    for node in _nodes(url, ports):
        previous: Any = node.config_get("rdbcompression")["rdbcompression"]
        node.config_set("rdbcompression", "no")
        try:
            for key in node.scan_iter(count=1000):
                dump = node.dump(key) or b""
                if raw in dump or any(raw in value for value in _values(node, key)):
                    found.append(key.decode(errors="replace"))
        finally:
            node.config_set("rdbcompression", previous)
            node.close()
    return found
