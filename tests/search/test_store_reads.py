"""The store read the search answer needs beyond living's: the current
state of a page of hits from several conversations in one round trip."""

from __future__ import annotations

from chinwag.server.app import ChatServer

SEARCH = ["messages", "search"]


async def test_messages_of_several_conversations_at_once(server: ChatServer, user) -> None:
    alice = await user("alice", features=SEARCH)
    await user("bob")
    room = await alice.send("#lobby", "in the room")
    dm = await alice.send("@bob", "in private")
    await alice.edit("@bob", dm.mid, "in private, edited")
    gone = await alice.send("#lobby", "soon gone")
    await alice.delete("#lobby", gone.mid)
    got = await server.store.messages_each(
        {"#lobby": [room.mid, gone.mid, "1-1"], "@alice:bob": [dm.mid], "#nowhere": ["2-2"], "@x:y": []}
    )
    assert set(got) == {"#lobby", "@alice:bob", "#nowhere", "@x:y"}
    assert set(got["#lobby"]) == {room.mid, gone.mid}
    assert (got["#lobby"][room.mid].text, got["#lobby"][gone.mid].deleted_by) == ("in the room", "alice")
    assert got["@alice:bob"][dm.mid].text == "in private, edited"
    assert got["#nowhere"] == got["@x:y"] == {}
