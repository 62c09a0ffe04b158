"""Feature negotiation in `hello` (PROTOCOL-EXTENSIONS.md): the `ok` always
says which extensions are in effect, the intersection of what the client
asked for and what the server has; the connection keeps them."""

from __future__ import annotations

import pytest

from chinwag.protocol import limits
from chinwag.server.app import ChatServer

from ..support.events import error_of


async def test_a_version_1_hello_gets_an_empty_feature_list(raw) -> None:
    conn = await raw(hello=False)
    reply = await conn.ok("hello", version=1)
    assert reply["features"] == []


async def test_the_reply_is_the_intersection_in_the_clients_order(raw, server: ChatServer) -> None:
    conn = await raw(hello=False)
    reply = await conn.ok("hello", version=1, features=["read", "teleport", "messages", "read", "search", "rooms"])
    assert reply["features"] == ["read", "messages", "rooms"]  # no index here: no search
    (live,) = [c for c in server.connections if c.state.value == "ready"]
    assert live.features == frozenset({"read", "messages", "rooms"})


async def test_search_is_offered_only_by_a_server_with_an_index(raw, server: ChatServer) -> None:
    conn = await raw(hello=False)
    reply = await conn.ok("hello", version=1, features=["search", "messages"])
    assert reply["features"] == ["messages"]
    server.context.features.add(limits.FEATURE_SEARCH)  # the hook the search wiring uses
    again = await raw(hello=False)
    reply = await again.ok("hello", version=1, features=["search", "messages"])
    assert reply["features"] == ["search", "messages"]


async def test_search_without_an_index_is_unavailable(user) -> None:
    alice = await user("alice", features=["search"])
    assert alice.features == frozenset()
    error = await error_of(alice.search("hello"), "unavailable")
    assert "search" in error.message


@pytest.mark.parametrize(
    "features",
    [
        "messages",
        ["messages", 3],
        [b"messages"],
        {"messages": True},
        ["x"] * (limits.FEATURES_MAX + 1),
    ],
)
async def test_a_bad_feature_list_is_bad_request_and_the_connection_stays(raw, features: object) -> None:
    conn = await raw(hello=False)
    reply = await conn.request("hello", version=1, features=features)
    assert (reply["type"], reply["code"]) == ("error", "bad_request")
    assert (await conn.ok("hello", version=1))["features"] == []


async def test_the_client_sees_what_is_in_effect(user) -> None:
    alice = await user("alice", features=["messages", "read"])
    assert alice.features == frozenset({"messages", "read"})
    plain = await user("bob")
    assert plain.features == frozenset()
