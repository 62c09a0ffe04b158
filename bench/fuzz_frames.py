"""Long fuzz run of the decoder and request validation.

Feeds random and mutated frames (whole and in random chunks) through
`FrameDecoder` and `parse_request`; the only exceptions allowed are the
protocol's own `FrameError` and `RequestError`. Anything else is a bug and is
printed with the input that caused it. Prints one JSON line.

    python -m bench.fuzz_frames --inputs 200000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from chinwag.protocol.errors import FrameError, RequestError
from chinwag.protocol.frames import FrameDecoder, encode_frame
from chinwag.protocol.messages import REQUEST_TYPES, parse_request

_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**63,
    2**64 - 1,
    -(2**63),
    1.5,
    "",
    "x",
    "#lobby",
    "@alice",
    "1-0",
    "a" * 5000,
    b"bin",
    [],
    [1, "a"],
    {},
    {"k": "v"},
    "\udcff"[:0],
]
_KEYS = [
    "type",
    "id",
    "to",
    "text",
    "cmid",
    "conv",
    "before",
    "limit",
    "room",
    "username",
    "password",
    "display_name",
    "token",
    "version",
    "client",
    "prefix",
    "upto",
    "from",
]


def random_frame(rng: random.Random) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": rng.choice([*REQUEST_TYPES, "nope", ""])}
    if rng.random() < 0.8:
        frame["id"] = rng.choice([1, 2, 99, 0, -5, True, "1", None])
    for _ in range(rng.randint(0, 5)):
        frame[rng.choice(_KEYS)] = rng.choice(_VALUES)
    return frame


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(buf) + 1)
        if op < 0.4 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op < 0.7:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif buf:
            del buf[pos : pos + rng.randint(1, 8)]
    return bytes(buf)


def one_input(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    try:
        frame = encode_frame(random_frame(rng))
    except (TypeError, ValueError, OverflowError):
        frame = b"\x00\x00\x00\x01\xc0"
    return frame if kind < 0.5 else mutate(frame, rng)


def run(inputs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    counts = {"frames": 0, "frame_errors": 0, "request_errors": 0, "requests": 0}
    crashes: list[str] = []
    start = time.perf_counter()
    for _ in range(inputs):
        data = one_input(rng)
        decoder = FrameDecoder(max_frame=rng.choice([64, 1024, 65_536]))
        chunks = [data] if rng.random() < 0.5 else [data[i : i + 3] for i in range(0, len(data), 3)]
        try:
            for chunk in chunks:
                decoder.receive_data(chunk)
                while (frame := decoder.next_frame()) is not None:
                    counts["frames"] += 1
                    try:
                        parse_request(frame)
                        counts["requests"] += 1
                    except RequestError:
                        counts["request_errors"] += 1
        except FrameError:
            counts["frame_errors"] += 1
        except Exception as exc:  # a bug: only the protocol's own errors are allowed
            crashes.append(f"{type(exc).__name__}: {exc} on {data!r}")
    elapsed = time.perf_counter() - start
    return {
        "workload": "fuzz_frames",
        "inputs": inputs,
        "seed": seed,
        **counts,
        "crashes": len(crashes),
        "first_crashes": crashes[:5],
        "inputs_per_s": round(inputs / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.inputs, args.seed)))


if __name__ == "__main__":
    main()
