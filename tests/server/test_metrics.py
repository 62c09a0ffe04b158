"""`--metrics`: a real node's Prometheus endpoint, scraped over loopback
while real clients talk to it; the numbers move with the traffic, and no
user-supplied string ever reaches a label or the page."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path

import pytest

from chinwag.protocol.client import ChatClient
from chinwag.protocol.errors import ErrorCode
from chinwag.protocol.messages import REQUEST_TYPES
from chinwag.server.app import ChatServer
from chinwag.server.embedded_redis import EmbeddedRedis
from chinwag.server.metrics import NO_METRICS, MetricsServer, MetricsUnavailable, parse_address, registry_for
from chinwag.server.settings import Settings

from ..support.events import collect, error_of
from ..support.metrics import http_get, parse, scrape, scrape_text, value
from ..support.raw import RawClient
from ..support.redis import store_unannounced
from ..support.settings import PASSWORD, fast_settings

METRICS = {"metrics": "127.0.0.1:0"}
FAST_SENDS = {"send_rate": 100_000, "send_burst": 100_000}


@pytest.fixture
async def server(make_server) -> ChatServer:
    """This module's default node serves metrics (on a port of its choosing)."""
    return await make_server(**METRICS, **FAST_SENDS)


def port_of(server: ChatServer) -> int:
    assert server.metrics_port is not None
    return server.metrics_port


async def test_a_send_moves_accepted_delivered_requests_and_the_latency_histogram(server, user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    port = port_of(server)
    node = {"node": server.node_id}
    before = await scrape(port)
    assert value(before, "chinwag_connections", **node) == 2
    assert value(before, "chinwag_logged_in_connections", **node) == 2
    assert value(before, "chinwag_users", **node) == 2

    sent = [await alice.send("@bob", f"hello {i}") for i in range(3)]
    assert [m.mid for m in await collect(bob, 3)] == [s.mid for s in sent]
    after = await scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **node, **labels) - value(before, name, **node, **labels)

    assert moved("chinwag_messages_accepted_total") == 3
    assert moved("chinwag_requests_total", type="send") == 3
    assert moved("chinwag_send_latency_seconds_count") == 3
    assert moved("chinwag_send_latency_seconds_sum") > 0
    assert moved("chinwag_send_latency_seconds_bucket", le="+Inf") == 3
    # to bob, and the echo to alice's own connection
    assert moved("chinwag_messages_delivered_total") == 6
    # the sends went to Redis in batches (with the acks' cursor moves and the
    # bus's publishes riding along in batches of their own or the next one)
    assert moved("chinwag_redis_batch_size_count") >= 1
    assert moved("chinwag_redis_batch_size_sum") >= 3
    assert moved("chinwag_redis_round_trip_seconds_count", path="batch") == moved("chinwag_redis_batch_size_count")
    assert value(after, "chinwag_redis_failures_total", path="batch") == 0
    assert value(after, "chinwag_errors_total", type="send", code="internal") == 0
    # the logins read Redis outside the batch
    assert value(after, "chinwag_redis_round_trip_seconds_count", path="call") > 0


async def test_a_gap_filled_from_redis_is_counted_and_logged(server, user, clean_redis, caplog) -> None:
    """A message stored without being announced (a node that died between the
    two): the next one shows the gap, the node reads it from Redis, and an
    operator can see that it happened, on the page and in the log."""
    alice = await user("alice")
    bob = await user("bob")
    port = port_of(server)
    before = await scrape(port)
    assert value(before, "chinwag_delivery_gaps_total") == 0
    await store_unannounced(clean_redis, "#lobby", "alice", "stored, never announced")
    await alice.send("#lobby", "the next one")
    assert [m.text for m in await collect(bob, 2, conv="#lobby")] == ["stored, never announced", "the next one"]
    after = await scrape(port)
    assert value(after, "chinwag_delivery_gaps_total") == 1
    # the missing entry, and the held one after it when the same read covered it
    assert value(after, "chinwag_delivery_gap_entries_read_total") in (1, 2)
    assert any("filled a gap in" in r.getMessage() for r in caplog.records)


async def test_scrapes_during_traffic_see_counters_only_grow(server, user) -> None:
    alice = await user("alice")
    bob = await user("bob")
    port = port_of(server)

    async def traffic() -> None:
        pending = [asyncio.ensure_future(alice.send("@bob", f"m{i}")) for i in range(200)]
        await asyncio.gather(*pending)

    sending = asyncio.ensure_future(traffic())
    seen: list[float] = []
    while not sending.done():
        seen.append(value(await scrape(port), "chinwag_messages_accepted_total"))
    await sending
    await collect(bob, 200, timeout=10)
    final = await scrape(port)
    seen.append(value(final, "chinwag_messages_accepted_total"))
    assert seen == sorted(seen) and seen[-1] == 200, seen
    assert value(final, "chinwag_send_latency_seconds_count") == 200
    assert value(final, "chinwag_requests_total", type="send") == 200


async def test_an_error_moves_the_errors_counter_with_its_type_and_code(server, user) -> None:
    alice = await user("alice")
    port = port_of(server)
    await error_of(alice.send("@nobody-here", "hi"), "no_such_user")
    await error_of(alice.history("#not-a-room"), "no_such_room")
    await error_of(alice.history("#not-a-room"), "no_such_room")
    samples = await scrape(port)
    assert value(samples, "chinwag_errors_total", type="send", code="no_such_user") == 1
    assert value(samples, "chinwag_errors_total", type="history", code="no_such_room") == 2
    assert value(samples, "chinwag_requests_total", type="history") == 2


async def test_a_frame_of_an_unknown_type_is_counted_as_unknown(server, raw) -> None:
    client = await raw()
    port = port_of(server)
    hostile = ["h4x0r_type", 'x"} 1\nchinwag_fake{node="y', "ack\n", ""]
    for kind in hostile:
        reply = await client.request(kind)
        assert reply["code"] == "unknown_type", reply
    for kind in ([1, 2], 7, None, {"a": 1}):
        await client.send({"type": kind, "id": 99})
        reply = await client.reply(99)
        assert reply["type"] == "error", reply
    text = await scrape_text(port)
    samples = parse(text)
    assert value(samples, "chinwag_errors_total", type="unknown", code="unknown_type") == len(hostile)
    assert value(samples, "chinwag_errors_total", type="unknown", code="bad_request") == 4
    assert "h4x0r" not in text and "chinwag_fake" not in text
    types = {dict(labels)["type"] for (name, labels), _ in samples.items() if name == "chinwag_errors_total"}
    assert types <= {*REQUEST_TYPES, "unknown", "none"}


async def test_a_bad_frame_counts_as_an_error_answering_no_request(server) -> None:
    port = port_of(server)
    client = await RawClient.open(server.port)
    await client.send_bytes(b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1")  # 0xc1 is never valid msgpack
    frames = await client.until_closed()
    client.close()
    assert [f.get("code") for f in frames] == ["bad_frame"], frames
    samples = await scrape(port)
    assert value(samples, "chinwag_errors_total", type="none", code="bad_frame") == 1


async def test_login_failures_and_throttles_are_counted(make_server, connect) -> None:
    srv = await make_server(login_failures_per_address=2, login_window=60, **METRICS)
    port = port_of(srv)
    client = await connect(to=srv)
    await client.register("carol", PASSWORD)
    for _ in range(2):
        await error_of(client.login("carol", "wrong password"), "bad_credentials")
    await error_of(client.login("carol", "wrong password"), "throttled")
    await error_of(client.resume("not-a-token"), "bad_credentials")
    samples = await scrape(port)
    assert value(samples, "chinwag_login_failures_total", type="login") == 2
    assert value(samples, "chinwag_login_throttled_total", type="login") == 1
    assert value(samples, "chinwag_login_failures_total", type="resume") == 1
    assert value(samples, "chinwag_errors_total", type="login", code="throttled") == 1


async def test_heartbeat_age_is_small_and_positive(server) -> None:
    samples = await scrape(port_of(server))
    age = value(samples, "chinwag_heartbeat_age_seconds", node=server.node_id)
    assert 0 < age < server.settings.node_ttl
    assert value(samples, "chinwag_node_info", node=server.node_id) == 1


async def test_no_username_room_or_text_appears_in_the_scrape(server, user, connect, raw) -> None:
    """Hostile names everywhere a client can put a string; none reaches the page."""
    names = ["zz_evil_label", "qq_secret_user"]
    alice = await user(names[0])
    bob = await user(names[1])
    await alice.set_display_name('Mallory"} 1 chinwag_owned{x="')
    await alice.join("#zz-hidden-room", topic="qq topic text")
    await alice.send("#zz-hidden-room", "qq message text")
    await alice.send(f"@{names[1]}", "qq direct text")
    await collect(bob, 1)
    await error_of(alice.send("@qq_no_such", "qq lost text"), "no_such_user")
    stranger = await connect()
    await error_of(stranger.login("zz_unknown_login", "qq password"), "bad_credentials")
    hostile = await raw()
    await hostile.request("qq_type_zz_evil_label")
    text = await scrape_text(port_of(server))
    for secret in ("zz_", "qq", "Mallory", "chinwag_owned", "hidden", PASSWORD):
        assert secret not in text, f"{secret!r} leaked into the metrics"
    # every label value of ours is from a fixed set, or the node id
    fixed = {*REQUEST_TYPES, "unknown", "none", *(str(c) for c in ErrorCode), "batch", "call", server.node_id}
    for (name, labels), _ in parse(text).items():
        if name.startswith("chinwag_"):
            for key, label in labels:
                assert key in {"node", "type", "code", "path", "le", "version"}, (name, key)
                if key not in {"le", "version"}:
                    assert label in fixed, (name, key, label)


async def test_overflow_drops_are_counted(make_server, user, connect) -> None:
    srv = await make_server(outgoing_limit=16_384, **FAST_SENDS, **METRICS)
    alice = await user("alice", to=srv)
    await (await connect(to=srv)).register("bob", PASSWORD)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    stalled = await RawClient.wrap(sock, streams=False)
    await stalled.hello()
    await stalled.login("bob", PASSWORD)
    big = "😀" * 4000
    closed = False
    for _ in range(40):  # until the server gives up on bob (its queue past 16 KiB)
        await asyncio.gather(*(alice.send("@bob", big) for _ in range(10)))
        if value(await scrape(port_of(srv)), "chinwag_overflow_drops_total") == 1:
            closed = True
            break
    stalled.close()
    assert closed


async def test_redis_failures_are_counted(tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    url = await redis.start()
    server = ChatServer(fast_settings(**METRICS), url)
    await server.start()
    client = ChatClient("127.0.0.1", server.port)
    try:
        await client.connect()
        await client.register("alice", PASSWORD)
        await client.login("alice", PASSWORD)
        await client.send("@alice", "before")
        await redis.stop()
        await error_of(client.send("@alice", "during"), "internal")
        await error_of(client.history("@alice"), "internal")  # (its pages go in the batch)
        await error_of(client.who(), "internal")  # a redis-py call
        samples = await scrape(port_of(server))
        assert value(samples, "chinwag_redis_failures_total", path="batch") >= 1
        assert value(samples, "chinwag_redis_failures_total", path="call") >= 1
        assert value(samples, "chinwag_errors_total", type="send", code="internal") == 1
        assert value(samples, "chinwag_errors_total", type="history", code="internal") == 1
        assert value(samples, "chinwag_errors_total", type="who", code="internal") == 1
    finally:
        await client.close()
        await server.stop()
        await redis.stop()


async def test_search_latency_is_observed(make_server, user, tmp_path: Path) -> None:
    srv = await make_server(search_dir=str(tmp_path / "index"), **METRICS)
    alice = await user("alice", to=srv)
    await alice.search("anything")
    samples = await scrape(port_of(srv))
    assert value(samples, "chinwag_search_latency_seconds_count") == 1
    assert value(samples, "chinwag_requests_total", type="search") == 1
    assert value(samples, "chinwag_search_index_queue") >= 0


async def test_only_get_metrics_is_served(server) -> None:
    port = port_of(server)
    assert (await http_get(port, "/"))[0] == 404
    assert (await http_get(port, "/metrics", method="POST"))[0] == 405
    status, headers, body = await http_get(port, "/metrics", method="HEAD")
    assert (status, body) == (200, b"") and int(headers["content-length"]) > 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"garbage\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 400")
    writer.close()


def _listening_inodes() -> set[str]:
    """The inodes of this process's TCP sockets in LISTEN state."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if m := re.fullmatch(r"socket:\[(\d+)\]", target):
            mine.add(m.group(1))
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in mine:
                listening.add(fields[9])
    return listening


async def test_metrics_are_off_by_default_and_nothing_more_listens(make_server) -> None:
    assert Settings().metrics is None
    before = _listening_inodes()
    srv = await make_server()
    assert srv.metrics is NO_METRICS and srv.metrics_port is None and srv.metrics_url is None
    assert srv.context.metrics is NO_METRICS
    new = _listening_inodes() - before
    assert len(new) == 1, f"a node without --metrics listens on {len(new)} sockets"
    with_metrics = await make_server(**METRICS)
    assert len(_listening_inodes() - before - new) == 2  # its clients' port and its metrics port
    assert with_metrics.metrics_url == f"http://127.0.0.1:{with_metrics.metrics_port}/metrics"


async def test_a_metrics_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MetricsUnavailable) as caught:
            await MetricsServer.start(registry_for(NO_METRICS), f"127.0.0.1:{port}")
    expected = f"cannot serve metrics on 127.0.0.1:{port} (it is in use): choose another with --metrics"
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)), ("localhost:80", ("localhost", 80))],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9464", ":9464", "127.0.0.1:", "127.0.0.1:99999", "::1:9464", "[nope]:1", "a:b"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="'"):
        parse_address(text)
