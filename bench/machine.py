"""What the bench reads about processes and the machine from /proc: CPU
time, run-queue wait, resident memory, how busy the cores are; and the
open-files limit the many connections need."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def cpu_seconds_fine(pid: int) -> float:
    """Like `cpu_seconds`, to the nanosecond rather than the clock tick (10 ms
    here): the on-CPU time of every thread of the process (the first field of
    each /proc/<pid>/task/<tid>/schedstat), for windows of a few ms."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def run_delay_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU
    (from /proc/<pid>/schedstat), in seconds."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def io_syscalls(pid: int) -> tuple[int, int]:
    """Read-like and write-like system calls the process (all its threads)
    has made, from /proc/<pid>/io (`syscr`, `syscw`): counted by the kernel,
    so no tracer slows what it counts. A socket's read(2)/write(2)/writev(2)
    count, as uvloop and Redis make them; epoll does not. (0, 0) when
    unreadable."""
    try:
        fields = dict(line.split(": ", 1) for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(fields["syscr"]), int(fields["syscw"])
    except (OSError, KeyError, ValueError):
        return 0, 0


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, interrupts) CPU seconds of the whole machine since boot,
    all cores; interrupts (irq + softirq) is where loopback TCP is mostly
    processed, charged to no process."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK, (fields[5] + fields[6]) / CLK_TCK


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy, measured over `seconds`."""
    busy0, _, _ = machine_cpu()
    time.sleep(seconds)
    busy1, _, _ = machine_cpu()
    return (busy1 - busy0) / seconds


def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (at most `max_wait` seconds) until the machine is nearly idle;
    returns the busy cores last seen."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_cores(1.0)
        if busy <= threshold or time.monotonic() >= deadline:
            return busy


def raise_fd_limit() -> int:
    """Raise this process's soft open-files limit to the hard limit (children,
    the server among them, inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)
