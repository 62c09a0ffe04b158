"""The indexer's periodic passes, on a service with short intervals over a
real server's store and hub: the conversations the live feed touched are
read back and marked, a message the bus never carried is found by the full
pass, and an idle indexer sleeps between passes instead of spinning."""

from __future__ import annotations

import asyncio

from chinwag.server.search import SearchIndex, parse_query
from chinwag.server.search.service import SearchService

from ..support.waits import eventually


async def test_settle_and_full_passes_and_an_idle_loop(make_server, user) -> None:
    node = await make_server(search_dir="")
    service = SearchService(node.store, SearchIndex(None), "in RAM", settle_s=0.05, full_pass_s=0.3)
    service.attach(node.hub)
    await service.start()
    try:
        alice = await user("alice", to=node)
        sent = await alice.send("#lobby", "seen live")
        assert await eventually(lambda: service.index.progress().get("#lobby") == sent.mid)
        stored = await node.store.send("#lobby", "alice", "stored without a word on the bus", None)
        assert await eventually(lambda: service.index.progress().get("#lobby") == stored.mid)
        hits = service.index.search(parse_query("bus"), {"#lobby"}).hits
        assert [h.mid for h in hits] == [stored.mid]
        rounds = service.rounds
        await asyncio.sleep(0.5)
        assert service.rounds - rounds < 100  # about 12 passes; a busy loop makes thousands
    finally:
        await service.stop()
