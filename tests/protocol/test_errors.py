"""The error family: one code per failure, as PROTOCOL.md and PROTOCOL-EXTENSIONS.md list them."""

from __future__ import annotations

import pytest

from chinwag.protocol.errors import (
    ConnectionClosed,
    ErrorCode,
    FrameError,
    ProtocolError,
    RequestError,
    ServerError,
)
from chinwag.protocol.messages import UnknownType

SPEC_CODES = [
    "bad_frame",
    "bad_request",
    "unknown_type",
    "unsupported_version",
    "not_authenticated",
    "already_authenticated",
    "invalid_username",
    "user_exists",
    "weak_password",
    "bad_credentials",
    "throttled",
    "no_such_user",
    "no_such_room",
    "not_member",
    "forbidden",
    "too_large",
    "rate_limited",
    "internal",
]
EXTENSION_CODES = ["no_such_message", "unavailable"]


def test_error_codes_are_exactly_those_of_the_contract() -> None:
    assert sorted(code.value for code in ErrorCode) == sorted(SPEC_CODES + EXTENSION_CODES)
    for code in ErrorCode:
        assert str(code) == code.value  # usable as a wire string as is


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (ProtocolError, "internal"),
        (FrameError, "bad_frame"),
        (RequestError, "bad_request"),
        (UnknownType, "unknown_type"),
        (ServerError, "internal"),
    ],
)
def test_default_codes(cls: type[ProtocolError], code: str) -> None:
    err = cls("something")
    assert err.code == code
    assert err.to_fields() == {"code": code, "message": "something"}
    assert isinstance(err, ProtocolError)


def test_unknown_type_is_a_request_error() -> None:
    assert issubclass(UnknownType, RequestError)
    assert not issubclass(FrameError, RequestError)


def test_code_given_as_str_becomes_an_error_code() -> None:
    err = ServerError("taken", "user_exists")
    assert err.code is ErrorCode.USER_EXISTS


def test_code_override_does_not_change_the_class_default() -> None:
    err = RequestError("too long", ErrorCode.TOO_LARGE)
    assert err.code is ErrorCode.TOO_LARGE
    assert RequestError("x").code is ErrorCode.BAD_REQUEST


def test_unknown_code_from_a_newer_server_is_kept() -> None:
    err = ServerError("?", "brand_new_code")
    assert err.code == "brand_new_code"
    assert err.to_fields()["code"] == "brand_new_code"


def test_retry_after_goes_on_the_wire() -> None:
    err = RequestError("slow down", ErrorCode.RATE_LIMITED, retry_after=1.5)
    assert err.to_fields() == {"code": "rate_limited", "message": "slow down", "retry_after": 1.5}
    assert "retry_after" not in RequestError("x").to_fields()


def test_message_is_the_exception_text() -> None:
    err = FrameError("zero-length frame")
    assert str(err) == err.message == "zero-length frame"


def test_connection_closed_carries_a_reason() -> None:
    assert ConnectionClosed("logout").reason == "logout"
    assert ConnectionClosed().reason == "connection closed"
    assert not issubclass(ConnectionClosed, ProtocolError)
