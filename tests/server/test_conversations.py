"""The `conversations` extension: a user's rooms and direct conversations
with their newest message, newest first."""

from __future__ import annotations

import asyncio

from chinwag.protocol.errors import ServerError


async def test_lists_rooms_and_dms_newest_first_as_the_caller_sees_them(user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    carol = await user("carol")
    await alice.join("ops")
    first = await bob.send("@alice", "hi alice")
    await alice.send("#ops", "ops note")
    await asyncio.sleep(0.01)  # ids of different streams order by their millisecond
    last = await carol.send("@alice", "hello from carol")

    listing = await alice.conversations()
    convs = [conv for conv, _ in listing]
    assert set(convs) == {"#lobby", "#ops", "@bob", "@carol"}
    assert convs[0] == "@carol"
    by_conv = dict(listing)
    assert by_conv["@carol"].mid == last.mid and by_conv["@carol"].sender == "carol"
    assert by_conv["@bob"].mid == first.mid and by_conv["@bob"].conv == "@bob"
    assert by_conv["@bob"].text == "hi alice"
    assert by_conv["#lobby"] is None  # nothing said in the lobby yet

    bob_convs = {conv for conv, _ in await bob.conversations()}
    assert bob_convs == {"#lobby", "@alice"}  # never anyone else's


async def test_needs_a_login(connect) -> None:
    client = await connect()
    try:
        await client.conversations()
    except ServerError as exc:
        assert exc.code == "not_authenticated"
    else:
        raise AssertionError("conversations before login must fail")
