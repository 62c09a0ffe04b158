"""Error codes of the wire protocol and the exceptions that carry them.

One family, split like h11's by what the receiver must do: a `FrameError` means
the byte stream can no longer be trusted and the connection must close; a
`RequestError` answers one request and the connection stays; a `ServerError`
is what the client raises when the server answered a request with `error`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    INVALID_USERNAME = "invalid_username"
    USER_EXISTS = "user_exists"
    WEAK_PASSWORD = "weak_password"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"
    NO_SUCH_USER = "no_such_user"
    NO_SUCH_ROOM = "no_such_room"
    NOT_MEMBER = "not_member"
    FORBIDDEN = "forbidden"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    # PROTOCOL-EXTENSIONS.md
    NO_SUCH_MESSAGE = "no_such_message"
    UNAVAILABLE = "unavailable"


class ProtocolError(Exception):
    """Base of every protocol failure; carries the code to put on the wire."""

    code: ErrorCode | str = ErrorCode.INTERNAL  # a str: a code this client does not know

    def __init__(
        self,
        message: str,
        code: ErrorCode | str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else code
        self.retry_after = retry_after

    def to_fields(self) -> dict[str, object]:
        """The `code`/`message`/`retry_after` fields of an `error` frame."""
        fields: dict[str, object] = {"code": str(self.code), "message": self.message}
        if self.retry_after is not None:
            fields["retry_after"] = self.retry_after
        return fields


class FrameError(ProtocolError):
    """The bytes are not a valid frame: answer `bad_frame` and close."""

    code = ErrorCode.BAD_FRAME


class RequestError(ProtocolError):
    """One request is wrong or not allowed: answer `error`, keep the connection."""

    code = ErrorCode.BAD_REQUEST


class ServerError(ProtocolError):
    """Raised by the client when the server answered a request with `error`."""


class ConnectionClosed(Exception):
    """The connection to the server is gone; `reason` says why if the server said."""

    def __init__(self, reason: str = "connection closed") -> None:
        super().__init__(reason)
        self.reason = reason
