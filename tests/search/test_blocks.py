"""`search` and blocking: a user's searches do not find the messages of the
users they block, in rooms or direct conversations, nor show their
reactions; unblocking brings them back."""

from __future__ import annotations

from .helpers import found, next_millisecond, texts_of

SEARCH = ["messages", "search", "people"]


async def test_search_leaves_out_the_blocked_users_messages_and_reactions(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    carol = await user("carol", features=SEARCH)
    for c in (alice, bob, carol):
        await c.join("ops")
    await bob.send("#ops", "deploy from bob")
    await next_millisecond()
    await bob.send("@alice", "deploy in private")
    await next_millisecond()
    kept = await carol.send("#ops", "deploy from carol")
    await bob.react("#ops", kept.mid, "🚀")
    await carol.react("#ops", kept.mid, "👀")
    await found(alice, "deploy", "deploy from carol", "deploy in private", "deploy from bob")
    await alice.block("bob")
    page = await alice.search("deploy")
    assert texts_of(page) == ["deploy from carol"]
    assert page.results[0].reactions == {"👀": ("carol",)}
    assert texts_of(await alice.search("deploy", sender="bob")) == []
    assert texts_of(await carol.search("deploy")) == ["deploy from carol", "deploy from bob"]  # only hers
    assert (await carol.search("deploy")).results[0].reactions == {"🚀": ("bob",), "👀": ("carol",)}
    await alice.block("bob", on=False)
    assert texts_of(await alice.search("deploy")) == ["deploy from carol", "deploy in private", "deploy from bob"]
