"""`chinwag-server --config FILE` and `--print-config`: every setting from a
TOML file under the environment and the flags, one line naming the file and
the key for anything wrong, and the effective settings printed with their
secrets masked (as a file the server can read again)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chinwag.server.cli import Command, settings_from

from ..support.processes import run_cli
from .test_cli import assert_one_line_failure


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chinwag.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path, 'port = 7001\nsend_rate = 5\nmax-text = 1000\nlog_level = "debug"\nhost = "127.0.0.3"\n')
    s, command = settings_from(["--config", str(path)], {})
    assert command is Command.SERVE
    assert (s.port, s.send_rate, s.max_text, s.log_level, s.host) == (7001, 5.0, 1000, "DEBUG", "127.0.0.3")
    s, _ = settings_from(["--config", str(path)], {"CHINWAG_PORT": "7002", "CHINWAG_SEND_RATE": "7"})
    assert (s.port, s.send_rate, s.max_text) == (7002, 7.0, 1000)
    s, _ = settings_from(["--config", str(path), "--port", "7003"], {"CHINWAG_PORT": "7002"})
    assert s.port == 7003
    s, _ = settings_from([], {"CHINWAG_CONFIG": str(path)})
    assert s.port == 7001, "CHINWAG_CONFIG names the file too"
    default, _ = settings_from([], {})
    assert default.port != 7001


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("prot = 1\n", ["unknown setting 'prot'"]),
        ('port = "7000"\n', ["'port'", "whole number"]),
        ("port = 1.5\n", ["'port'", "whole number"]),
        ("send_rate = true\n", ["'send_rate'", "true/false"]),
        ("host = 127\n", ["'host'", "string"]),
        ("[server]\nport = 1\n", ["'server'", "top level"]),
        ("port = \n", ["not valid TOML"]),
        ("port = 99999\n", ["--port", "not a TCP port"]),
    ],
)
async def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path: Path, text: str, words: list[str]) -> None:
    path = _file(tmp_path, text)
    status, out, err = await run_cli("--config", str(path), "--print-config")
    assert status == 2
    line = assert_one_line_failure(status, out, err, *words)
    if "TCP port" not in line:
        assert str(path) in line


async def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    status, out, err = await run_cli("--config", str(tmp_path / "nope.toml"), "--print-config")
    assert_one_line_failure(status, out, err, "nope.toml", "no such file")


async def test_print_config_masks_secrets_and_reads_back(tmp_path: Path) -> None:
    path = _file(tmp_path, 'redis_url = "redis://:s3cret-pass@127.0.0.1:6390/0"\nport = 7010\n')
    status, out, err = await run_cli("--config", str(path), "--print-config", "--send-rate", "3")
    assert status == 0, err
    assert "s3cret-pass" not in out
    assert 'redis_url = "redis://:***@127.0.0.1:6390/0"' in out
    assert "port = 7010" in out and "send_rate = 3.0" in out
    again = _file(tmp_path, out.replace("s3cret", "x"))
    s, _ = settings_from(["--config", str(again)], {})
    assert (s.port, s.send_rate) == (7010, 3.0), "the printed settings are a config file"
