"""In-process y-websocket clients for room tests: no socket, the real room and codec.

A :class:`SimClient` is a pycrdt replica that speaks the protocol to a
:class:`~preau.collab.room.DocumentRoom` through the Peer interface, like y-websocket's
provider: SyncStep1 on connect, SyncStep2 in answer to the server's, local
edits sent as updates while connected, kept (and synced later) while offline.
Frames the room sends are queued and handled by :meth:`pump`, as a socket
would deliver them.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Text, TransactionEvent

from preau.collab import codec
from preau.collab.ports import Access
from preau.collab.room import DocumentRoom
from preau.collab.rooms import DocumentRooms

_ids = itertools.count(1)


@dataclass
class StaticAuthoriser:
    """Rights as a plain table, changed by the test (person → document → access)."""

    rights: dict[tuple[str, str], Access] = field(default_factory=dict)

    async def access(self, person_id: str, document_id: str) -> Access:
        return self.rights.get((person_id, document_id), Access.NONE)


class SimClient:
    """One client: a replica, and at most one connection to a room at a time."""

    def __init__(self, person_id: str, access: Access = Access.WRITE) -> None:
        self.person_id = person_id
        self.name = f"Name of {person_id}"
        self.access = access
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)
        self.room: DocumentRoom | None = None
        self.inbox: list[bytes] = []
        self.denied: list[str] = []
        self.awareness: dict[int, str] = {}
        self.closed_with: int | None = None
        self._id = f"sim{next(_ids)}"
        self._remote = False
        self._outbox: list[bytes] = []
        self.doc.observe(self._on_change)

    # -- the Peer interface --------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    def send(self, frame: bytes) -> None:
        self.inbox.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed_with = code

    # -- the client side -----------------------------------------------------
    def _on_change(self, event: TransactionEvent) -> None:
        if not self._remote and self.room is not None:
            self._outbox.append(codec.update(event.update))

    async def connect(self, room: DocumentRoom) -> None:
        self._id = f"sim{next(_ids)}"  # a reconnection is a new connection
        self.closed_with = None
        self.room = room
        room.join(self)
        await room.receive(self, codec.sync_step1(self.doc.get_state()))
        await self.pump()

    async def disconnect(self) -> None:
        if self.room is not None:
            room, self.room = self.room, None
            await room.leave(self)
        self.inbox.clear()
        self._outbox.clear()

    async def edit(self, index: int, text: str) -> None:
        self.text.insert(min(index, len(self.text)), text)
        await self.flush()

    async def delete(self, index: int, length: int) -> None:
        size = len(self.text)
        if size == 0:
            return
        start = min(index, size - 1)
        del self.text[start:min(size, start + max(1, length))]
        await self.flush()

    async def flush(self) -> None:
        while self._outbox and self.room is not None:
            await self.room.receive(self, self._outbox.pop(0))
        await self.pump()

    async def pump(self) -> None:
        """Handle every frame the room sent (answers included)."""
        while self.inbox:
            message = codec.decode(self.inbox.pop(0))
            if isinstance(message, codec.SyncStep1):
                if self.room is not None:
                    await self.room.receive(
                        self, codec.sync_step2(self.doc.get_update(message.state_vector))
                    )
            elif isinstance(message, codec.SyncStep2 | codec.Update):
                self._remote = True
                try:
                    self.doc.apply_update(message.update)
                finally:
                    self._remote = False
            elif isinstance(message, codec.Awareness):
                for entry in message.entries:
                    if entry.removed:
                        self.awareness.pop(entry.client_id, None)
                    else:
                        self.awareness[entry.client_id] = entry.state
            elif isinstance(message, codec.PermissionDenied):
                self.denied.append(message.reason)

    def content(self) -> str:
        return str(self.text)


async def deliver(clients: list[SimClient], nodes: list[DocumentRooms]) -> None:
    """Run until no frame, broker message or catch-up is pending anywhere."""
    # A time budget, not a count: a loaded CI machine runs the store's
    # threads and the catch-ups' back-off slower (returns once quiet).
    deadline = asyncio.get_running_loop().time() + 15.0
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.002)
        for client in clients:
            await client.flush()
        busy = any(c.inbox for c in clients) or any(
            room.feed.waiting
            or (room._catch_up_task is not None and not room._catch_up_task.done())
            or (room._rebuild_task is not None and not room._rebuild_task.done())
            for node in nodes for room in node.rooms.values()
        )
        if not busy:
            await asyncio.sleep(0.01)  # a last look for broker messages in flight
            if not any(c.inbox for c in clients):
                return
    raise AssertionError("never quiet")
