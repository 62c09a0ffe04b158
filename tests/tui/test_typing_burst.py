"""Lines typed faster than the screen handles them (a terminal that sends
keys in one burst, like tmux send-keys, or a fast typist on a slow link)."""

from __future__ import annotations

from textual import events

from chinwag.protocol.messages import Message

from ..support.events import drain, next_of
from .conftest import log_in, texts, wait_for


def _burst(app, text: str) -> None:
    """Post every key at once, as the driver does for one read of input:
    none is handled before the last is queued."""
    for char in text:
        if char == "\n":
            app.post_message(events.Key("enter", "\r"))
        else:
            app.post_message(events.Key("space" if char == " " else char, char))


async def test_lines_typed_in_one_burst_are_sent_each_once(server, user, make_app) -> None:
    await (await user("alice")).close()
    bob = await user("bob")
    app = make_app(server, username="alice")
    async with app.run_test(size=(100, 32)) as pilot:
        chat = await log_in(pilot)
        _burst(app, "line one\nline two\nline three\n")
        want = ["line one", "line two", "line three"]
        await wait_for(
            pilot,
            lambda: texts(app, "#lobby") == want and not chat.state.conversations["#lobby"].pending,
            what="three lines, each once",
        )
        got = [(await next_of(bob, Message)).text for _ in want]
        assert got == want
        assert not [e for e in await drain(bob) if isinstance(e, Message)]
        assert chat.query_one("#composer").value == ""
