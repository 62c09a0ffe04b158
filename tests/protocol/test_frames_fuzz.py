"""Property tests for framing: the decoder accepts only documented outcomes.

Like h11's fuzz/afl-server.py: whatever the bytes, the decoder either yields
maps with string keys or raises `FrameError`; nothing else escapes it, and how
the bytes are chunked never changes the result.
"""

from __future__ import annotations

import itertools
import math

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chinwag.protocol.errors import FrameError
from chinwag.protocol.frames import (
    HEADER_SIZE,
    FrameDecoder,
    decode_payload,
    encode_frame,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values msgpack carries without loss and the protocol allows (no binary).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
maps = st.dictionaries(st.text(max_size=12), values, max_size=4)


def framed(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def run(chunks: list[bytes], max_frame: int = 65_536) -> tuple[list[dict], FrameError | None]:
    """Feed `chunks` one after another; the frames obtained and the error, if any.

    Uses `receive_data`/`next_frame` so frames decoded before an error are kept,
    which is what a connection driver sees.
    """
    decoder = FrameDecoder(max_frame)
    frames: list[dict] = []
    try:
        for chunk in chunks:
            decoder.receive_data(chunk)
            while (frame := decoder.next_frame()) is not None:
                frames.append(frame)
    except FrameError as exc:
        return frames, exc
    return frames, None


def check_frames(frames: list[dict]) -> None:
    for frame in frames:
        assert type(frame) is dict
        assert all(type(key) is str for key in frame)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def same_outcome(a: tuple[list[dict], FrameError | None], b: tuple[list[dict], FrameError | None]) -> bool:
    # compared as msgpack: a flipped bit can make a float NaN, which is not == itself
    same_frames = msgpack.packb(a[0], use_bin_type=True) == msgpack.packb(b[0], use_bin_type=True)
    return same_frames and (a[1] is None) == (b[1] is None)


# --- arbitrary input -----------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_whole_and_byte_by_byte(data: bytes) -> None:
    whole = run([data])
    bytewise = run([data[i : i + 1] for i in range(len(data))])
    check_frames(whole[0])
    assert same_outcome(whole, bytewise)


@FUZZ
@given(st.lists(st.binary(max_size=60), max_size=5), st.lists(st.integers(min_value=0), max_size=6))
def test_random_bodies_with_valid_headers(bodies: list[bytes], cuts: list[int]) -> None:
    # A correct length prefix gets random bytes past the header check and into msgpack.
    data = b"".join(framed(body) for body in bodies)
    whole = run([data])
    check_frames(whole[0])
    assert same_outcome(whole, run(split(data, cuts)))
    assert same_outcome(whole, run([data[i : i + 1] for i in range(len(data))]))


@FUZZ
@given(st.binary(max_size=200))
def test_decode_payload_raises_only_frame_error(payload: bytes) -> None:
    try:
        result = decode_payload(payload)
    except FrameError:
        return
    check_frames([result])


@FUZZ
@given(st.binary(max_size=200))
def test_feed_raises_only_frame_error(data: bytes) -> None:
    decoder = FrameDecoder()
    try:
        frames = decoder.feed(data)
    except FrameError:
        return
    check_frames(frames)


# --- mutated valid frames ---------------------------------------------------------------


mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "set"]), st.integers(min_value=0), st.integers(0, 255)
)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, where, byte in ops:
        if op == "insert":
            buf.insert(where % (len(buf) + 1), byte)
        elif not buf:
            continue
        elif op == "delete":
            del buf[where % len(buf)]
        elif op == "flip":
            buf[where % len(buf)] ^= 1 << (byte % 8)
        else:
            buf[where % len(buf)] = byte
    return bytes(buf)


@FUZZ
@given(st.lists(maps, min_size=1, max_size=2), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_valid_frames(msgs: list[dict], ops: list[tuple[str, int, int]]) -> None:
    data = mutate(b"".join(encode_frame(m) for m in msgs), ops)
    whole = run([data])
    check_frames(whole[0])
    assert same_outcome(whole, run([data[i : i + 1] for i in range(len(data))]))


@FUZZ
@given(maps, st.lists(mutation, min_size=1, max_size=4))
def test_mutated_payloads_keep_their_length(msg: dict, ops: list[tuple[str, int, int]]) -> None:
    # Mutate only the body and fix up the header, so every mutation reaches msgpack.
    body = mutate(msgpack.packb(msg, use_bin_type=True), ops)
    frames, error = run([framed(body)]) if body else ([], None)
    check_frames(frames)
    assert error is not None or len(frames) == (1 if body else 0)


# --- round trips -----------------------------------------------------------------------


def equal(a: object, b: object) -> bool:
    """Equality that tells 0.0 from -0.0 (msgpack keeps the sign)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@FUZZ
@given(maps)
def test_encode_decode_round_trip(msg: dict) -> None:
    (got,) = FrameDecoder().feed(encode_frame(msg))
    assert equal(got, msg)


@FUZZ
@given(st.lists(maps, max_size=3), st.lists(st.integers(min_value=0), max_size=8))
def test_chunking_never_changes_the_result(msgs: list[dict], cuts: list[int]) -> None:
    data = b"".join(encode_frame(m) for m in msgs)
    whole_decoder = FrameDecoder()
    whole = whole_decoder.feed(data)
    chunked_decoder = FrameDecoder()
    chunked = [f for chunk in split(data, cuts) for f in chunked_decoder.feed(chunk)]
    assert equal(whole, msgs)
    assert equal(chunked, msgs)
    assert whole_decoder.buffered == chunked_decoder.buffered == 0


@FUZZ
@given(maps, st.integers(min_value=1, max_value=512))
def test_max_frame_is_exact(msg: dict, max_frame: int) -> None:
    data = encode_frame(msg)
    size = len(data) - HEADER_SIZE
    frames, error = run([data], max_frame=max_frame)
    if size <= max_frame:
        assert error is None and equal(frames, [msg])
    else:
        assert error is not None and frames == []
