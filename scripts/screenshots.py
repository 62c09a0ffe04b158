"""`make screenshots`: render the TUI's main screens from a real server (with
its embedded Redis, in a temporary directory) into screenshots/ as SVG and PNG,
and the web client (`chinwag web`) in a headless Chromium as web.png.

    python scripts/screenshots.py [OUTPUT_DIR]
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.settings import Settings
from chinwag.tui.app import ChinwagApp
from chinwag.tui.screens.chat import ChatScreen
from chinwag.tui.widgets.status import ConnectionStatus

PASSWORD = "correct horse battery"
PEOPLE = {
    "alice": "Alice Liddell",
    "bob": "Bob Marley",
    "carol": "Carol Danvers",
    "dave": "Dave Grohl",
    "erin": "Erin Brockovich",
    "frank": "Frank Ocean",
    "grace": "Grace Hopper",
}
LOBBY = [
    ("carol", "morning all ☕"),
    ("bob", "morning! did anyone look at the deploy from last night?"),
    ("dave", "yes — the migration ran in 40 s, no errors, and the new index is live"),
    ("alice", "nice. I'll write it up in #ops before lunch"),
    ("erin", "/me brings croissants for whoever fixed the flaky test"),
    (
        "carol",
        "that was grace, she found a race between the replay and live delivery: the "
        "cursor moved before the buffered messages were released.\n"
        "the write-up: https://wiki.example.org/ops/incidents/2026-11-30-replay-race#the-fix",
    ),
    ("dave", "[bold]this is not markup[/bold] — chinwag shows text exactly as typed"),
    ("bob", "alice, can you check the backup job too? it paged twice overnight"),
    ("alice", "on it"),
]


async def wait_until(pilot: Pilot, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.05)


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)

    async def __call__(self, pilot: Pilot, name: str) -> None:
        await pilot.pause(0.3)
        svg = pilot.app.export_screenshot(title="chinwag")
        (self.out / f"{name}.svg").write_text(svg, encoding="utf-8")
        try:
            import cairosvg
        except ImportError:
            print(f"  {name}.svg (install cairosvg for PNGs)")
            return
        # cairosvg ignores the web font the SVG names and its textLength: use
        # a local monospace font, sized so one character is one 12.2 px cell.
        for_png = svg.replace(
            "font-family: Fira Code, monospace;\n        font-size: 20px;",
            "font-family: 'DejaVu Sans Mono', monospace;\n        font-size: 20.26px;",
        )
        cairosvg.svg2png(bytestring=for_png.encode(), write_to=str(self.out / f"{name}.png"), output_width=1600)
        print(f"  {name}.svg, {name}.png")


async def client(port: int, name: str) -> ChatClient:
    c = ChatClient("127.0.0.1", port)
    await c.connect()
    await c.login(name, PASSWORD)
    return c


async def seed(port: int) -> dict[str, ChatClient]:
    setup = ChatClient("127.0.0.1", port)
    await setup.connect()
    for name, display in PEOPLE.items():
        await setup.register(name, PASSWORD, display)
    await setup.close()
    clients = {name: await client(port, name) for name in ("alice", "bob", "carol", "dave", "erin", "frank")}
    await clients["alice"].join("ops", private=True)  # alice owns #ops; members come by invitation
    for name in ("bob", "carol", "dave", "grace"):
        await clients["alice"].invite("ops", name)
    for name in ("bob", "dave"):
        await clients[name].join("ops")
    await clients["carol"].join("design")
    await seed_rooms(clients)
    for sender, text in LOBBY:
        await clients[sender].send("#lobby", text)
    await clients["frank"].send("@alice", "thanks for the review yesterday!")
    answer = await clients["alice"].send("@frank", "any time")
    await clients["alice"].mark_read("@frank", answer.mid)  # read where she answered
    await clients["dave"].send("#ops", "backup job: disk 91% full on db-2")
    await seed_release(clients)
    for name in ("alice", "erin", "frank"):
        await clients.pop(name).close()
    return clients


async def seed_rooms(clients: dict[str, ChatClient]) -> None:
    """#ops (private): alice owns it, with a topic; bob moderates; dave is
    away. carol invites alice to her private #incident-42."""
    await clients["alice"].set_topic("ops", "db-2 disk at 91% — runbook: wiki/ops/disks")
    await clients["alice"].set_role("ops", "bob", "moderator")
    await clients["dave"].set_status(True, "on call, slow to answer")
    for name in ("carol", "grace"):
        if name not in clients:
            clients[name] = await client(clients["alice"].port, name)
    await clients["carol"].join("ops")
    await clients["grace"].join("ops")
    await clients.pop("grace").close()
    await clients["carol"].join("incident-42", private=True)
    await clients["carol"].invite("incident-42", "alice")


async def seed_release(clients: dict[str, ChatClient]) -> None:
    """#release: replies, an edit, a deletion and reactions."""
    for name in ("alice", "bob", "carol", "dave", "erin"):
        await clients[name].join("release")
    tagged = await clients["carol"].send("#release", "0.4 is tagged: search, replies, reactions, read markers")
    await clients["dave"].send("#release", "the changelog is in the wiki", reply_to=tagged.mid)
    migration = await clients["bob"].send("#release", "the migration ran in 40 s")
    await clients["bob"].edit("#release", migration.mid, "the migration ran in 40 s, no errors, index rebuilt")
    oops = await clients["erin"].send("#release", "oops, that was meant for #ops")
    await clients["erin"].delete("#release", oops.mid)
    await clients["alice"].send("#release", "great work, everyone 🎉", reply_to=tagged.mid)
    for name, emoji in (("bob", "🎉"), ("dave", "🎉"), ("alice", "🎉"), ("erin", "👍"), ("dave", "🚀")):
        await clients[name].react("#release", tagged.mid, emoji)
    await clients["carol"].react("#release", migration.mid, "👍")
    await clients["alice"].react("#release", migration.mid, "👍")


async def indexed(client: ChatClient, query: str, count: int) -> None:
    """Wait until the server's index finds `count` messages for `query`."""
    for _ in range(200):
        if len((await client.search(query)).results) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the index never found {count} messages for {query!r}")


def make_app(port: int, home: Path, size_note: str = "") -> ChinwagApp:
    return ChinwagApp(
        server=f"127.0.0.1:{port}",
        username="alice",
        config_path=home / f"config{size_note}.toml",
        outbox_dir=home / "outbox",
        link_options={"backoff_base": 3.0, "backoff_cap": 6.0, "rand": lambda: 1.0},
    )


async def log_in(pilot: Pilot) -> ChatScreen:
    app = pilot.app
    app.screen.query_one("#password", Input).value = PASSWORD
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
    chat: ChatScreen = app.screen  # type: ignore[assignment]
    await wait_until(pilot, lambda: len(chat.state.conversations["#lobby"].lines) >= len(LOBBY))
    await wait_until(pilot, lambda: any(p.online for p in chat.state.people.values()))
    return chat


async def shoot_all(out: Path) -> None:
    shoot = Shooter(out)
    with tempfile.TemporaryDirectory(prefix="chinwag-shots-") as tmp:
        home = Path(tmp)
        redis = EmbeddedRedis(home / "redis")
        url = await redis.start()
        settings = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=home,
            argon2_time_cost=2,
            argon2_memory_kib=19_456,
            argon2_parallelism=1,
            send_rate=1000.0,
            send_burst=1000,
            search_dir=str(home / "search"),
        )
        server = ChatServer(settings, url)
        await server.start()
        port = server.port
        restarted = ChatServer(dataclasses.replace(settings, port=port, search_dir=str(home / "search-after")), url)
        try:
            online = await seed(port)
            await shoot_screens(shoot, port, home, online, server, restarted)
            await shoot_web(out, port)
        finally:
            await server.stop()
            await restarted.stop()
            await redis.stop()


async def shoot_screens(
    shoot: Callable[[Pilot, str], Awaitable[None]],
    port: int,
    home: Path,
    online: dict[str, ChatClient],
    server: ChatServer,
    restarted: ChatServer,
) -> None:
    app = make_app(port, home)
    async with app.run_test(size=(110, 32)) as pilot:
        await shoot(pilot, "login")
        app.screen.query_one("#password", Input).value = "wrong horse"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "wrong password" in str(app.screen.query_one("#message").render()))
        await shoot(pilot, "login-error")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.screen.query("#again"))
        app.screen.query_one("#username", Input).value = "Zoe"
        app.screen.query_one("#display", Input).value = "Zoë Washburne"
        app.screen.query_one("#password", Input).value = "serenity"
        await shoot(pilot, "register")
        await pilot.press("escape")

        chat = await log_in(pilot)
        online["bob"].typing("#lobby")
        await online["bob"].send("@alice", "got a minute? the backup job again")
        await online["dave"].send("#ops", "alice: db-2 is at 95% now")
        await wait_until(pilot, lambda: "@bob" in chat.state.conversations and chat.state.conversations["@bob"].unread)
        await wait_until(pilot, lambda: chat.state.typers("#lobby", chat.clock()))
        await shoot(pilot, "chat")

        await pilot.press("ctrl+k")
        await pilot.pause(0.3)
        await shoot(pilot, "switcher")
        await pilot.press("escape")

        await pilot.press("alt+u", "alt+u")
        await pilot.press(*"on my way", "enter")
        await shoot(pilot, "direct")

        chat.switch_to("#ops")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: chat.state.details.get("ops") and chat.state.details["ops"].loaded)
        await shoot(pilot, "rooms")
        await pilot.press("ctrl+g")

        chat.action_account()
        await wait_until(pilot, lambda: app.screen.query("#old"))
        await shoot(pilot, "account")
        await pilot.press("escape")

        chat.switch_to("#release")
        await wait_until(pilot, lambda: len(list(chat.state.conversations["#release"].messages())) >= 5)
        await pilot.press("alt+k", "up", "up", "up", "up")  # carol's, with its reactions
        await shoot(pilot, "messages")
        await pilot.press("escape")

        await indexed(online["bob"], "backup", 2)
        await pilot.press("ctrl+f", *"backup")
        await wait_until(pilot, lambda: "result" in getattr(app.screen, "status", ""))
        await shoot(pilot, "search")
        await pilot.press("escape")

        status = chat.query_one(ConnectionStatus)
        await server.stop()
        await wait_until(pilot, lambda: status.state is not None and status.state.state == "reconnecting")
        await pilot.press(*"sent while offline", "enter")
        await shoot(pilot, "reconnecting")
        await pilot.press("ctrl+q")

    small = make_app(port, home, "-small")
    await restarted.start()
    for name in list(online):
        online[name] = await client(port, name)
    async with small.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await shoot(pilot, "chat-80x24")
        await pilot.press("ctrl+q")


async def shoot_web(out: Path, port: int) -> None:
    """web.png: the same client in a headless Chromium, served by `chinwag web`
    (Debian's chromium: installed on first use where that can be done)."""
    from tests.support.browser import ChromiumUnavailable, Screen, chromium, chromium_path
    from tests.support.web import start_web, stop_web

    try:
        chromium_path()
    except ChromiumUnavailable as exc:
        print(f"  web.png skipped: {exc}")
        return
    served = await start_web("--server", f"127.0.0.1:{port}")
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            screen = await Screen.tap(page)
            await page.goto(served.url + "/?fontsize=20")  # the size of the other screenshots' cells
            await screen.wait_for("registers")
            await page.focus("#terminal textarea")  # typing goes to the terminal; a click would reach the app
            blurred = await screen.background("your password", first=True)
            assert blurred is not None, "the login screen has no password field"
            await screen.wait_for_focus("your username", blurred)
            await page.keyboard.type("alice")
            await page.keyboard.press("Tab")
            await screen.wait_for_focus("your password", blurred)
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await screen.wait_for_focus("Message #lobby", blurred)
            await page.keyboard.type("and this one is from a browser tab")
            await page.keyboard.press("Enter")
            # Stored: its time replaces the "···" of a line not yet acknowledged.
            await screen.wait_for(re.compile(r"\d\d:\d\d +alice +and this one is from a browser tab"))
            await screen.painted()
            await page.screenshot(path=str(out / "web.png"))
        print("  web.png")
    finally:
        await stop_web(served.proc)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path("screenshots")
    print(f"rendering screenshots into {out}/")
    asyncio.run(shoot_all(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
