"""chinwag-admin in process: --help everywhere, what it prints for people
and for scripts, hostile names, durations; against the suite's real Redis."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

import pytest

from chinwag.admin import cli
from chinwag.admin.common import AdminError, duration
from chinwag.admin.output import printable
from chinwag.server.store import Store


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _commands(parser) -> list[list[str]]:
    """Every command path of the parser: [group], [group, command], ..."""
    out: list[list[str]] = []
    for action in parser._actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            for name, sub in choices.items():
                out.append([name])
                out.extend([name, *rest] for rest in _commands(sub))
    return out


def test_help_everywhere(capsys) -> None:
    paths = _commands(cli.build_parser())
    assert ["users", "reset-password"] in paths and ["invites", "create"] in paths and ["sessions", "revoke"] in paths
    for path in [[], *paths]:
        with pytest.raises(SystemExit) as exit_:
            cli.main([*path, "--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: chinwag-admin"), path


def test_the_console_script_is_declared() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["chinwag-admin"] == "chinwag.admin.cli:main"


def test_a_group_is_one_module_with_register() -> None:
    for module in cli.GROUPS:
        assert callable(module.register), module.__name__


def test_durations() -> None:
    assert [duration(d) for d in ("30s", "15m", "12h", "7d", "2w")] == [30, 900, 43_200, 604_800, 1_209_600]
    for bad in ("7", "d", "-1d", "0h", "1y", "400d", "7 days", ""):
        with pytest.raises(AdminError):
            duration(bad)


def test_printable_escapes_terminal_controls() -> None:
    assert printable("Al\x1b[31mice\u202e\n") == "Al\\u001b[31mice\\u202e\\u000a"
    assert printable("Zoë 🎉") == "Zoë 🎉"


def _seed(url: str) -> None:
    async def go() -> None:
        store = Store(url)
        await store.start()
        try:
            await store.create_user("mallory", "Mal\x1b]0;pwned\x07", "x")
            await store.create_user("alice", "Alice", "x")
        finally:
            await store.close()

    asyncio.run(go())


def test_tables_escape_hostile_names_and_json_is_parseable(clean_redis, capsys) -> None:
    _seed(clean_redis)
    status, out, _ = run(capsys, "--redis-url", clean_redis, "users", "list")
    assert status == 0
    assert "\x1b" not in out and "\x07" not in out and "Mal\\u001b]0;pwned\\u0007" in out
    header, *rows = out.splitlines()
    assert header.split() == ["USER", "DISPLAY", "NAME", "ADMIN", "DISABLED", "ONLINE", "CREATED"]
    assert [r.split()[0] for r in rows] == ["alice", "mallory"]
    status, out, _ = run(capsys, "--redis-url", clean_redis, "users", "list", "--json")
    listed = json.loads(out)
    assert "\x1b" not in out  # JSON escapes it too
    assert [u["display_name"] for u in listed] == ["Alice", "Mal\x1b]0;pwned\x07"]
    status, out, _ = run(capsys, "--redis-url", clean_redis, "users", "list", "--prefix", "mal", "--json")
    assert [u["username"] for u in json.loads(out)] == ["mallory"]


def test_empty_listings_say_so(clean_redis, capsys) -> None:
    assert run(capsys, "--redis-url", clean_redis, "users", "list")[1].strip() == "no users"
    assert run(capsys, "--redis-url", clean_redis, "invites", "list")[1].strip() == "no invitation codes"
    assert json.loads(run(capsys, "--redis-url", clean_redis, "--json", "invites", "list")[1]) == []


def test_a_failure_is_one_line_on_stderr(clean_redis, capsys) -> None:
    status, out, err = run(capsys, "--redis-url", clean_redis, "sessions", "list", "ghost")
    assert (status, out) == (1, "")
    assert err == "chinwag-admin: there is no user 'ghost' (see: chinwag-admin users list)\n"


def test_the_servers_config_file_names_the_redis(clean_redis, capsys, tmp_path) -> None:
    config = tmp_path / "chinwag.toml"
    config.write_text(f'redis_url = "{clean_redis}"\nport = 7979\n')
    _seed(clean_redis)
    status, out, _ = run(capsys, "--config", str(config), "--json", "users", "list")
    assert status == 0 and [u["username"] for u in json.loads(out)] == ["alice", "mallory"]
    config.write_text('redis_url = "unix:///nowhere.sock"\nno_such_setting = 1\n')
    status, out, err = run(capsys, "--config", str(config), "users", "list")
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "no_such_setting" in err and str(config) in err
