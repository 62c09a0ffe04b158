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
from ..protocol.limits import DEFAULT_MAX_TEXT


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
    tls_cert: Path | None = None
    tls_key: Path | None = None
    node_id: str | None = None  # None: a random id per process

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

    # login and registration throttling (Redis-backed, shared by all nodes)
    login_failures_per_user: int = 10
    login_failures_per_address: int = 50
    login_window: int = 300  # seconds
    registrations_per_address: int = 20
    registration_window: int = 3600

    # accounts
    token_ttl: int = 30 * 24 * 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4
    hash_threads: int = 2

    # storage
    history_maxlen: int = 100_000  # approximate MAXLEN per conversation stream
    # A node silent for node_ttl is dead and its users go offline; others look
    # every heartbeat_interval, so a death is noticed within their sum (12 s).
    node_ttl: float = 10.0
    heartbeat_interval: float = 2.0
    shutdown_grace: float = 5.0
    stats_interval: float = 60.0  # seconds between "stats:" log lines; 0 turns them off

    # TLS handshakes: each holds a place under max_connections_per_address
    # from accept; past tls_handshake_timeout it is aborted; past
    # max_tls_handshakes in progress at once, the oldest is dropped.
    tls_handshake_timeout: float = 5.0
    max_tls_handshakes: int = 1024


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    """`CHINWAG_<FIELD>` variables, keyed by field name, as strings."""
    environ = dict(os.environ) if environ is None else environ
    names = {f.name for f in fields(Settings)}
    out = {}
    for key, value in environ.items():
        if key.startswith("CHINWAG_"):
            name = key[len("CHINWAG_"):].lower()
            if name in names:
                out[name] = value
    return out
