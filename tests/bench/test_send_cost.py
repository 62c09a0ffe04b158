"""bench/send_cost.py: every variant takes out the call it names from the
server's real SEND_MANY (and stops when the script no longer has it), and
all of them run against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from bench import send_cost
from chinwag.server import scripts


def test_each_variant_takes_out_one_call() -> None:
    found = send_cost.variants()
    real = found["real"]
    assert real == scripts.SEND_MANY
    for name, call, replacement in send_cost.WITHOUT:
        assert call in real
        assert call not in found[name] or replacement.startswith(call)
        assert found[name] != real


def test_a_changed_script_stops_the_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scripts, "SEND_MANY", scripts.SEND_MANY.replace("redis.call('HSET', texts, id, text)", ""))
    with pytest.raises(SystemExit, match="no longer has"):
        send_cost.variants()


def test_every_variant_runs_on_a_real_redis() -> None:
    line, shapes = asyncio.run(send_cost.run([4], messages=32, convs=3, reps=1))
    cost = line["redis_cpu_us_per_msg"]
    assert set(cost) == set(send_cost.variants())
    assert all(v > 0 for v in cost.values())
    assert set(line["saved_us_per_msg"]) == set(cost) - {"real"}
    # the embedded Redis (6.2) writes a nested reply array by array
    assert shapes["flat"]["redis_writes_per_call"] == 1
    assert shapes["nested"]["redis_writes_per_call"] >= (5 if line["redis_version"].startswith("6.") else 1)
