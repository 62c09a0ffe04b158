"""`chinwag-server --metrics`: set by flag, environment or config file; a bad
address or a busy port is one line and a non-zero exit, like --port's."""

from __future__ import annotations

import re
import socket

from chinwag.server.embedded_redis import recorded_pid

from ..support.metrics import scrape, value
from ..support.processes import FAST_ARGON2_FLAGS, pid_alive, run_cli
from .test_cli import assert_one_line_failure

URL = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")


async def test_a_bad_metrics_address_is_one_line(tmp_path) -> None:
    for bad in ("nonsense", "127.0.0.1:99999", "::1:9464"):
        status, out, err = await run_cli("--metrics", bad, "--data-dir", str(tmp_path / "d"), *FAST_ARGON2_FLAGS)
        assert status == 2
        assert_one_line_failure(status, out, err, "--metrics", bad)
    assert not (tmp_path / "d").exists(), "nothing is started for a bad command line"


async def test_a_metrics_port_in_use_is_one_line_and_stops_what_started(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = await run_cli(
            "--port", "0", "--metrics", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"),
            "--log-level", "WARNING", *FAST_ARGON2_FLAGS,
        )  # fmt: skip
    line = assert_one_line_failure(status, out, err, f"127.0.0.1:{port}", "--metrics", "in use")
    assert status == 1, line
    pid = recorded_pid(tmp_path / "d")
    assert pid is None or not pid_alive(pid)


async def test_metrics_from_the_environment_are_served(spawn, tmp_path) -> None:
    proc = await spawn(tmp_path / "d", env={"CHINWAG_METRICS": "127.0.0.1:0"}, extra_args=["--node-id", "n1"])
    match = URL.search(proc.output())
    assert match, proc.output()
    samples = await scrape(int(match.group(1)))
    assert value(samples, "chinwag_connections", node="n1") == 0
    assert value(samples, "chinwag_node_info", node="n1") == 1
    assert value(samples, "process_open_fds") > 0  # prometheus_client's own collectors are there too
    await proc.stop_async()


async def test_metrics_from_the_config_file_are_served(spawn, tmp_path) -> None:
    config = tmp_path / "chinwag.toml"
    config.write_text('metrics = "127.0.0.1:0"\nnode_id = "n2"\n')
    proc = await spawn(tmp_path / "d", extra_args=["--config", str(config)])
    match = URL.search(proc.output())
    assert match, proc.output()
    assert value(await scrape(int(match.group(1))), "chinwag_users", node="n2") == 0
    await proc.stop_async()


async def test_without_metrics_nothing_is_said_about_them(spawn, tmp_path) -> None:
    proc = await spawn(tmp_path / "d")
    assert "metrics on" not in proc.output()
    await proc.stop_async()
