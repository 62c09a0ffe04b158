"""Framing: bytes in, maps out, in the style of h11's tests/test_io.py.

Every test feeds bytes to a `FrameDecoder` the way a transport would: whole,
several frames at once, split at every offset, byte by byte.
"""

from __future__ import annotations

import msgpack
import pytest

from chinwag.protocol.errors import ErrorCode, FrameError, ProtocolError
from chinwag.protocol.frames import (
    DEFAULT_MAX_FRAME,
    HEADER_SIZE,
    FrameDecoder,
    FrameTooLarge,
    decode_payload,
    encode_frame,
    encode_payload,
)

HELLO = {"type": "hello", "id": 1, "version": 1, "client": "chinwag-tui/0.1"}
SEND = {"type": "send", "id": 2, "to": "#lobby", "text": "héllo 👋", "cmid": "c-1"}
PING = {"type": "ping"}
SAMPLES = [HELLO, SEND, PING]


def framed(body: bytes) -> bytes:
    """A frame around an arbitrary body, valid or not."""
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def packed(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def drain(decoder: FrameDecoder) -> list[dict]:
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def body_of_exact_size(size: int) -> bytes:
    """A msgpack map whose encoding is exactly `size` bytes."""
    for n in range(max(0, size - 8), size):
        body = packed({"t": "x" * n})
        if len(body) == size:
            return body
    raise AssertionError(f"no body of {size} bytes")


# --- well-formed input ---------------------------------------------------------


def test_whole_frame_decodes_to_the_map() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(HELLO)) == [HELLO]
    assert decoder.buffered == 0


def test_decoded_strings_are_str_and_ints_are_int() -> None:
    (frame,) = FrameDecoder().feed(encode_frame(SEND))
    assert type(frame) is dict
    assert all(type(k) is str for k in frame)
    assert type(frame["text"]) is str and frame["text"] == "héllo 👋"
    assert type(frame["id"]) is int


def test_several_frames_in_one_feed_come_out_in_order() -> None:
    data = b"".join(encode_frame(m) for m in SAMPLES)
    assert FrameDecoder().feed(data) == SAMPLES


def test_frames_and_a_partial_frame_in_one_feed() -> None:
    second = encode_frame(SEND)
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(HELLO) + second[:7]) == [HELLO]
    assert decoder.buffered == 7
    assert decoder.feed(second[7:]) == [SEND]
    assert decoder.buffered == 0


def test_stream_split_at_every_offset() -> None:
    data = b"".join(encode_frame(m) for m in SAMPLES)
    for cut in range(len(data) + 1):
        decoder = FrameDecoder()
        got = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert got == SAMPLES, f"split at {cut}"
        assert decoder.buffered == 0


def test_stream_split_at_every_pair_of_offsets() -> None:
    data = encode_frame(HELLO) + encode_frame(PING)
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            decoder = FrameDecoder()
            got = decoder.feed(data[:i]) + decoder.feed(data[i:j]) + decoder.feed(data[j:])
            assert got == [HELLO, PING], f"split at {i}, {j}"


def test_byte_by_byte() -> None:
    data = b"".join(encode_frame(m) for m in SAMPLES)
    decoder = FrameDecoder()
    got: list[dict] = []
    ends = []
    for i in range(len(data)):
        out = decoder.feed(data[i : i + 1])
        if out:
            ends.append(i + 1)
        got += out
    assert got == SAMPLES
    # Each frame completes exactly on its last byte, not before.
    sizes = [len(encode_frame(m)) for m in SAMPLES]
    assert ends == [sum(sizes[: k + 1]) for k in range(len(sizes))]


def test_incomplete_header_waits_for_more() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00\x00") == []
    assert decoder.next_frame() is None
    assert decoder.buffered == 3


def test_empty_feed_is_harmless() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(encode_frame(PING)) == [PING]
    assert decoder.feed(b"") == []


def test_receive_data_then_next_frame() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(encode_frame(HELLO) + encode_frame(PING))
    assert decoder.next_frame() == HELLO
    assert decoder.next_frame() == PING
    assert decoder.next_frame() is None


def test_empty_map_is_the_smallest_valid_frame() -> None:
    data = encode_frame({})
    assert data == b"\x00\x00\x00\x01\x80"
    assert FrameDecoder().feed(data) == [{}]


def test_frame_of_exactly_max_frame_is_accepted() -> None:
    body = body_of_exact_size(100)
    decoder = FrameDecoder(max_frame=100)
    assert decoder.feed(framed(body)) == [msgpack.unpackb(body)]


def test_default_max_frame_is_65536() -> None:
    assert DEFAULT_MAX_FRAME == 65_536
    assert FrameDecoder().max_frame == DEFAULT_MAX_FRAME
    body = body_of_exact_size(DEFAULT_MAX_FRAME)
    assert len(FrameDecoder().feed(framed(body))) == 1


def test_binary_values_pass_framing() -> None:
    # Binary values are a request-level error (bad_request, connection stays),
    # not a framing error, so the decoder must hand them on.
    assert FrameDecoder().feed(framed(packed({"type": "send", "text": b"raw"}))) == [{"type": "send", "text": b"raw"}]


def test_unknown_fields_and_nested_values_survive() -> None:
    msg = {"type": "x", "nested": {"a": [1, 2.5, None, True, "s"]}, "n": -(2**63)}
    assert FrameDecoder().feed(encode_frame(msg)) == [msg]


@pytest.mark.parametrize("bad", [0, 2**32])
def test_decoder_refuses_an_impossible_max_frame(bad: int) -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_frame=bad)


# --- framing errors --------------------------------------------------------------


def assert_bad_frame(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> FrameError:
    """`data` is a framing error whether fed whole or byte by byte."""
    decoder = FrameDecoder(max_frame)
    with pytest.raises(FrameError) as whole:
        decoder.feed(data)
    assert whole.value.code == ErrorCode.BAD_FRAME
    assert whole.value.message

    decoder = FrameDecoder(max_frame)
    with pytest.raises(FrameError):
        for i in range(len(data)):
            decoder.feed(data[i : i + 1])
    return whole.value


def test_zero_length_frame() -> None:
    err = assert_bad_frame(b"\x00\x00\x00\x00")
    assert "zero" in err.message


def test_zero_length_is_refused_without_waiting_for_more() -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


def test_oversize_length_is_refused_after_only_the_header() -> None:
    decoder = FrameDecoder(max_frame=100)
    assert decoder.feed(b"\x00\x00") == []
    with pytest.raises(FrameError) as exc:
        decoder.feed(b"\x00\x65")  # 101: the body has not arrived, and never need
    assert "101" in exc.value.message
    assert decoder.buffered == 0


def test_huge_declared_length_is_refused_at_once() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(b"\xff\xff\xff\xff")
    assert decoder.buffered == 0


def test_oversize_by_one() -> None:
    body = body_of_exact_size(101)
    assert_bad_frame(framed(body), max_frame=100)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(b"\x82\xa1a", id="truncated-map"),
        pytest.param(b"\xa5abc", id="truncated-str"),
        pytest.param(b"\xdb\xff\xff\xff\xff", id="str32-claims-4GiB"),
        pytest.param(b"\xdd\xff\xff\xff\xff", id="array32-claims-4G-items"),
        pytest.param(b"\x91" * 5000, id="deeply-nested-arrays"),
        pytest.param(b'{"type": "ping"}', id="json-not-msgpack"),
    ],
)
def test_bytes_that_are_not_msgpack(body: bytes) -> None:
    assert_bad_frame(framed(body))


@pytest.mark.parametrize(
    "obj",
    [[1, 2, 3], [], 42, -1, "ping", None, True, 1.5, b"bytes"],
    ids=["list", "empty-list", "int", "negative-int", "str", "nil", "bool", "float", "bin"],
)
def test_msgpack_that_is_not_a_map(obj: object) -> None:
    err = assert_bad_frame(framed(packed(obj)))
    assert "map" in err.message


def test_trailing_bytes_after_the_map() -> None:
    err = assert_bad_frame(framed(packed({"type": "ping"}) + b"\x00"))
    assert "trailing" in err.message


def test_two_maps_in_one_frame_is_trailing_data() -> None:
    assert_bad_frame(framed(packed({"type": "ping"}) + packed({"type": "ping"})))


def test_invalid_utf8_in_a_value() -> None:
    # fixmap(1) {fixstr "k": fixstr(2) 0xff 0xfe}
    err = assert_bad_frame(framed(b"\x81\xa1k\xa2\xff\xfe"))
    assert "UTF-8" in err.message


def test_invalid_utf8_in_a_key() -> None:
    assert_bad_frame(framed(b"\x81\xa2\xc3\x28\x01"))


def test_surrogate_encoded_as_utf8_is_invalid() -> None:
    # CESU-style encoding of U+D800 is not valid UTF-8.
    assert_bad_frame(framed(b"\x81\xa1k\xa3\xed\xa0\x80"))


def test_integer_key() -> None:
    assert_bad_frame(framed(packed({1: "one"})))


def test_binary_key() -> None:
    err = assert_bad_frame(framed(packed({b"type": "ping"})))
    assert "key" in err.message


def test_mixed_keys_one_not_a_string() -> None:
    assert_bad_frame(framed(packed({"type": "ping", b"id": 1})))


@pytest.mark.parametrize("key", [None, 1.5, True], ids=["nil", "float", "bool"])
def test_other_non_string_keys(key: object) -> None:
    assert_bad_frame(framed(packed({key: 1})))


def test_frame_error_is_a_protocol_error_with_bad_frame() -> None:
    with pytest.raises(ProtocolError) as exc:
        FrameDecoder().feed(framed(b"\xc1"))
    assert isinstance(exc.value, FrameError)
    assert exc.value.to_fields()["code"] == "bad_frame"


def test_frames_before_a_bad_one_are_delivered_by_next_frame() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(encode_frame(HELLO) + framed(b"\xc1") + encode_frame(PING))
    assert decoder.next_frame() == HELLO
    with pytest.raises(FrameError):
        decoder.next_frame()


def test_decoder_stays_broken_after_an_error() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError) as first:
        decoder.feed(framed(packed([1])))
    # Valid bytes afterwards do not revive it: the stream cannot be trusted.
    with pytest.raises(FrameError) as second:
        decoder.feed(encode_frame(PING))
    assert second.value is first.value
    with pytest.raises(FrameError):
        decoder.next_frame()
    with pytest.raises(FrameError):
        decoder.feed(b"")


def test_decoder_stays_broken_after_an_oversize_header() -> None:
    decoder = FrameDecoder(max_frame=10)
    with pytest.raises(FrameError):
        decoder.feed(b"\x00\x00\x00\x0b")
    with pytest.raises(FrameError):
        decoder.feed(encode_frame({}))


def test_a_new_decoder_is_independent_of_a_broken_one() -> None:
    broken = FrameDecoder()
    with pytest.raises(FrameError):
        broken.feed(b"\x00\x00\x00\x00")
    assert FrameDecoder().feed(encode_frame(PING)) == [PING]


# --- encoding ----------------------------------------------------------------------


def test_encode_frame_is_header_plus_payload() -> None:
    data = encode_frame(SEND)
    payload = encode_payload(SEND)
    assert data[HEADER_SIZE:] == payload
    assert int.from_bytes(data[:HEADER_SIZE], "big") == len(payload)
    assert decode_payload(payload) == SEND


def test_encode_frame_uses_str_not_bin_for_text() -> None:
    payload = encode_payload({"k": "v"})
    assert payload == b"\x81\xa1k\xa1v"


def test_encode_frame_at_max_frame_is_allowed() -> None:
    body = body_of_exact_size(100)
    msg = msgpack.unpackb(body)
    assert encode_frame(msg, max_frame=100) == framed(body)


def test_encode_frame_over_max_frame_raises() -> None:
    msg = msgpack.unpackb(body_of_exact_size(101))
    with pytest.raises(FrameTooLarge) as exc:
        encode_frame(msg, max_frame=100)
    assert isinstance(exc.value, ValueError)
    assert "101" in str(exc.value)


def test_encode_frame_without_max_frame_does_not_check() -> None:
    big = {"text": "x" * (DEFAULT_MAX_FRAME + 1)}
    data = encode_frame(big)
    assert len(data) > DEFAULT_MAX_FRAME + HEADER_SIZE
    assert FrameDecoder(max_frame=len(data)).feed(data) == [big]


@pytest.mark.parametrize("msg", [*SAMPLES, {}, {"list": [], "map": {}, "u": "\x00\U0010ffff"}])
def test_round_trip(msg: dict) -> None:
    assert FrameDecoder().feed(encode_frame(msg)) == [msg]
    assert decode_payload(encode_payload(msg)) == msg


def test_round_trip_of_many_frames_byte_by_byte() -> None:
    msgs = [{"type": "message", "mid": f"1-{i}", "text": "é" * i} for i in range(50)]
    data = b"".join(encode_frame(m) for m in msgs)
    decoder = FrameDecoder()
    got = [f for i in range(len(data)) for f in decoder.feed(data[i : i + 1])]
    assert got == msgs


# --- decode_payload on its own ------------------------------------------------------


def test_decode_payload_accepts_a_map() -> None:
    assert decode_payload(packed({"a": 1})) == {"a": 1}


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xc1", packed([1]), packed({1: 1}), packed({b"k": 1}), packed({}) + b"\x80"],
    ids=["empty", "garbage", "list", "int-key", "bin-key", "trailing"],
)
def test_decode_payload_raises_frame_error_only(payload: bytes) -> None:
    with pytest.raises(FrameError):
        decode_payload(payload)
