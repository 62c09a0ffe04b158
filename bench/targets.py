"""The server a dm or room run measures: chinwag (`Deployment`: its Redis and
N server nodes, driven by the `raw` or `client` driver), ngIRCd (the IRC
driver), or the floor relay with or without its Redis (the IRC driver,
bench/floor_relay.py), and what `--pin` puts on the server's cores."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from .clients import register_users
from .drivers import DriverName
from .floor_relay import RelayServer
from .ngircd import NgircdServer
from .pinning import Pinning
from .servers import CHEAP_ARGON2, Deployment
from .window import WindowServer, server_pids

Target = Literal["chinwag", "ngircd", "relay", "relay+redis"]
TARGET_NAMES: tuple[Target, ...] = ("chinwag", "ngircd")  # what --peer compares
FLOOR_TARGETS: tuple[Target, ...] = ("relay", "relay+redis")


def speaks_irc(target: Target) -> bool:
    return target != "chinwag"


def start(
    target: Target, names: Sequence[str], nodes: int = 1, ngircd: str | None = None
) -> Deployment | NgircdServer | RelayServer:
    """The server, started, with an account for each of `names` where it
    needs accounts (chinwag; IRC nicks need none)."""
    if target in FLOOR_TARGETS:
        return RelayServer(store=target == "relay+redis").start()
    if target == "ngircd":
        if ngircd is None:
            raise ValueError("target ngircd needs the path of the ngircd binary")
        return NgircdServer(ngircd).start()
    server = Deployment(nodes, CHEAP_ARGON2).start()
    try:
        asyncio.run(register_users(server.ports[0], names))
    except BaseException:
        server.stop()
        raise
    return server


def driver_for(target: Target, driver: DriverName) -> DriverName:
    return "irc" if speaks_irc(target) else driver


def tree_pids(server: WindowServer) -> list[int]:
    """The processes of the server side: every node and the Redis, or ngIRCd, or the relay and its Redis."""
    pids, redis_pid = server_pids(server)
    return [*pids, redis_pid] if redis_pid else pids


def pin_server(server: WindowServer, pin: Pinning | None) -> None:
    if pin is not None:
        pin.pin_server(tree_pids(server))


def describe(target: Target, driver: DriverName, server: WindowServer, pin: Pinning | None) -> dict[str, object]:
    out: dict[str, object] = {"target": target, "driver": driver_for(target, driver)}
    if isinstance(server, NgircdServer):
        out["peer_version"] = server.version
    out["pinned"] = pin.describe() if pin is not None else None
    return out
