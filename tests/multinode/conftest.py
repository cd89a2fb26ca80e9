"""Fixtures of the multi-node tests: one fresh PostgreSQL database per module,
and the people (SDK clients) a test logs in, closed after it.

Each test module builds its own ``cluster`` fixture (module scope) on
``cluster_database_url`` and the private Redis (``redis_server_url``), with
the settings its tests need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from preau_client import LiveConnection, PreauClient

from tests.multinode.cluster import Cluster, close_quietly
from tests.services import RedisServer, fresh_database, private_redis


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """An empty database on the private PostgreSQL, shared by a module's nodes."""
    async with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """The module's own Redis, which its tests may stop and restart (same port)."""
    with private_redis() as server:
        yield server


class People:
    """Logs demo people in on a cluster's nodes; closes every client and socket at the end."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._clients: list[PreauClient] = []
        self._sockets: list[LiveConnection] = []

    async def __call__(self, name: str, node: int = 0) -> PreauClient:
        client = await self.cluster.client(name, node)
        self._clients.append(client)
        return client

    def on(self, client: PreauClient, node: int) -> PreauClient:
        other = self.cluster.on(client, node)
        self._clients.append(other)
        return other

    async def connect(self, client: PreauClient) -> LiveConnection:
        """A socket closed after the test, however it ends."""
        conn = await client.connect()
        self._sockets.append(conn)
        return conn

    async def close(self) -> None:
        for conn in self._sockets:
            await close_quietly(conn)
        for client in self._clients:
            await client.close()


@pytest.fixture
async def people(cluster: Cluster) -> AsyncIterator[People]:
    found = People(cluster)
    try:
        yield found
    finally:
        await found.close()
