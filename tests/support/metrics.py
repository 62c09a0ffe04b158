"""Scraping a node's `--metrics` endpoint over loopback HTTP, as Prometheus does."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 5.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def http_get(port: int, path: str = "/metrics", method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """(status, headers lower-cased, body) of one request to 127.0.0.1:port."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)  # the server closes after answering
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


async def scrape_text(port: int) -> str:
    status, headers, body = await http_get(port)
    assert status == 200, (status, body)
    assert headers["content-type"].startswith("text/plain"), headers
    assert int(headers["content-length"]) == len(body)
    return body.decode()


def parse(text: str) -> Samples:
    """Every sample: (name, its labels) -> value (the text must parse as Prometheus's format)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def scrape(port: int) -> Samples:
    return parse(await scrape_text(port))


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` whose labels include `labels` (exactly one must match); 0 if none."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    assert len(found) <= 1, f"{name} {labels} matches {len(found)} samples"
    return found[0] if found else 0.0
