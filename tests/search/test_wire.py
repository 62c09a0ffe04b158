"""`search` through the wire: a real server with its index, real Redis, the
real client over TCP. The contract's matching rules, filters and paging,
who may find what, deleted and edited messages, and the errors."""

from __future__ import annotations

import asyncio

import pytest

from chinwag.protocol import limits
from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer

from ..support.events import error_of
from .helpers import CONTRACT_S, apart, every_page, found, search_until, texts_of

SEARCH = ["messages", "search"]


async def test_an_accepted_message_is_findable_within_1_s_of_its_ok(user) -> None:
    alice = await user("alice", features=SEARCH)
    assert alice.features == frozenset(SEARCH)
    await found(alice, "warm", timeout=CONTRACT_S)  # nothing yet, and the index answers
    for n in range(3):
        sent = await alice.send("#lobby", f"kettle number {n} is on")
        page = await found(alice, f'"kettle number {n}"', f"kettle number {n} is on", timeout=CONTRACT_S)
        assert page.results[0].mid == sent.mid


async def test_matching_prefix_phrase_case_and_cjk(user) -> None:
    alice = await user("alice", features=SEARCH)
    texts = [
        "Deploy failed on staging",
        "deployed, then failed",
        "STRASSE closed for the parade",
        "服务器今天重启了",
        "サーバーを再起動しました",
        "the last one",
    ]
    for text in texts:
        await alice.send("#lobby", text)
    await found(alice, "last", "the last one")
    assert texts_of(await alice.search("depl")) == ["deployed, then failed", "Deploy failed on staging"]
    assert texts_of(await alice.search('"deploy failed"')) == ["Deploy failed on staging"]
    assert texts_of(await alice.search("DEPLOY FAIL")) == ["deployed, then failed", "Deploy failed on staging"]
    assert texts_of(await alice.search("straße")) == ["STRASSE closed for the parade"]
    assert texts_of(await alice.search("今天")) == ["服务器今天重启了"]
    assert texts_of(await alice.search("器今天重")) == ["服务器今天重启了"]
    assert texts_of(await alice.search("再起動")) == ["サーバーを再起動しました"]
    assert texts_of(await alice.search("今日")) == []
    assert texts_of(await alice.search("deploy parade")) == []  # every word must occur


async def test_filters_conv_from_before_after(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    await alice.join("ops")
    await bob.join("ops")
    sent = [
        await apart(await alice.send("#ops", "report one")),
        await apart(await bob.send("#ops", "report two")),
        await apart(await alice.send("@bob", "report three")),
        await apart(await bob.send("#lobby", "report four")),
        await apart(await alice.send("#ops", "report five")),
    ]
    everything = ["report five", "report four", "report three", "report two", "report one"]
    await found(alice, "report", *everything)
    assert texts_of(await alice.search("report", conv="#ops")) == ["report five", "report two", "report one"]
    assert texts_of(await alice.search("report", conv="@bob")) == ["report three"]
    assert texts_of(await bob.search("report", conv="@alice")) == ["report three"]
    assert texts_of(await alice.search("report", sender="bob")) == ["report four", "report two"]
    assert texts_of(await alice.search("report", sender="BOB", conv="#ops")) == ["report two"]
    middle = sent[2].ts
    by_time = dict(zip(["report one", "report two", "report three", "report four", "report five"], sent, strict=True))
    older = [t for t in everything if by_time[t].ts < middle]
    newer = [t for t in everything if by_time[t].ts > middle]
    assert texts_of(await alice.search("report", before=middle)) == older  # exclusive
    assert texts_of(await alice.search("report", after=middle)) == newer
    assert "report three" not in older + newer
    assert texts_of(await alice.search("report", after=sent[0].ts - 1, before=sent[4].ts + 1)) == everything
    # the results are message objects as the caller sees them
    (dm,) = (await bob.search("three")).results
    assert (str(dm.conv), dm.sender, dm.mid, dm.ts) == ("@alice", "alice", sent[2].mid, sent[2].ts)


async def test_paging_newest_first_without_repeats_or_gaps(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    await alice.join("dev")
    texts = [f"page item {n}" for n in range(7)]
    for n, text in enumerate(texts):
        await apart(await alice.send("#dev" if n % 3 else "@bob", text))
    await search_until(alice, "item", lambda p: len(p.results) == 7, limit=limits.SEARCH_MAX)
    pages = await every_page(alice, "item", limit=3)
    assert [len(p.results) for p in pages] == [3, 3, 1]
    assert pages[-1].next is None
    assert [m.text for p in pages for m in p.results] == texts[::-1]
    # a message sent between pages is newer than the cursor: it never shows on a later page
    first = await alice.search("item", limit=3)
    await alice.send("#dev", "page item late")
    await found(alice, "late", "page item late")
    rest = await every_page(alice, "item", limit=3, page=first.next)
    assert [m.text for p in rest for m in p.results] == texts[3::-1]
    assert texts_of(await bob.search("item", limit=limits.SEARCH_MAX)) == ["page item 6", "page item 3", "page item 0"]


async def test_left_room_is_not_searched(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    await alice.join("ops")
    await bob.join("ops")
    await bob.send("#ops", "the vault code is in the wiki")
    await found(alice, "vault", "the vault code is in the wiki")
    await alice.leave("ops")
    assert texts_of(await alice.search("vault")) == []
    assert texts_of(await alice.search("vault", conv="#ops")) == []  # not an error: nothing to find
    assert texts_of(await bob.search("vault")) == ["the vault code is in the wiki"]
    await alice.join("ops")  # back in: the room's messages are hers to find again
    assert texts_of(await alice.search("vault")) == ["the vault code is in the wiki"]


async def test_a_third_user_never_finds_a_direct_conversation(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    carol = await user("carol", features=SEARCH)
    await alice.send("@bob", "my secret plan")
    await carol.send("#lobby", "carol's secret recipe")
    await found(bob, "secret", "my secret plan")
    await found(carol, "secret", "carol's secret recipe")
    assert texts_of(await carol.search("secret", conv="@alice")) == []
    assert texts_of(await carol.search("secret", conv="@bob")) == []
    assert texts_of(await carol.search("plan", conv="@nobody")) == []  # not even whether the user exists
    assert texts_of(await alice.search("secret")) == ["carol's secret recipe", "my secret plan"]


async def test_deleted_is_not_found_once_the_delete_is_answered(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    for n in range(5):
        sent = await alice.send("@bob", f"regret {n}")
        await found(bob, f'"regret {n}"', f"regret {n}")
        await alice.delete("@bob", sent.mid)
        assert texts_of(await bob.search(f'"regret {n}"')) == []  # at once, not after a commit
        assert texts_of(await alice.search("regret")) == []
    await alice.send("@bob", "regret later")
    await found(alice, "regret", "regret later")


async def test_an_edit_is_found_by_its_current_text_only(user) -> None:
    alice = await user("alice", features=SEARCH)
    plain = await user("bob", features=["search"])  # the version 1 object, current text
    sent = await alice.send("#lobby", "lunch at noon")
    await found(alice, "lunch", "lunch at noon")
    edited = await alice.edit("#lobby", sent.mid, "dinner at eight")
    assert texts_of(await alice.search("lunch")) == []  # the old text: at once
    page = await found(alice, "dinner", "dinner at eight", timeout=CONTRACT_S)
    assert (page.results[0].mid, page.results[0].edited) == (sent.mid, edited)
    again = await alice.edit("#lobby", sent.mid, "breakfast")
    assert texts_of(await alice.search("dinner")) == []
    page = await found(plain, "breakfast", "breakfast", timeout=CONTRACT_S)
    assert page.results[0].edited is None  # not on a connection without `messages`
    assert (await found(alice, "breakfast", "breakfast")).results[0].edited == again


async def test_results_carry_the_current_state(user) -> None:
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    first = await alice.send("#lobby", "status green")
    reply = await alice.send("#lobby", "status amber", reply_to=first.mid)
    await bob.react("#lobby", reply.mid, "👀")
    page = await found(bob, "status", "status amber", "status green")
    newest = page.results[0]
    assert (newest.reply_to, newest.reactions) == (first.mid, {"👀": ("bob",)})


async def test_version_1_client_is_unaffected(raw, user) -> None:
    alice = await user("alice", features=SEARCH)
    sent = await alice.send("#lobby", "plain old text")
    await alice.edit("#lobby", sent.mid, "plain new text")
    await found(alice, "new", "plain new text")
    v1 = await raw(hello=False)
    assert (await v1.ok("hello", version=1))["features"] == []
    await v1.ok("register", username="victor", password="correct horse battery")
    await v1.ok("login", username="victor", password="correct horse battery")
    reply = await v1.ok("search", query="new")
    (result,) = reply["results"]
    assert set(result) == {"mid", "conv", "from", "text", "ts", "cmid"}  # the version 1 message object
    assert (result["text"], reply["next"]) == ("plain new text", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"query": ""},
        {"query": "   "},
        {"query": "!!! ..."},  # nothing to search for
        {"query": "x" * (limits.SEARCH_QUERY_MAX + 1)},
        {"query": 7},
        {"query": "ok", "limit": 0},
        {"query": "ok", "limit": limits.SEARCH_MAX + 1},
        {"query": "ok", "limit": "5"},
        {"query": "ok", "page": "not a page"},
        {"query": "ok", "page": ""},
        {"query": "ok", "page": "A" * 600},
        {"query": "ok", "page": 3},
        {"query": "ok", "before": "yesterday"},
        {"query": "ok", "conv": "#"},
        {"query": "ok", "from": 5},
    ],
)
async def test_bad_requests(raw, fields: dict[str, object]) -> None:
    conn = await raw(hello=False)
    await conn.ok("hello", version=1, features=SEARCH)
    await conn.ok("register", username="alice", password="correct horse battery")
    await conn.ok("login", username="alice", password="correct horse battery")
    reply = await conn.request("search", **fields)
    assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
    assert (await conn.ok("search", query="ok"))["results"] == []  # the connection stays


async def test_a_page_of_another_search_is_just_a_position(user) -> None:
    alice = await user("alice", features=SEARCH)
    for n in range(4):
        await alice.send("#lobby", f"apple {n} banana")
    await search_until(alice, "apple", lambda p: len(p.results) == 4)
    first = await alice.search("apple", limit=2)
    assert first.next is not None
    assert texts_of(await alice.search("banana", page=first.next)) == ["apple 1 banana", "apple 0 banana"]


async def test_without_an_index_search_is_unavailable_and_not_offered(make_server, connect) -> None:
    bare: ChatServer = await make_server(search_dir="")
    client: ChatClient = await connect(bare, features=SEARCH)
    await client.register("alice", "correct horse battery")
    await client.login("alice", "correct horse battery")
    assert client.features == frozenset({"messages"})
    error = await error_of(client.search("anything"), "unavailable")
    assert "index" in error.message


async def test_searches_in_flight_with_sends(user) -> None:
    """Searches and sends interleave on one connection and across several:
    the index's thread never holds up the event loop's answers."""
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)

    async def chatter(client: ChatClient, to: str, tag: str) -> None:
        for n in range(40):
            await client.send(to, f"{tag} burst {n}")

    async def looking(client: ChatClient) -> None:
        for _ in range(20):
            await client.search("burst", limit=limits.SEARCH_MAX)

    await asyncio.gather(chatter(alice, "@bob", "a"), chatter(bob, "#lobby", "b"), looking(alice), looking(bob))
    page = await search_until(alice, "burst", lambda p: len(p.results) == limits.SEARCH_MAX, limit=limits.SEARCH_MAX)
    pages = await every_page(alice, "burst", limit=limits.SEARCH_MAX)
    assert sum(len(p.results) for p in pages) == 80
    assert page.next is not None


async def test_membership_is_redis_s_not_the_connection_s(server: ChatServer, user) -> None:
    """A membership change the connection never heard of (its bus event
    lost): the search follows Redis both ways."""
    alice = await user("alice", features=SEARCH)
    bob = await user("bob", features=SEARCH)
    await bob.join("ops")
    await bob.join("dev")
    await alice.join("ops")
    await bob.send("#ops", "ops handover notes")
    await bob.send("#dev", "dev handover notes")
    await found(bob, "handover", "dev handover notes", "ops handover notes")
    assert texts_of(await alice.search("handover")) == ["ops handover notes"]
    await server.store.leave("ops", "alice")  # Redis only: her connection still lists #ops
    assert texts_of(await alice.search("handover")) == []
    await server.store.create_room("dev", 100)
    await server.store.join("dev", "alice")  # Redis only: her connection does not list #dev
    assert texts_of(await alice.search("handover")) == ["dev handover notes"]
