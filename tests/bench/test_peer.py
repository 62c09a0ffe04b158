"""The peer comparison's parts that need no peer: the ngIRCd configuration,
the one line when ngircd is missing, pinning a real process tree, and the
comparison rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.ngircd import config_text, find_ngircd
from bench.peer import compare, failed_checks, ratio, table
from bench.pinning import Pinning, pin_tree, tree


def test_config_lets_the_load_through(tmp_path: Path) -> None:
    settings = {}
    section = ""
    for line in config_text(40123, tmp_path).splitlines():
        if line.startswith("["):
            section = line
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[(section, key.strip())] = value.strip()
    for key, value in {
        ("[Limits]", "MaxPenaltyTime"): "0",
        ("[Limits]", "MaxConnections"): "0",
        ("[Limits]", "MaxConnectionsIP"): "0",
        ("[Limits]", "MaxJoins"): "0",
        ("[Options]", "DNS"): "no",
        ("[Options]", "Ident"): "no",
        ("[Options]", "PAM"): "no",
        ("[Global]", "Listen"): "127.0.0.1",
        ("[Global]", "Ports"): "40123",
        ("[Options]", "IncludeDir"): str(tmp_path),
    }.items():
        assert settings.get(key) == value, key


def test_missing_ngircd_is_one_line_and_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "ngircd"
    assert find_ngircd(str(missing)) is None
    assert main(["--peer", "ngircd", "--ngircd", str(missing)]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "apt install ngircd" in err


def test_pin_tree_moves_children_too() -> None:
    cpu = min(os.sched_getaffinity(0))
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '30'])"],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while len(tree(parent.pid)) < 2:
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        pinned = pin_tree([parent.pid], {cpu})
        assert len(pinned) == 2
        for pid in pinned:
            assert os.sched_getaffinity(pid) == {cpu}
    finally:
        for pid in reversed(tree(parent.pid)):
            os.kill(pid, 9)
        parent.wait(5)


def test_pin_specs() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        auto = Pinning.parse("auto")
        assert (auto.server, auto.loadgen) == ({cpus[0]}, {cpus[1]})
        assert Pinning.parse(f"{cpus[1]}:{cpus[0]}").server == {cpus[1]}
    for bad in ("0", "0:0", "0:99999"):
        with pytest.raises(ValueError):
            Pinning.parse(bad)


def test_comparison_rows() -> None:
    ours = {
        "delivered_per_s": 5000,
        "p50_ms": 2.0,
        "lost": 0,
        "duplicated": 0,
        "fixed_rate": [{"offered_per_s": 1000, "p99_ms": 3.0, "lost": 1}],
    }
    theirs = {"delivered_per_s": 20000, "p50_ms": 1.0, "fixed_rate": [{"offered_per_s": 1000, "p99_ms": 1.5}]}
    record = compare({"dm": {"chinwag": ours, "ngircd": theirs}, "room": {"chinwag": {}}}, {"driver": "raw"})
    by_what = {r["what"]: r for r in record["rows"]}
    assert by_what["dm closed loop"]["ratio"] == 0.25
    assert by_what["dm closed loop p50"]["ratio"] == 2.0
    assert by_what["dm at 1,000/s p99"]["ratio"] == 2.0
    assert by_what["dm closed loop p99"]["ratio"] is None  # missing on both sides
    assert by_what["dm loss check"]["chinwag"].startswith("lost 1,")
    assert by_what["dm loss check"]["ngircd"] == "ok"
    assert not any(r["what"].startswith("room") for r in record["rows"])  # room ran on one side only
    assert ratio(1, 0) is None
    assert "0.25x" in table(record["rows"], "header")
    assert failed_checks(record) == [f"dm loss check on chinwag: {by_what['dm loss check']['chinwag']}"]
