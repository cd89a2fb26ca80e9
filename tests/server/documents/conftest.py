"""Fixtures of the document tests: a live server with small collab limits, and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from preau_client import PreauClient

from tests.collab.node_client import NodeYClient
from tests.collab.yclient import YClient
from tests.server.live import LiveServer

# Small enough that a test builds an oversize update in a few lines.
MAX_UPDATE = 8 * 1024


@pytest.fixture(scope="module")
def collab_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("collab"), env={
        "PREAU_COLLAB_MAX_UPDATE_BYTES": str(MAX_UPDATE),
        "PREAU_HARD_FRAME_BYTES": str(64 * 1024),
        "PREAU_COLLAB_COMPACT_AFTER": "20",
    }).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Session:
    """People, sockets and Node clients opened by one test, closed after it."""

    live: LiveServer
    clients: dict[str, PreauClient] = field(default_factory=dict)
    sockets: list[YClient] = field(default_factory=list)
    nodes: list[NodeYClient] = field(default_factory=list)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.live.port}"

    async def person(self, name: str) -> PreauClient:
        if name not in self.clients:
            self.clients[name] = await self.live.client(name)
        return self.clients[name]

    async def class_id(self, name: str = "6eA") -> str:
        teacher = await self.person("Claire Lefèvre")
        rooms = (await teacher.me())["rooms"]
        return str(next(r["class_id"] for r in rooms if r["name"] == name))

    async def document(self, title: str = "Journal de la classe", **body: Any) -> str:
        teacher = await self.person("Claire Lefèvre")
        created = await teacher.post(
            "/api/documents", {"class": await self.class_id(), "title": title, **body}
        )
        return str(created["id"])

    async def y(self, name: str, document: str, **kwargs: Any) -> YClient:
        client = await YClient.connect(self.ws, document, (await self.person(name)).token,
                                       **kwargs)
        self.sockets.append(client)
        return client

    async def synced(self, name: str, document: str, **kwargs: Any) -> YClient:
        client = await self.y(name, document, **kwargs)
        await _wait(client)
        return client

    async def node(self, name: str, document: str) -> NodeYClient:
        client = await NodeYClient.start(
            self.ws + "/collab", document, (await self.person(name)).token
        )
        self.nodes.append(client)
        await client.wait_event("synced")
        return client

    async def person_id(self, name: str) -> str:
        return str((await self.person(name)).person["id"])

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        for node in self.nodes:
            await node.close()
        for client in self.clients.values():
            await client.close()


async def _wait(client: YClient) -> None:
    import asyncio

    async with asyncio.timeout(5):
        await client.synced.wait()


@pytest.fixture
async def session(collab_live: LiveServer) -> AsyncIterator[Session]:
    found = Session(collab_live)
    try:
        yield found
    finally:
        await found.close()
