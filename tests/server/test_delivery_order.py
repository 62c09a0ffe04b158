"""Live delivery reaches every member in the order the messages were
stored: `ack` means "everything up to here", so a member that got a newer
message before an older one, acked it and then lost its connection would
never be sent the older one again."""

from __future__ import annotations

import asyncio

from chinwag.server.conv import mid_key

from ..support.events import collect

ROUNDS = 6


async def test_a_room_message_is_not_overtaken_by_a_newer_one_while_its_sender_checks_a_dm(user, make_server) -> None:
    """The sender's next request in the same burst is a DM to someone this
    node has never seen (registered through another node), whose checks take
    two Redis round trips of their own; the room message must still reach
    the room before a newer one from another member does."""
    elsewhere = await make_server()
    peers = [await user(f"peer{k}", to=elsewhere) for k in range(ROUNDS)]
    alice, bob, watcher = await user("alice"), await user("bob"), await user("watcher")
    sent: list[str] = []
    for k in range(ROUNDS):
        first = alice.request_nowait("send", to="#lobby", text=f"alice {k}")
        check = alice.request_nowait("send", to=f"@peer{k}", text="hello")  # a new DM: its checks go to Redis
        newer = bob.request_nowait("send", to="#lobby", text=f"bob {k}")
        replies = await asyncio.gather(first, check, newer)
        sent += [replies[0]["mid"], replies[2]["mid"]]
    got = [m.mid for m in await collect(watcher, len(sent), conv="#lobby")]
    assert sorted(got, key=mid_key) == sorted(sent, key=mid_key)  # all of them, once
    assert got == sorted(got, key=mid_key), "a newer message reached the room before an older one"
    assert len(peers) == ROUNDS
