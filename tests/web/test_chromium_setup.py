"""How the browser tests find Chromium: installed when this process may
install it, a skip that says how to install it only where it may not, and a
failed install an error (never a quiet skip)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ..support import browser
from ..support.browser import ChromiumUnavailable, chromium_path


def no_binaries(apt: bool) -> object:
    return lambda name: "/usr/bin/apt-get" if apt and name == "apt-get" else None


@pytest.mark.parametrize(("uid", "apt"), [(1000, True), (1000, False), (0, False)])
def test_where_nothing_can_be_installed_the_reason_says_how(
    monkeypatch: pytest.MonkeyPatch, uid: int, apt: bool
) -> None:
    monkeypatch.setattr(shutil, "which", no_binaries(apt))
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    monkeypatch.setattr(browser, "_apt", lambda *args: pytest.fail("apt-get run where it may not be"))
    with pytest.raises(ChromiumUnavailable, match=r"sudo apt-get install chromium"):
        chromium_path()


def test_as_root_with_apt_a_failed_install_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, ...]] = []

    def failing_apt(*args: str) -> subprocess.CompletedProcess[str]:
        ran.append(args)
        return subprocess.CompletedProcess(["apt-get", *args], 100, "", "E: Unable to locate package chromium")

    monkeypatch.setattr(shutil, "which", no_binaries(apt=True))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(browser, "_apt", failing_apt)
    with pytest.raises(RuntimeError, match="Unable to locate package chromium"):
        chromium_path()
    assert ran == [  # once more after refreshing the package lists
        ("install", "-y", "--no-install-recommends", "chromium"),
        ("update",),
        ("install", "-y", "--no-install-recommends", "chromium"),
    ]


def test_an_installed_chromium_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/chromium" if name == "chromium" else None)
    monkeypatch.setattr(browser, "_apt", lambda *args: pytest.fail("apt-get run with chromium there"))
    assert chromium_path() == "/usr/bin/chromium"
