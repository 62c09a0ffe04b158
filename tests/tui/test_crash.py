"""An error nothing caught never ends the client with status 0: one line says
what happened and where the log is, the log has the traceback, status is 1."""

from __future__ import annotations

import os
import select
import sys
import textwrap
from pathlib import Path

from chinwag.tui.__main__ import run
from chinwag.tui.app import ChinwagApp

from ..support.terminal import spawn_in_pty

HOSTILE = "boom \x1b]0;pwned\x07 [/] \u009b2J"
SHOWN = "boom \u241b]0;pwned\u2407 [/] \ufffd2J"


class CrashingApp(ChinwagApp):
    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(0.05, self._fail)

    def _fail(self) -> None:
        raise RuntimeError(HOSTILE)


def test_a_crash_in_the_app_is_one_line_a_log_and_status_1(tmp_path, capsys) -> None:
    log = tmp_path / "state" / "crash.log"
    app = CrashingApp(server="127.0.0.1:9", config_path=tmp_path / "config.toml")
    assert run(app, headless=True, log_path=log) == 1
    err = capsys.readouterr().err
    assert err == (f"chinwag stopped after an unexpected error (RuntimeError: {SHOWN}); details are in {log}\n")
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "in _fail" in text and f"RuntimeError: {HOSTILE}" in text


def test_an_unwritable_log_still_shows_the_traceback(tmp_path, capsys) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    app = CrashingApp(server="127.0.0.1:9", config_path=tmp_path / "config.toml")
    assert run(app, headless=True, log_path=blocker / "crash.log") == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"chinwag stopped after an unexpected error (RuntimeError: {SHOWN}); "
        f"the log could not be written to {blocker / 'crash.log'}"
    )
    assert "Traceback (most recent call last)" in err and "in _fail" in err
    assert "\x1b" not in err and "\x07" not in err and "\x9b" not in err


def test_a_clean_quit_is_status_0(tmp_path, capsys) -> None:
    class Quitting(ChinwagApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.call_later(self.exit)

    app = Quitting(server="127.0.0.1:9", config_path=tmp_path / "config.toml")
    assert run(app, headless=True, log_path=tmp_path / "crash.log") == 0
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "crash.log").exists()


# The real entry point in a real terminal (a pty), with the app made to fail.
SCRIPT = textwrap.dedent("""
    import sys
    from chinwag.tui import app

    def on_mount(self):
        raise RuntimeError("forced failure")

    app.ChinwagApp.on_mount = on_mount
    from chinwag.tui.__main__ import main
    sys.exit(main(["--server", "127.0.0.1:9"]))
""")


def test_the_chinwag_command_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    proc, controller = spawn_in_pty([sys.executable, "-c", SCRIPT], tmp_path)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 30 s; so far: {output!r}")
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the other side closed: the process has ended
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    status = proc.wait(timeout=30)
    log = tmp_path / "state" / "chinwag" / "crash.log"
    assert status == 1, output
    line = f"chinwag stopped after an unexpected error (RuntimeError: forced failure); details are in {log}"
    assert line in output.decode(errors="replace")
    assert b"Traceback" not in output  # the screenful is in the log, not on the terminal
    assert "RuntimeError: forced failure" in log.read_text(encoding="utf-8")
