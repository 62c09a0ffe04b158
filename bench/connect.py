"""`connect`: open many connections (default 5,000) and log them in with
`resume`; measure resumes/s and the server's memory per logged-in
connection. Apart from that, measure password logins/s at the server's
default argon2id parameters.

Tokens come from password logins made beforehand: `users` accounts (default
500), each logged in `tokens_per_user` times (a user may hold many sessions),
on a first server run with a trivial argon2 cost so that minting them takes
seconds, not minutes. With fewer tokens than connections, a token is resumed
on several connections (the server keeps nothing per token but its Redis
key, so a connection costs the same either way). The server is then
restarted on the same data directory with its default argon2 parameters, and
everything below is measured on that fresh process:

1. warm-up: a few connections resume and close (imports, caches);
2. password logins: `password_users` accounts are registered at the default
   cost, then logged in `password_logins` times in total, `login_concurrency`
   at a time;
3. baseline RSS; open every connection (TCP + hello) -> RSS; resume every
   connection, `resume_concurrency` at a time -> RSS. Tokens are dealt so the
   first session of every user comes first, as after a server restart.

`connections_per_s` and `resumes_per_s` are counted from the first start to
the last finish over all worker processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

from chinwag.protocol.errors import ServerError
from chinwag.server.embedded_redis import running_url

from .clients import (
    HOST,
    PASSWORD,
    BenchClient,
    bounded_gather,
    register_users,
    user_names,
)
from .redis_ops import redis_ops_report
from .servers import CHEAP_ARGON2, BenchServer, stop_recording
from .stats import percentile, rounded
from .window import Window
from .workers import AsyncPipe, Stop, WorkerPool, split

# --- the runner's commands to a worker, and its answer -----------------------------------


@dataclass(frozen=True)
class Mint:
    """Password logins whose tokens are kept."""

    port: int
    names: list[str]
    concurrency: int = 16


@dataclass(frozen=True)
class Open:
    """TCP connect + hello, no login yet; the connections are kept."""

    port: int
    count: int
    concurrency: int = 16


@dataclass(frozen=True)
class Resume:
    """Resume the open connections, one token each."""

    tokens: list[str]
    concurrency: int = 16


@dataclass(frozen=True)
class Login:
    """Timed password logins, connection included."""

    port: int
    names: list[str]
    concurrency: int = 16


@dataclass(frozen=True)
class Close:
    """Close the open connections."""


Command = Mint | Open | Resume | Login | Close


@dataclass
class Done:
    t0: float
    t1: float
    ok: int
    errors: dict[str, int]
    tokens: list[str] = field(default_factory=list)  # Mint
    latencies: list[float] = field(default_factory=list)  # Login


@dataclass
class Merged:
    """One command's outcome over every worker."""

    ok: int
    seconds: float
    per_s: float
    errors: dict[str, int]
    raw: list[Done]


def _code(exc: BaseException) -> str:
    return exc.code if isinstance(exc, ServerError) else type(exc).__name__


async def connect_worker(config: None, pipe: AsyncPipe) -> None:
    """Runs the commands the runner sends; each answers with timings."""
    clients: list[BenchClient] = []
    while True:
        command = await pipe.recv(timeout=900)
        if isinstance(command, Stop):
            break
        t0 = time.monotonic()
        errors: Counter[str] = Counter()
        tokens: list[str] = []
        latencies: list[float] = []
        results: list[Any]
        if isinstance(command, Mint):

            async def mint(name: str, port: int = command.port) -> str:
                client = BenchClient(HOST, port, connect_timeout=30)
                try:
                    await client.connect()
                    return (await client.login(name, PASSWORD)).token
                finally:
                    await client.close()

            results = await bounded_gather(command.names, mint, command.concurrency)
            tokens = [r for r in results if isinstance(r, str)]
        elif isinstance(command, Open):

            async def open_one(_: int, port: int = command.port) -> BenchClient:
                client = BenchClient(HOST, port, connect_timeout=60)
                await client.connect()
                return client

            results = await bounded_gather(range(command.count), open_one, command.concurrency)
            clients = [r for r in results if isinstance(r, BenchClient)]
        elif isinstance(command, Resume):

            async def resume_one(pair: tuple[BenchClient, str]) -> bool:
                await pair[0].resume(pair[1])
                return True

            results = await bounded_gather(
                list(zip(clients, command.tokens, strict=False)), resume_one, command.concurrency
            )
        elif isinstance(command, Login):

            async def login_one(name: str, port: int = command.port) -> float:
                start = time.monotonic()
                client = BenchClient(HOST, port, connect_timeout=60)
                try:
                    await client.connect()
                    await client.login(name, PASSWORD)
                    return time.monotonic() - start
                finally:
                    await client.close()

            results = await bounded_gather(command.names, login_one, command.concurrency)
            latencies = [r for r in results if isinstance(r, float)]
        elif isinstance(command, Close):
            results = [await c.close() for c in clients]
            clients = []
        else:
            raise ValueError(f"unknown command {command!r}")
        for r in results:
            if isinstance(r, BaseException):
                errors[_code(r)] += 1
        pipe.send(Done(t0, time.monotonic(), len(results) - sum(errors.values()), dict(errors), tokens, latencies))


def _merge(results: list[Done]) -> Merged:
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    ok = sum(r.ok for r in results)
    span = max(r.t1 for r in results) - min(r.t0 for r in results)
    return Merged(ok, span, ok / span if span > 0 else 0.0, dict(errors), results)


def _commandstats(url: str) -> dict[str, tuple[int, int]]:
    """(calls, microseconds) per command of the server's embedded Redis (`INFO commandstats`)."""
    client = redis.Redis.from_url(url, protocol=2, socket_timeout=5, socket_connect_timeout=2)
    try:
        info = client.info("commandstats")
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v.get("usec", 0)))
        for name, v in info.items()
        if isinstance(v, dict) and "calls" in v
    }


def _command(
    pool: WorkerPool, commands: list[Command], timeout: float = 600, profile: tuple[BenchServer, str] | None = None
) -> Merged:
    """`commands[i]` to worker i; their answers merged."""
    recorder = profile[0].profile_start(profile[1]) if profile else None
    pool.send_each(commands)
    try:
        results = pool.recv_all(Done, timeout)
    finally:
        stop_recording(recorder)
    return _merge(results)


def run(
    connections: int = 5_000,
    users: int = 500,
    tokens_per_user: int = 10,
    password_users: int = 4,
    password_logins: int = 20,
    procs: int = 2,
    resume_concurrency: int = 64,
    open_concurrency: int = 200,
    login_concurrency: int = 8,
) -> dict[str, Any]:
    users = min(users, connections)
    sessions = -(-connections // users)
    tokens_per_user = max(1, min(tokens_per_user, sessions))
    names = user_names("cn", users)
    # token k of every user before token k+1 of any
    session_names = [n for _ in range(tokens_per_user) for n in names]
    stamps = [("start", time.monotonic())]
    server = BenchServer(CHEAP_ARGON2).start()
    setup_t0 = time.monotonic()
    pool = WorkerPool(connect_worker, [None for _ in range(procs)])
    try:
        asyncio.run(register_users(server.port, names))
        minted = _command(
            pool,
            [Mint(server.port, part, concurrency=12) for part in split(session_names, procs)],
            profile=(server, "connect-mint"),
        )
        tokens = [t for r in minted.raw for t in r.tokens]
        if len(tokens) < len(session_names):
            raise RuntimeError(f"only {len(tokens)} of {len(session_names)} tokens minted: {minted.errors}")
        # Worker i minted session_names[i::procs]; put the tokens back in that
        # order (every user's first session first), then repeat to fill.
        ordered = [""] * len(tokens)
        for i, r in enumerate(minted.raw):
            ordered[i::procs] = r.tokens
        sessions_order = [ordered[i % len(ordered)] for i in range(connections)]
        by_worker = split(sessions_order, procs)
        setup_s = time.monotonic() - setup_t0

        stamps.append(("tokens", time.monotonic()))
        # Restart at the default argon2 parameters, same data directory.
        server.stop(keep_dir=True)
        data_dir = server.data_dir
        server = BenchServer(data_dir=data_dir).start()
        server.own_dir = True

        warm = min(50, connections)
        _command(pool, [Open(server.port, len(p)) for p in split(range(warm), procs)])
        _command(pool, [Resume(p[: len(q)]) for p, q in zip(by_worker, split(range(warm), procs), strict=True)])
        _command(pool, [Close() for _ in range(procs)])
        stamps.append(("restart_warm", time.monotonic()))

        pw_names = user_names("pw", password_users)
        registered, reg_s = asyncio.run(register_users(server.port, pw_names, connections=2, window=4))
        login_names = [pw_names[i % password_users] for i in range(password_logins)]
        logins = _command(
            pool,
            [Login(server.port, p, concurrency=max(1, login_concurrency // procs)) for p in split(login_names, procs)],
        )
        login_lat = sorted(x for r in logins.raw for x in r.latencies)

        stamps.append(("password", time.monotonic()))
        time.sleep(0.5)
        rss0 = server.rss()
        opened = _command(
            pool, [Open(server.port, len(p), concurrency=max(1, open_concurrency // procs)) for p in by_worker]
        )
        time.sleep(0.2)
        rss_open = server.rss()
        redis_url = running_url(data_dir)
        stats_before = _commandstats(redis_url)
        window = Window(server, pool)
        window.open()
        resumed = _command(
            pool,
            [Resume(p, concurrency=max(1, resume_concurrency // procs)) for p in by_worker],
            profile=(server, "connect-resume"),
        )
        window.close()
        ops = redis_ops_report(stats_before, _commandstats(redis_url), resumed.ok or 1)
        time.sleep(0.5)
        rss_in = server.rss()
        stamps.append(("connections", time.monotonic()))
        n = resumed.ok or 1
        return {
            "workload": "connect",
            "connections": connections,
            "users": users,
            "sessions_per_user": sessions,
            "loadgen_procs": procs,
            "connections_per_s": round(opened.per_s),
            "open_errors": opened.errors,
            "opened": opened.ok,
            "resumes_per_s": round(resumed.per_s),
            "resumed": resumed.ok,
            "resume_errors": resumed.errors,
            "resume_concurrency": resume_concurrency,
            "server_cpu_us_per_resume": round(window.delta("server") / n * 1e6),
            "redis_cpu_us_per_resume": round(window.delta("redis") / n * 1e6),
            # Redis commands per resume (INFO commandstats over the window), the
            # ones scripts ran included: commandstats cannot tell a GET the server
            # sent from one a script ran, so only EVALSHA is surely top-level
            "redis_commands_per_resume": ops["redis_ops_per_delivered"],
            "redis_evalsha_per_resume": ops["redis_ops_by_command"]["top_level"].get("evalsha", 0.0),
            "redis_commands_by_name_per_resume": dict(
                sorted(
                    {**ops["redis_ops_by_command"]["in_script"], **ops["redis_ops_by_command"]["top_level"]}.items(),
                    key=lambda item: -item[1],
                )
            ),
            "resume_cpu_cores": window.report()["cpu_cores"],
            "tokens": len(tokens),
            "connections_per_token": round(connections / len(tokens), 2),
            "server_rss_kib": {
                "before": rss0["server"],
                "connected": rss_open["server"],
                "logged_in": rss_in["server"],
            },
            "server_rss_kib_per_conn": round((rss_in["server"] - rss0["server"]) / n, 2),
            "server_rss_kib_per_conn_preauth": round((rss_open["server"] - rss0["server"]) / max(1, opened.ok), 2),
            "redis_rss_kib_per_conn": round((rss_in["redis"] - rss0["redis"]) / n, 2),
            "password_logins": logins.ok,
            "password_logins_per_s": round(logins.per_s, 1),
            "password_login_p50_ms": rounded(1000 * (percentile(login_lat, 50) or 0), 1),
            "password_login_p99_ms": rounded(1000 * (percentile(login_lat, 99) or 0), 1),
            "password_login_errors": logins.errors,
            "login_concurrency": login_concurrency,
            "password_registrations_per_s": round(registered / reg_s, 1) if reg_s else None,
            "argon2": "server defaults (time_cost=3, memory 64 MiB, parallelism 4, 2 hash threads)",
            "token_setup_s": round(setup_s, 1),
            "phase_s": {name: round(t - stamps[i][1], 1) for i, (name, t) in enumerate(stamps[1:])},
            "server_warnings": len(server.errors_logged()),
        }
    finally:
        pool.close()
        server.stop()
