"""Length-prefixed msgpack framing, with no I/O of its own.

A frame is a 4-byte big-endian length `L` (1 <= L <= max_frame) followed by
exactly one msgpack map with string keys. `FrameDecoder` turns bytes into maps
and raises `FrameError` for anything else; after an error it stays broken,
because the stream can no longer be trusted (the peer must close).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

from .errors import FrameError

DEFAULT_MAX_FRAME = 65_536
HEADER_SIZE = 4
_MAX_LENGTH = 2**32 - 1

_packb = msgpack.packb
_unpackb = msgpack.unpackb


class FrameTooLarge(ValueError):
    """An outgoing map does not fit in one frame; the caller must shrink it."""


def encode_payload(msg: Mapping[str, Any]) -> bytes:
    """The msgpack body of a frame, without the length header."""
    body: bytes = _packb(msg, use_bin_type=True)
    return body


def encode_frame(msg: Mapping[str, Any], max_frame: int | None = None) -> bytes:
    """One frame: header plus msgpack map. Raises `FrameTooLarge` over `max_frame`."""
    body: bytes = _packb(msg, use_bin_type=True)
    size = len(body)
    if max_frame is not None and size > max_frame:
        raise FrameTooLarge(f"frame of {size} bytes exceeds max_frame {max_frame}")
    return size.to_bytes(4, "big") + body


def decode_payload(payload: bytes) -> dict[str, Any]:
    """Decode one frame body, enforcing "exactly one map with string keys"."""
    try:
        obj = _unpackb(payload, raw=False, strict_map_key=True, use_list=True)
    except msgpack.ExtraData:
        raise FrameError("trailing bytes after the msgpack map") from None
    except UnicodeDecodeError:
        raise FrameError("invalid UTF-8 in a msgpack string") from None
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise FrameError(f"not valid msgpack ({type(exc).__name__})") from None
    if type(obj) is not dict:
        raise FrameError("a frame must hold one msgpack map")
    for key in obj:
        if type(key) is not str:
            raise FrameError("map keys must be strings")
    return obj


class FrameDecoder:
    """Bytes in, decoded maps out; the sans-I/O half of every connection.

    `max_frame` is checked from the header, before the body is buffered, so a
    peer announcing a huge frame is refused after four bytes.
    """

    __slots__ = ("_buf", "_error", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if not 1 <= max_frame <= _MAX_LENGTH:
            raise ValueError("max_frame out of range")
        self.max_frame = max_frame
        self._buf = bytearray()
        self._error: FrameError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded (an incomplete frame)."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> dict[str, Any] | None:
        """The next complete map, or None if more bytes are needed."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        if len(buf) < HEADER_SIZE:
            return None
        length = int.from_bytes(buf[:HEADER_SIZE], "big")
        if length == 0 or length > self.max_frame:
            self._error = FrameError(
                "zero-length frame" if length == 0 else f"frame of {length} bytes exceeds max_frame {self.max_frame}"
            )
            self._buf = bytearray()
            raise self._error
        end = HEADER_SIZE + length
        if len(buf) < end:
            return None
        payload = bytes(buf[HEADER_SIZE:end])
        del buf[:end]
        try:
            return decode_payload(payload)
        except FrameError as exc:
            self._error = exc
            self._buf = bytearray()
            raise

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Buffer `data` and return every frame it completes."""
        self.receive_data(data)
        frames = []
        while (frame := self.next_frame()) is not None:
            frames.append(frame)
        return frames
