"""What the store and the hub offer a search index (docs/operations.md, "For
a search index"): messages' current state by mid, every conversation id,
a conversation's entries after an id in pages, and a listener told of every
stored message and change."""

from __future__ import annotations

from typing import Any

from chinwag.protocol.messages import EditedEvent
from chinwag.server.app import ChatServer
from chinwag.server.statuses import ChangeKind
from chinwag.server.store import StoredChange, StoredMessage

from ..support.events import settled

MESSAGES = ["messages"]


async def test_messages_by_mid_in_their_current_state(server: ChatServer, user) -> None:
    alice = await user("alice", features=MESSAGES)
    one = await alice.send("#lobby", "one")
    two = await alice.send("#lobby", "two", reply_to=one.mid)
    await alice.edit("#lobby", one.mid, "one, edited")
    await alice.react("#lobby", two.mid, "👍")
    await alice.delete("#lobby", two.mid)
    (edit,) = [e for e in await settled(alice) if isinstance(e, EditedEvent)]
    got = await server.store.messages("#lobby", [one.mid, two.mid, "1-1", edit.id])
    assert set(got) == {one.mid, two.mid}
    assert (got[one.mid].text, got[one.mid].edited is not None) == ("one, edited", True)
    assert (got[two.mid].text, got[two.mid].deleted_by, got[two.mid].reply_to) == ("", "alice", one.mid)
    assert got[two.mid].reactions == ()


async def test_every_conversation_id(server: ChatServer, user) -> None:
    alice = await user("alice")
    await user("bob")
    await alice.join("ops")
    await alice.send("@bob", "hi")
    await alice.send("@alice", "a note to self")
    ids = await server.store.conversation_ids()
    assert ids == sorted(["#lobby", "#ops", "@alice:bob", "@alice:alice"])


async def test_entries_after_pages_through_messages_and_changes(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    alice = await user("alice", to=server, features=MESSAGES)
    mids = [(await alice.send("#lobby", f"m{i}")).mid for i in range(5)]
    await alice.edit("#lobby", mids[1], "m1 v2")
    await alice.edit("#lobby", mids[1], "m1 v3")
    await alice.delete("#lobby", mids[2])
    seen: list[Any] = []
    after = None
    while True:
        page = await server.store.entries_after("#lobby", after, limit=3)
        seen += page.items
        after = page.last
        if not page.more:
            break
    messages = [e for e in seen if isinstance(e, StoredMessage)]
    changes = [e for e in seen if isinstance(e, StoredChange)]
    assert [m.mid for m in messages] == mids
    assert [(m.text, m.deleted) for m in messages][1:3] == [("m1 v3", False), ("", True)]
    assert [(c.kind, c.mid, c.text) for c in changes] == [
        (ChangeKind.EDITED, mids[1], "m1 v3"),  # an edit carries the current text
        (ChangeKind.EDITED, mids[1], "m1 v3"),
        (ChangeKind.DELETED, mids[2], ""),
    ]
    later = await server.store.entries_after("#lobby", after)
    assert (later.items, later.more) == ([], False)
    await alice.send("#lobby", "new")
    assert [e.text for e in (await server.store.entries_after("#lobby", after)).items] == ["new"]


async def test_a_listener_hears_every_message_and_change_of_the_node(server: ChatServer, user) -> None:
    heard: list[Any] = []
    server.hub.add_listener(heard.append)
    server.hub.add_listener(lambda item: 1 / 0)  # a failing listener harms no one
    alice = await user("alice", features=MESSAGES)
    sent = await alice.send("#lobby", "hello", reply_to=None)
    await alice.react("#lobby", sent.mid, "🎉")
    await alice.delete("#lobby", sent.mid)
    assert [type(h).__name__ for h in heard] == ["StoredMessage", "StoredChange", "StoredChange"]
    assert heard[0].text == "hello"
    assert [(h.kind, h.emoji) for h in heard[1:]] == [(ChangeKind.REACTION, "🎉"), (ChangeKind.DELETED, "")]
    await alice.ping()
