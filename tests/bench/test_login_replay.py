"""bench/login_replay.py on a small backlog, a real chinwag-server process
and its Redis: every combination logs in (or resumes), gets `unread` for the
whole backlog, the replay's share of it, and the rest by history pages,
checked mid for mid against what the sender was given (the bench raises
otherwise), with the times in the order they happen. No speed is asserted."""

from __future__ import annotations

from bench import login_replay
from chinwag.protocol import limits


def test_a_small_backlog_is_held_whole_on_every_path() -> None:
    backlog = limits.REPLAY_MAX + 2 * limits.HISTORY_MAX + 7
    result = login_replay.run(messages=backlog, runs=1, window=64)
    assert result["workload"] == "login_replay" and result["server_warnings"] == 0
    for name in ("dm_login", "dm_resume", "room_login", "room_resume"):
        part = result[name]
        assert part["unread"] == backlog and part["replayed"] == limits.REPLAY_MAX
        assert part["history_pages"] == 3  # 200, 200, 7
        times = [part[k]["median"] for k in ("reply_ms", "first_replayed_ms", "replay_ms", "all_ms")]
        assert times == sorted(times) and times[0] > 0
        assert part["redis_commands"] > 0 and part["server_cpu_ms"]["median"] > 0
