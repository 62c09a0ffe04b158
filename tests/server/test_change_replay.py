"""Changes made while a user is offline reach them at their next login
(PROTOCOL-EXTENSIONS.md, `messages`): after a conversation's replayed
messages, the changes since the cursor to older messages, deduped to their
resulting state, on every device, exactly once; an acknowledged change is
not sent again; a version 1 login sees none of it."""

from __future__ import annotations

import asyncio
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import DeletedEvent, EditedEvent, Message, ReactionEvent
from chinwag.protocol.reconnect import ReconnectingClient

from ..support.events import settled
from ..support.settings import PASSWORD

MESSAGES = ["messages"]


def shape(event: Any) -> tuple[Any, ...]:
    if isinstance(event, Message):
        return ("message", event.mid, event.text, event.edited is not None, event.deleted, event.reactions)
    if isinstance(event, EditedEvent):
        return ("edited", event.mid, event.text, event.id)
    if isinstance(event, DeletedEvent):
        return ("deleted", event.mid, event.by, event.id)
    if isinstance(event, ReactionEvent):
        return ("reaction", event.mid, event.emoji, event.sender, event.on, event.id)
    return ("other",)


async def device(server, *, features: list[str] = MESSAGES, auto_ack: bool = False) -> ChatClient:
    client = ChatClient("127.0.0.1", server.port, features=features, auto_ack=auto_ack)
    await client.connect()
    return client


async def ids_of(client: ChatClient, action: Any) -> str:
    """Do a change and return its id (the actor sees its own event)."""
    await action
    events = [e for e in await settled(client) if isinstance(e, EditedEvent | DeletedEvent | ReactionEvent)]
    assert len(events) == 1, events
    return events[0].id


async def offline_changes(server, user) -> dict[str, Any]:
    """alice writes to bob, bob reads and leaves; then, while he is away,
    alice changes the old messages and writes a new one she changes too."""
    alice = await user("alice", to=server, features=MESSAGES)
    bob = await user("bob", to=server)  # auto-acks what it gets
    m = [(await alice.send("@bob", f"m{i}")).mid for i in range(1, 4)]
    await settled(bob, alice)
    await bob.close()  # its acks go out on close
    await settled(alice)
    ids: dict[str, Any] = {"m": m}
    ids["e1"] = await ids_of(alice, alice.edit("@bob", m[0], "m1 v2"))
    ids["e2"] = await ids_of(alice, alice.edit("@bob", m[0], "m1 v3"))
    ids["r_up"] = await ids_of(alice, alice.react("@bob", m[1], "👍"))
    ids["r_party"] = await ids_of(alice, alice.react("@bob", m[1], "🎉"))
    ids["r_down"] = await ids_of(alice, alice.react("@bob", m[1], "👍", on=False))
    ids["r_heart"] = await ids_of(alice, alice.react("@bob", m[2], "❤"))
    ids["d"] = await ids_of(alice, alice.delete("@bob", m[2]))
    m4 = await alice.send("@bob", "m4")
    ids["m4"] = m4.mid
    await ids_of(alice, alice.edit("@bob", m4.mid, "m4 v2"))
    await ids_of(alice, alice.react("@bob", m4.mid, "👀"))
    return ids


async def test_offline_changes_reach_both_devices_once_deduped(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    ids = await offline_changes(server, user)
    m = ids["m"]
    phone, laptop = await device(server), await device(server)
    for client in (phone, laptop):
        session = await client.login("bob", PASSWORD)
        assert session.unread == {"@alice": 1}  # m4; changes never count
    want = [
        ("message", ids["m4"], "m4 v2", True, False, {"👀": ("alice",)}),
        ("edited", m[0], "m1 v3", ids["e2"]),
        ("reaction", m[1], "🎉", "alice", True, ids["r_party"]),
        ("reaction", m[1], "👍", "alice", False, ids["r_down"]),
        ("deleted", m[2], "alice", ids["d"]),
    ]
    for client in (phone, laptop):
        got = [shape(e) for e in await settled(client)]
        assert [g for g in got if g != ("other",)] == want
    await phone.close()
    await laptop.close()


async def test_an_acknowledged_change_is_not_sent_again(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    ids = await offline_changes(server, user)
    m = ids["m"]
    phone = await device(server)
    await phone.login("bob", PASSWORD)
    await settled(phone)
    phone.ack("@alice", ids["e2"])  # up to the second edit: later changes are still due
    await phone.ping()
    await phone.close()
    again = await device(server)
    await again.login("bob", PASSWORD)
    got = [shape(e) for e in await settled(again) if not isinstance(e, Message)]
    assert got == [
        ("reaction", m[1], "🎉", "alice", True, ids["r_party"]),
        ("reaction", m[1], "👍", "alice", False, ids["r_down"]),
        ("deleted", m[2], "alice", ids["d"]),
    ]
    await again.close()


async def test_acking_the_newest_change_ends_the_replay(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    await offline_changes(server, user)
    phone = await device(server, auto_ack=True)
    await phone.login("bob", PASSWORD)
    assert len(await settled(phone)) >= 5
    await phone.close()  # acks the newest id it was handed: a change's
    again = await device(server)
    session = await again.login("bob", PASSWORD)
    assert session.unread == {}
    assert [e for e in await settled(again) if shape(e) != ("other",)] == []
    await again.close()


async def test_a_version_1_login_sees_current_texts_and_no_changes(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    ids = await offline_changes(server, user)
    alice = await user("alice", to=server, features=MESSAGES)
    gone = await alice.send("@bob", "sent and deleted while bob was away")
    await alice.delete("@bob", gone.mid)
    old = await device(server, features=[])
    session = await old.login("bob", PASSWORD)
    assert session.unread == {"@alice": 1}  # m4; not the deleted one
    got = [shape(e) for e in await settled(old)]
    assert [g for g in got if g != ("other",)] == [("message", ids["m4"], "m4 v2", False, False, {})]
    await old.close()


async def test_a_deleted_message_after_the_cursor_is_replayed_as_its_tombstone(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    alice = await user("alice", to=server, features=MESSAGES)
    await user("bob", to=server)
    keep = await alice.send("@bob", "kept")
    gone = await alice.send("@bob", "gone")
    await alice.delete("@bob", gone.mid)
    phone = await device(server)
    session = await phone.login("bob", PASSWORD)
    assert session.unread == {"@alice": 1}
    got = [shape(e) for e in await settled(phone)]
    assert [g for g in got if g != ("other",)] == [
        ("message", keep.mid, "kept", False, False, {}),
        ("message", gone.mid, "", False, True, {}),  # the delete itself is folded in
    ]
    await phone.close()


async def test_changes_to_messages_older_than_the_replayed_ones_are_sent(make_server, user) -> None:
    """More than the replay's 500 messages after the cursor: a change to one
    that is not replayed comes as an event; one to a replayed message is in
    the message."""
    server = await make_server(send_rate=100_000, send_burst=100_000)
    alice = await user("alice", to=server, features=MESSAGES)
    await user("bob", to=server)
    mids: list[str] = []
    for start in range(0, 520, 100):
        futures = [alice.request_nowait("send", to="@bob", text=f"n{i}") for i in range(start, min(520, start + 100))]
        mids += [(await f)["mid"] for f in futures]
    await alice.edit("@bob", mids[3], "n3 again")
    await alice.react("@bob", mids[515], "👍")
    phone = await device(server)
    session = await phone.login("bob", PASSWORD)
    assert session.unread == {"@alice": 520}
    events = await settled(phone)
    replayed = [e for e in events if isinstance(e, Message)]
    assert [m.mid for m in replayed] == mids[-500:]
    assert replayed[515 - 20].reactions == {"👍": ("alice",)}
    changes = [shape(e) for e in events if isinstance(e, EditedEvent | ReactionEvent)]
    assert [c[:3] for c in changes] == [("edited", mids[3], "n3 again")]
    await phone.close()


async def test_a_reconnecting_client_gets_offline_changes_once(make_server, user) -> None:
    server = await make_server(send_rate=1000, send_burst=1000)
    ids = await offline_changes(server, user)
    client = ReconnectingClient("127.0.0.1", server.port, features=MESSAGES)
    await client.start(username="bob", password=PASSWORD)
    got: list[Any] = []
    while len(got) < 5:
        event = await asyncio.wait_for(client.next_event(), 5)
        if isinstance(event, Message | EditedEvent | DeletedEvent | ReactionEvent):
            got.append(shape(event))
    assert got[0][:2] == ("message", ids["m4"])
    assert [g[-1] for g in got[1:]] == [ids["e2"], ids["r_party"], ids["r_down"], ids["d"]]
    await client.close()
