"""The client's small settings file, `~/.config/chinwag/config.toml`: the last
server, the last username, the theme, and how desktop notifications reach
the terminal (`notifications`: one of desktop_notify.METHODS; "auto" picks by
the terminal, "off" turns them off). Never the password.

Read with tomllib; written by hand, since three string keys do not justify a
TOML writer dependency.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..protocol import DEFAULT_PORT
from .desktop_notify import METHODS

DEFAULT_SERVER = f"127.0.0.1:{DEFAULT_PORT}"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "chinwag" / "config.toml"


def default_state_dir() -> Path:
    """Where the client keeps what is not a setting (the crash log):
    `$XDG_STATE_HOME/chinwag`, by default `~/.local/state/chinwag`."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "chinwag"


def default_data_dir() -> Path:
    """Where the client keeps what it must not lose (the outbox of lines not
    yet sent): `$XDG_DATA_HOME/chinwag`, by default `~/.local/share/chinwag`."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "chinwag"


@dataclass(frozen=True, slots=True)
class Config:
    server: str = DEFAULT_SERVER
    username: str = ""
    theme: str = ""
    notifications: str = "auto"

    def with_changes(self, **changes: str) -> Config:
        return replace(self, **changes)


def load_config(path: Path) -> Config:
    """The saved settings; defaults for anything missing, unreadable or wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return Config()
    known = {f.name for f in fields(Config)}
    values = {k: v for k, v in data.items() if k in known and isinstance(v, str)}
    if values.get("notifications") not in METHODS:
        values.pop("notifications", None)  # a method this client does not know: the default
    return Config(**values)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def dump_config(config: Config) -> str:
    lines = ["# chinwag client settings (the password is never stored)"]
    for f in fields(Config):
        value = getattr(config, f.name)
        if value:
            lines.append(f"{f.name} = {_toml_string(value)}")
    return "\n".join(lines) + "\n"


def save_config(path: Path, config: Config) -> None:
    """Write atomically; a read-only home is not worth crashing the client for."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(dump_config(config), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
