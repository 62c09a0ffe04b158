"""`chinwag-server --config FILE`: every setting from a TOML file (read with
the standard library's tomllib), under flags and environment variables
(flags > `CHINWAG_*` > the file > defaults), and `--print-config`'s view of
the settings in effect, itself a valid config file.

A key is a setting's name (`redis_url`, or `redis-url` as on the command
line) at the top level. An unknown key, a value of the wrong type or a file
that is not TOML is one `ConfigError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from .settings import Settings

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# Settings whose values are secrets in part: a Redis URL may hold a password.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z+]+://[^:/@]*:)(?P<secret>[^@]+)(?P<tail>@)")


class ConfigError(Exception):
    """A config file the server cannot take; the message says where and why."""


def _kind(name: str) -> str:
    return str(_FIELDS[name].type)


def _typed(path: Path, key: str, value: Any) -> Any:
    """The file's value as the setting's type, or ConfigError."""
    kind = _kind(key)
    where = f"{path}: '{key}'"
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a {_kind_word(kind)}, not true/false")
    if "int" in kind and "str" not in kind:
        if type(value) is not int:
            raise ConfigError(f"{where} must be a whole number, not {value!r}")
        return value
    if "float" in kind:
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {value!r}")
    return Path(value).expanduser() if "Path" in kind else value


def _kind_word(kind: str) -> str:
    if "int" in kind and "str" not in kind:
        return "whole number"
    return "number" if "float" in kind else "string"


def load(path: Path) -> dict[str, Any]:
    """The settings a config file sets, by field name, typed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if isinstance(value, dict):
            raise ConfigError(f"{path}: '{raw_key}' is a table; settings are plain keys at the top level")
        if key not in _FIELDS:
            raise ConfigError(f"{path}: unknown setting '{raw_key}'")
        out[key] = _typed(path, key, value)
    return out


def mask(name: str, value: Any) -> Any:
    """A value as it may be printed: the password of a URL replaced by ***."""
    if isinstance(value, str) and name.endswith("url"):
        return _URL_PASSWORD.sub(r"\g<head>***\g<tail>", value)
    return value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    return f'"{text}"'


def render(settings: Settings) -> str:
    """The settings in effect as a config file (secrets masked); a setting
    without a value is a comment."""
    lines = ["# chinwag-server settings in effect (chinwag-server --print-config)"]
    for name in _FIELDS:
        value = getattr(settings, name)
        if value is None:
            lines.append(f"# {name} = (not set)")
        else:
            lines.append(f"{name} = {_toml(mask(name, value))}")
    return "\n".join(lines) + "\n"
