"""`chinwag web` without a browser: what it runs for a session, who may start
one, and where it listens. A real `chinwag web` process, spoken to over HTTP
and its websocket (as the page's script does) with aiohttp."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from chinwag.web.server import exposure_warning, is_loopback, origin_of, session_command

from ..support.waits import eventually
from ..support.web import CHINWAG, WebProcess, group_alive

HOSTILE_SERVER = "127.0.0.1:1; touch PWNED; $(touch PWNED2) `touch PWNED3`"
DRAW_TIMEOUT_S = 10.0


async def first_drawing(ws: aiohttp.ClientWebSocketResponse, words: bytes = b"") -> bytes:
    """What the session's client draws, until `words` appear (or anything, for b"")."""
    drawn = b""
    async with asyncio.timeout(DRAW_TIMEOUT_S):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                drawn += message.data
                if words in drawn and drawn:
                    return drawn
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise AssertionError(f"the session closed before drawing {words!r}: {drawn[-500:]!r}")


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


def test_the_session_command_is_ours_with_every_word_quoted() -> None:
    command = session_command(["--server", HOSTILE_SERVER, "--ca", "/a path/with 'quotes'"], python="/opt/py 3/python")
    assert shlex.split(command) == [
        "exec",
        "/opt/py 3/python",
        "-m",
        "chinwag.web.session",
        "--server",
        HOSTILE_SERVER,
        "--ca",
        "/a path/with 'quotes'",
    ]


async def test_a_hostile_server_argument_reaches_the_client_as_one_word_and_runs_nothing(
    web: Callable[..., Awaitable[WebProcess]], tmp_path: Path
) -> None:
    served = await web("--server", HOSTILE_SERVER, cwd=tmp_path)
    async with aiohttp.ClientSession() as http, http.ws_connect(served.url.replace("http", "ws") + "/ws") as ws:
        drawn = await first_drawing(ws, b"touch PWNED3")  # the login screen shows the whole of it as the server
    assert b"127.0.0.1:1; touch PWNED;" in drawn
    assert os.listdir(tmp_path) == []  # no shell ran any part of it


async def test_only_the_pages_own_origin_may_start_a_session(web: Callable[..., Awaitable[WebProcess]]) -> None:
    served = await web()
    ws_url = served.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as http:
        others = ("http://evil.example", f"http://evil.example:{served.port}", "http://127.0.0.1:1")
        for origin in (*others, "null", "http://[::1", f"http://127.0.0.1:{served.port}0", ""):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url, headers={"Origin": origin})
            assert refused.value.status == 403, origin
        for origin in (served.url, f"http://localhost:{served.port}"):
            async with http.ws_connect(ws_url, headers={"Origin": origin}) as ws:
                assert await first_drawing(ws, b"registers")  # the login screen's hint


async def test_a_stop_ends_every_sessions_client_and_leaves_nothing(
    web: Callable[..., Awaitable[WebProcess]], tmp_path: Path
) -> None:
    served = await web(env={"TMPDIR": str(tmp_path)})
    ws_url = served.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as http:
        first, second = await http.ws_connect(ws_url), await http.ws_connect(ws_url)
        for ws in (first, second):
            await first_drawing(ws, b"registers")
        assert len(os.listdir(tmp_path)) == 2  # a settings directory each
        # Read on, as a browser does (it answers the server's close at once).
        reading = [asyncio.create_task(drain(ws)) for ws in (first, second)]
        served.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(served.proc.wait(), 10) == 0  # aiohttp alone waits a minute
        await asyncio.gather(*reading)
    assert await eventually(lambda: not group_alive(served.proc.pid), timeout=10)  # the clients quit by themselves
    assert os.listdir(tmp_path) == []  # and each wrapper cleaned up


async def test_sessions_past_the_cap_are_refused(web: Callable[..., Awaitable[WebProcess]]) -> None:
    served = await web("--max-sessions", "1")
    ws_url = served.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url) as first:
            await first_drawing(first)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url)
            assert refused.value.status == 503
        async with asyncio.timeout(DRAW_TIMEOUT_S):  # the first one's end frees its place
            while True:
                try:
                    async with http.ws_connect(ws_url) as again:
                        await first_drawing(again)
                        break
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 503
                    await asyncio.sleep(0.05)


async def test_the_page_loads_nothing_from_elsewhere_and_may_not_be_framed(
    web: Callable[..., Awaitable[WebProcess]],
) -> None:
    served = await web()
    async with aiohttp.ClientSession() as http, http.get(served.url) as response:
        page = await response.text()
        headers = response.headers
    assert response.status == 200
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "<title>chinwag</title>" in page
    for attribute in ('href="', 'src="', 'url("'):
        for link in page.split(attribute)[1:]:
            assert link.startswith(served.url), link[:80]


async def run_web(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CHINWAG, "web", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return int(proc.returncode or 0), out.decode()


async def test_every_interface_without_a_public_url_is_refused_before_listening() -> None:
    status, out = await run_web("--host", "0.0.0.0", "--port", "0")
    assert status == 2
    assert "give --public-url" in out


async def test_a_port_in_use_is_one_line_and_status_2(web: Callable[..., Awaitable[WebProcess]]) -> None:
    served = await web()
    status, out = await run_web("--port", str(served.port))
    assert status == 2
    assert out.strip() == f"chinwag web: cannot listen on 127.0.0.1 port {served.port}: Address already in use"


async def test_bad_ports_and_caps_are_usage_errors() -> None:
    for args in (("--port", "70000"), ("--max-sessions", "0")):
        status, out = await run_web(*args)
        assert status == 2, args
        assert "usage: chinwag web" in out


async def test_chinwag_help_names_the_web_subcommand() -> None:
    status, out = await run_web("--help")
    assert status == 0
    assert "--server HOST:PORT" in out and "TLS proxy" in out
    proc = await asyncio.create_subprocess_exec(*CHINWAG, "--help", stdout=asyncio.subprocess.PIPE)
    out_bytes, _ = await proc.communicate()
    assert b"`chinwag web` serves" in out_bytes and b"send|tail|wait|login" in out_bytes


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("chat.example.org", False),
    ],
)
def test_a_warning_exactly_when_not_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    warning = exposure_warning(host)
    assert (warning is None) is loopback
    if warning is not None:
        assert host in warning and "TLS" in warning


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:7880/", "http://127.0.0.1:7880"),
        ("HTTPS://Chat.Example.org/web/", "https://chat.example.org"),
        ("https://chat.example.org:443", "https://chat.example.org"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_origins_compare_by_scheme_host_and_port(url: str, origin: str) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize("header", ["", "null", "http://[::1", "http://x:99999", "http://x:abc", "\x00", "file://"])
def test_an_origin_that_is_no_url_matches_none(header: str) -> None:
    assert origin_of(header) == ""


def test_the_session_wrapper_runs_this_python() -> None:
    assert shlex.split(session_command([]))[1] == sys.executable
