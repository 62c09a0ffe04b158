"""`ChatClient.catch_up`: the offline messages a login replay leaves out
(it carries the newest REPLAY_MAX of a conversation, `unread` counts them
all) come with history pages back from the oldest replayed one, until the
client holds `unread` of them, no more pages than that, counted as the
server counts (not tombstones), and it stops when the server has no older
ones. Against a real server."""

from __future__ import annotations

import asyncio

import pytest

from chinwag.protocol import limits
from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ServerError
from chinwag.protocol.messages import Message

from ..support.events import settled
from ..support.settings import PASSWORD

FAST = {"send_rate": 1e6, "send_burst": 1_000_000}


class CountingClient(ChatClient):
    """The real client, counting its history requests."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pages = 0

    def request_nowait(self, kind, **fields):
        self.pages += kind == "history"
        return super().request_nowait(kind, **fields)


async def send_many(client: ChatClient, to: str, n: int, start: int = 0) -> list[str]:
    futures = [client.send_nowait(to, f"m{i}") for i in range(start, start + n)]
    return [reply["mid"] for reply in await asyncio.gather(*futures)]


async def come_back(server, name: str, conv: str, features=()) -> tuple[CountingClient, int, list[Message]]:
    """Log `name` in (no acks) and take the replay of `conv`."""
    client = CountingClient("127.0.0.1", server.port, auto_ack=False, features=features)
    await client.connect()
    session = await client.login(name, PASSWORD)
    replayed = [e for e in await settled(client) if isinstance(e, Message) and e.conv == conv]
    return client, session.unread.get(conv, 0), replayed


async def test_a_dm_backlog_past_the_replay_is_held_whole_in_order(make_server, user) -> None:
    server = await make_server(**FAST)
    await user("bob", to=server)  # registered, then away
    alice = await user("alice", to=server)
    mids = await send_many(alice, "@bob", limits.REPLAY_MAX + 450)
    bob, unread, replayed = await come_back(server, "bob", "@alice")
    assert unread == len(mids) and len(replayed) == limits.REPLAY_MAX
    older = await bob.catch_up("@alice", unread, replayed[0].mid, len(replayed))
    assert [m.mid for m in older + replayed] == mids
    assert bob.pages == 3  # 200 + 200 + 50: no page past what was missing
    assert all(m.conv == "@alice" and m.sender == "alice" for m in older)
    await bob.close()


async def test_a_room_backlog_stops_at_unread_not_at_the_start_of_the_room(make_server, user) -> None:
    server = await make_server(**FAST)
    alice = await user("alice", to=server)
    await alice.join("big")
    before = await send_many(alice, "#big", 600)  # before bob joins: not his offline messages
    bob = await user("bob", to=server)
    await bob.join("big")
    await bob.close()
    mids = await send_many(alice, "#big", limits.REPLAY_MAX + 150, start=600)
    bob, unread, replayed = await come_back(server, "bob", "#big")
    assert unread == len(mids)
    older = await bob.catch_up("#big", unread, replayed[0].mid, len(replayed))
    assert bob.pages == 1  # 150 were missing: one page of 200, the last 50 from before he joined
    held = [m.mid for m in older + replayed]
    assert held[-len(mids) :] == mids and held[: -len(mids)] == before[-50:]
    await bob.close()


async def test_tombstones_do_not_count_toward_unread(make_server, user) -> None:
    # With `messages`, history pages carry tombstones, which `unread` does not
    # count: the page of the 200 deleted messages must not end the catch-up.
    server = await make_server(**FAST)
    await user("bob", to=server)
    alice = await user("alice", to=server, features=["messages"])
    mids = await send_many(alice, "@bob", limits.REPLAY_MAX + 300)
    await asyncio.gather(*(alice.delete("@bob", mid) for mid in mids[100:300]))
    bob, unread, replayed = await come_back(server, "bob", "@alice", features=["messages"])
    assert unread == len(mids) - 200
    alive = [m for m in replayed if not m.deleted]
    older = await bob.catch_up("@alice", unread, replayed[0].mid, len(alive))
    held = [m.mid for m in older + replayed if not m.deleted]
    assert held == mids[:100] + mids[300:]
    await bob.close()


async def test_it_stops_when_the_server_has_no_older_messages(make_server, user) -> None:
    server = await make_server(**FAST)
    await user("bob", to=server)
    alice = await user("alice", to=server)
    mids = await send_many(alice, "@bob", 250)
    bob, _, _ = await come_back(server, "bob", "@alice")
    older = await bob.catch_up("@alice", 10**6, None)  # more than there is, from the newest
    assert [m.mid for m in older] == mids
    assert bob.pages == 2  # 200, then 50 and `more` false
    await bob.close()


async def test_the_callers_own_messages_do_not_count(make_server, user) -> None:
    server = await make_server(**FAST)
    bob = await user("bob", to=server)
    alice = await user("alice", to=server)
    theirs = await send_many(alice, "@bob", 150)
    mine = await send_many(bob, "@alice", 150, start=150)  # bob's own, in the same conversation
    await bob.close()
    bob, _, _ = await come_back(server, "bob", "@alice")
    older = await bob.catch_up("@alice", 150, None)  # alice's 150, under bob's 150
    assert [m.mid for m in older] == theirs + mine
    assert bob.pages == 2
    await bob.close()


async def test_most_bounds_the_messages_read_when_the_callers_own_fill_the_history(make_server, user) -> None:
    """The caller's own messages do not count toward `unread`: under 700 of
    them, 10 unread ones would be reached only at the start of the
    conversation. `most` stops the reading, the caller's own included."""
    server = await make_server(**FAST)
    bob = await user("bob", to=server)
    alice = await user("alice", to=server)
    await send_many(alice, "@bob", 10)
    mine = await send_many(bob, "@alice", 700, start=10)
    await bob.close()
    bob, _, _ = await come_back(server, "bob", "@alice")
    older = await bob.catch_up("@alice", 10, None, most=300)
    assert [m.mid for m in older] == mine[-400:]  # two pages: 200 < 300, then 400 >= 300
    assert bob.pages == 2
    unbounded = await bob.catch_up("@alice", 10, None)
    assert len(unbounded) == 710 and bob.pages == 2 + 4  # without it, to the start
    await bob.close()


async def test_a_refused_page_is_the_callers_error(make_server, user) -> None:
    server = await make_server(**FAST)
    bob = await user("bob", to=server)
    with pytest.raises(ServerError) as refused:
        await bob.catch_up("#nowhere", 10, None)
    assert refused.value.code in ("no_such_room", "forbidden")
    await bob.ping()  # the connection goes on
    await bob.close()


async def test_the_next_page_is_on_the_wire_while_one_is_decoded(make_server, user, monkeypatch) -> None:
    # The next page's request goes before the page in hand is decoded, so
    # the server reads it meanwhile: at every decode but the last, one
    # history request is pending and nothing waits in the client's writer.
    server = await make_server(**FAST)
    await user("bob", to=server)
    alice = await user("alice", to=server)
    mids = await send_many(alice, "@bob", 3 * limits.HISTORY_MAX)
    bob, _, _ = await come_back(server, "bob", "@alice")
    seen: list[tuple[int, int]] = []
    decode = Message.from_wire.__func__

    def watching(cls, data):
        if data["mid"] in (mids[0], mids[limits.HISTORY_MAX], mids[2 * limits.HISTORY_MAX]):  # a page's first
            seen.append((len(bob._pending), len(bob._writer._pending)))
        return decode(cls, data)

    monkeypatch.setattr(Message, "from_wire", classmethod(watching))
    older = await bob.catch_up("@alice", 10**6, None)
    assert [m.mid for m in older] == mids
    # pages come newest first: 400.., 200.., 0.. (the last says `more` false: nothing after it)
    assert seen == [(1, 0), (1, 0), (0, 0)]
    await bob.close()
