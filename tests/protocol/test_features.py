"""The requests of PROTOCOL-EXTENSIONS.md as typed objects: `hello`'s
features, and `read`, the one extension request that may also be a
notification. (What the server does with them: tests/server/test_features.py,
test_edit_delete_react.py, test_read_markers.py.)"""

from __future__ import annotations

import pytest

from chinwag.protocol import limits
from chinwag.protocol.errors import ErrorCode, RequestError
from chinwag.protocol.messages import Address, Delete, Edit, Hello, React, Read, parse_request


def test_hello_features_are_kept_once_in_order_and_absent_stays_version_1() -> None:
    req = parse_request({"type": "hello", "id": 1, "version": 1, "features": ["read", "messages", "read"]})
    assert req == Hello(1, 1, None, ("read", "messages"))
    plain = parse_request({"type": "hello", "id": 1, "version": 1})
    assert plain == Hello(1, 1, None, None) and "features" not in plain.to_frame()


@pytest.mark.parametrize("features", ["messages", [1], [None], {"a": 1}, ["x"] * (limits.FEATURES_MAX + 1)])
def test_a_bad_feature_list_is_bad_request(features: object) -> None:
    with pytest.raises(RequestError) as exc:
        parse_request({"type": "hello", "id": 1, "version": 1, "features": features})
    assert exc.value.code == ErrorCode.BAD_REQUEST


def test_read_is_a_notification_or_a_request() -> None:
    note = parse_request({"type": "read", "conv": "#lobby", "upto": "5-1"})
    assert note == Read(None, Address("room", "lobby"), "5-1")
    req = parse_request({"type": "read", "id": 9, "conv": "@bob", "upto": "5-1"})
    assert req == Read(9, Address("user", "bob"), "5-1")


@pytest.mark.parametrize("kind", ["edit", "delete", "react"])
def test_the_change_requests_need_an_id(kind: str) -> None:
    with pytest.raises(RequestError) as exc:
        parse_request({"type": kind, "conv": "#lobby", "mid": "1-1", "text": "x", "emoji": "x", "on": True})
    assert exc.value.code == ErrorCode.BAD_REQUEST


def test_the_change_requests_round_trip() -> None:
    for req in (
        Edit(1, Address("room", "lobby"), "1-2", "new text"),
        Delete(2, Address("user", "bob"), "1-2"),
        React(3, Address("room", "lobby"), "1-2", "👍", False),
    ):
        assert parse_request(req.to_frame()) == req
