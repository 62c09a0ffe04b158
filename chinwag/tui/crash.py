"""What happens when the client meets an error nothing caught: the full
traceback goes to a log file, the person at the terminal gets one line saying
what happened and where that file is, and the exit status is 1, so a script
or a shell prompt sees the failure (Textual would print a screenful of
traceback with local variables, and `chinwag` used to exit with 0)."""

from __future__ import annotations

import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from .config import default_state_dir
from .text import shown

LOG_NAME = "crash.log"
SUMMARY_MAX = 200  # characters of the error's own words on the one line


def default_log_path() -> Path:
    return default_state_dir() / LOG_NAME


def log_text(error: BaseException) -> str:
    """The log file's text: when, which versions, and the whole traceback."""
    import textual

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    header = (
        f"chinwag {__version__} crashed at {when}\n"
        f"Python {platform.python_version()}, Textual {textual.__version__}, "
        f"{platform.platform()}\n\n"
    )
    return header + "".join(traceback.format_exception(error))


def summary(error: BaseException) -> str:
    """`MarkupError: auto closing tag ...`, on one line and safe to print:
    an error's message can quote someone else's string."""
    words = shown(str(error).replace("\n", " "))
    if len(words) > SUMMARY_MAX:
        words = words[: SUMMARY_MAX - 1] + "…"
    return f"{type(error).__name__}: {words}" if words else type(error).__name__


def report(error: BaseException, path: Path | None = None) -> str:
    """Write the log and return the line to print. If the log cannot be
    written, the line says so and the traceback follows it, so nothing is lost."""
    path = path or default_log_path()
    text = log_text(error)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        return (
            f"chinwag stopped after an unexpected error ({summary(error)}); "
            f"the log could not be written to {path} ({exc.strerror or exc}), "
            f"so here it is:\n{shown(text, lines=True)}"
        )
    return f"chinwag stopped after an unexpected error ({summary(error)}); details are in {path}"


def print_report(error: BaseException, path: Path | None = None) -> None:
    print(report(error, path), file=sys.stderr, flush=True)
