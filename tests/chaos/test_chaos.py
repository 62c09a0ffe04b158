"""A small run of bench/chaos.py: the server (and its embedded Redis, which
follows it down) is SIGKILLed mid-traffic and restarted on the same data
directory, and its Redis is frozen (SIGSTOP) for a second; every
acknowledged message still reaches every recipient exactly once, and
nothing unacknowledged appears."""

from __future__ import annotations

from pathlib import Path

from bench.chaos import run_chaos


async def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    result = await run_chaos(
        clients=4, duration=4.0, kills=1, rate=8.0, stalls=1, stall_seconds=1.0, data_dir=tmp_path / "data"
    )
    assert result["kills"] == 1
    assert result["redis_stalls"] == 1
    assert result["acked"] > 20
    assert result["acked"] + result["rejected"] == result["sent"]
    assert result["rejected"] == 0
    assert result["delivered"] == result["deliveries_expected"]
    assert result["lost"] == 0
    assert result["unexpected"] == 0
    assert result["duplicated_after_dedupe"] == 0
    assert result["server_exit_status"] == 0
