"""Server settings for in-process test servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chinwag.server.process import FAST_ARGON2
from chinwag.server.settings import Settings

__all__ = ["FAST_ARGON2", "PASSWORD", "fast_settings"]

PASSWORD = "correct horse battery"


def fast_settings(**overrides: Any) -> Settings:
    """Settings for a server on an ephemeral loopback port with argon2id at
    OWASP's minimum (FAST_ARGON2); `overrides` are any other Settings fields."""
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "data_dir": Path("/nonexistent"), **FAST_ARGON2}
    values.update(overrides)
    return Settings(**values)
