"""Run every cross-node test twice: on one Redis, and on a local Redis
Cluster of three masters (same redis-server binary, --cluster-enabled yes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis as sync_redis

from chinwag.server.embedded_redis import LocalCluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    local = LocalCluster(tmp_path_factory.mktemp("cluster"), masters=3)
    url = asyncio.run(local.start())
    yield local, url
    asyncio.run(local.stop())


@pytest.fixture(params=["single", "cluster"])
def clean_redis(request: pytest.FixtureRequest, redis_url: str) -> str:
    if request.param == "single":
        client = sync_redis.Redis.from_url(redis_url)
        client.flushall()
        client.close()
        return redis_url
    local, url = request.getfixturevalue("cluster")
    for port in local.ports:
        node = sync_redis.Redis(host="127.0.0.1", port=port)
        node.flushall()
        node.close()
    return url
