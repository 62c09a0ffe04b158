"""The store's reads for a user who blocks people: the replay's count past
its first page (REPLAY pages in Redis) and its deletes, and history pages
that stay full."""

from __future__ import annotations

from chinwag.server.store import Store


async def _room(store: Store) -> None:
    await store.create_room("ops", 100)
    for name in ("alice", "bob", "carol"):
        await store.join("ops", name)


async def test_the_replay_count_leaves_out_blocked_senders_beyond_its_first_page(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        await _room(store)
        sent = {}
        for who, text in [("carol", "c1"), ("bob", "b1"), ("carol", "c2"), ("bob", "b2"), ("bob", "b3"),
                          ("carol", "c3"), ("bob", "b4"), ("carol", "c4")]:  # fmt: skip
            sent[text] = (await store.send("#ops", who, text, None)).mid
        await store.delete("#ops", sent["c2"], "carol", moderator=False)  # below the first page: taken off
        await store.delete("#ops", sent["b2"], "bob", moderator=False)  # never counted: not taken off
        for changes in (False, True):
            replay = await store.replay("alice", ["#ops"], {}, max_per_conv=2, changes=changes, hidden={"bob"})
            part = replay["#ops"]
            assert [m.text for m in part.messages] == ["c3", "c4"]
            assert part.unread == 2 + 1  # c3, c4 on the page; c1 below it (c2 deleted)
            assert all(c.mid not in (sent["b2"],) for c in part.changes)
        plain = await store.replay("alice", ["#ops"], {}, max_per_conv=2)
        assert plain["#ops"].unread == 3 + 3  # without blocks: b1, b3, b4 too
    finally:
        await store.close()


async def test_history_pages_stay_full_and_more_is_right(clean_redis: str) -> None:
    store = Store(clean_redis)
    await store.start()
    try:
        await _room(store)
        for n in range(6):
            await store.send("#ops", "bob", f"b{n}", None)
            await store.send("#ops", "carol", f"c{n}", None)
        page, more = await store.history("#ops", None, 4, hidden={"bob"})
        assert [m.text for m in page] == ["c2", "c3", "c4", "c5"] and more
        page, more = await store.history("#ops", page[0].mid, 4, hidden={"bob"})
        assert [m.text for m in page] == ["c0", "c1"] and not more
        newest = await store.conversations("alice", hidden={"carol"})
        assert [(cid, m.text if m else None) for cid, m in newest if cid == "#ops"] == [("#ops", "b5")]
    finally:
        await store.close()
