"""Helpers shared by the live call tests: people connected to a real server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from preau_client import LiveConnection, PreauClient

from tests.server.live import LiveServer


@dataclass
class Person:
    name: str
    client: PreauClient
    live: LiveConnection

    @property
    def id(self) -> str:
        return str(self.client.person["id"])


async def class_room(client: PreauClient, name: str = "6eA") -> str:
    """The id of a class room by its name, as the person's room list shows it."""
    for room in (await client.get("/api/rooms"))["rooms"]:
        if room["name"] == name:
            return str(room["id"])
    raise KeyError(name)


@contextlib.asynccontextmanager
async def people(server: LiveServer, *names: str) -> AsyncIterator[list[Person]]:
    """Logged-in people, each with an open ``/ws`` connection."""
    async with contextlib.AsyncExitStack() as stack:
        found = []
        for name in names:
            client = await server.client(name)
            stack.push_async_callback(client.close)
            live = await client.connect()
            stack.push_async_callback(live.close)
            found.append(Person(name, client, live))
        yield found
