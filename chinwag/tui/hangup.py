"""When the terminal goes away (an SSH connection drops, a terminal window or a
tmux pane is closed) the client ends within a second instead of spinning.

Two signs, because either can be missing:

- SIGHUP. On a hangup the kernel signals only the session leader (usually
  the shell); the foreground job hears of it when that leader exits or
  forwards it. A client whose leader outlives the hangup (a wrapper that
  ignores SIGHUP), or whose terminal is not its controlling one, gets none.
- The terminal itself. After a hangup every open file on it reports
  POLLHUP/POLLERR, and reads return end of file. Textual's input thread takes
  an empty read for "nothing yet" and selects again at once, forever: a busy
  loop at full CPU. A zero-timeout poll reads nothing, so checking for the
  hangup never takes a keystroke from that thread.

Once the terminal is gone there is nothing to restore on it, and Textual's
own shutdown can block for good there (see `silence_output`; the SIGCONT the
kernel sends with SIGHUP also makes Textual restart its terminal mode on the
dead terminal). So the client closes its connection and ends the process
itself, with a deadline that holds even if the main thread is stuck. A
SIGHUP sent while the terminal is still there (`kill -HUP`) is an ordinary
exit, which restores the terminal.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from typing import NoReturn

HANGUP_STATUS = 128 + signal.SIGHUP  # 129, what a shell reports for a job ended by SIGHUP
CHECK_EVERY_S = 0.5  # how often the app looks for a hung-up terminal
CLOSE_WAIT_S = 1.0  # the longest a hung-up client waits for its connection to close
DEADLINE_S = 2.0  # a hung-up client has ended by then, even if its main thread is stuck


def hung_up(fd: int) -> bool:
    """Whether the terminal (or pipe) on `fd` has hung up for good."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        ready = poller.poll(0)
    except OSError:
        return False
    return any(mask & (select.POLLHUP | select.POLLERR) for _, mask in ready)


def silence_output() -> None:
    """Point stdout and stderr at the null device. Every write to a hung-up
    terminal fails with EIO: Textual's writer thread dies on the first one,
    its queue of 30 writes then fills and the next write blocks the app for
    good, and anything printed at exit would raise."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            os.dup2(null, fd)
    finally:
        os.close(null)


def leave() -> NoReturn:
    """End the process now, with HANGUP_STATUS."""
    os._exit(HANGUP_STATUS)


def leave_by(seconds: float) -> None:
    """End the process after `seconds` at the latest, from a thread of its own."""
    deadline = threading.Timer(seconds, leave)
    deadline.daemon = True
    deadline.start()
