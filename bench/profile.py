"""Summarise a py-spy collapsed-stack file (`py-spy record -f raw`, or what
`python -m bench --profile DIR` writes): the functions with the most samples
of their own, and the most samples including their callees.

    python -m bench.profile DIR/dm-closed.txt [--top 30]

Samples in idle thread-pool workers (`concurrent/futures/thread.py`, the
argon2 hashing pool waiting for work) are left out; `Runner.run` self time is
the uvloop event loop's own native work (socket reads and writes, epoll) plus
its idle waits, which py-spy cannot tell apart without `--native`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

IDLE_MARKERS = ("_worker (concurrent/futures/thread.py",)


def summarise(path: Path, top: int = 30) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE_MARKERS):
            idle += n
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [
        f"{path.name}: {total} samples on the event-loop thread(s) ({idle} idle pool samples left out)",
        "",
        "own time:",
    ]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)] if total else []
    lines += ["", "including callees:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top + 10)] if total else []
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    for path in args.files:
        print(summarise(path, args.top))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
