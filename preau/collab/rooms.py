"""The document rooms open on one node: opened on first join, closed on last leave.

A room is loaded once even when many connections arrive together, and
unloaded as soon as its last connection leaves (everything it accepted is
already stored, so there is no pending save to wait for, only a compaction
that finishes on its own). The host calls ``recheck_all`` when the directory
changes (a pupil changed class), ``recheck_person`` when someone was removed
from a class room, ``deleted`` once a document is deleted, and ``resync``
when the broker lost messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from preau.collab import envelope
from preau.collab.gate import RelayGate
from preau.collab.ports import Authoriser, Broker, DocumentStore
from preau.collab.room import DocumentRoom, Limits, Peer

log = logging.getLogger(__name__)


class DocumentRooms:
    def __init__(
        self,
        *,
        store: DocumentStore,
        broker: Broker,
        authoriser: Authoriser,
        limits: Limits,
        now_ms: Callable[[], int],
    ) -> None:
        self.store = store
        self.broker = broker
        self.authoriser = authoriser
        self.limits = limits
        self.now_ms = now_ms
        self.rooms: dict[str, DocumentRoom] = {}
        self._opening: dict[str, asyncio.Future[DocumentRoom]] = {}
        # Held by the host while rights are re-read (a directory change).
        self.gate = RelayGate()

    async def join(self, document_id: str, peer: Peer) -> DocumentRoom:
        """The document's room with ``peer`` in it (the handshake frames queued)."""
        room = await self._open(document_id)
        room.join(peer)
        return room

    async def _open(self, document_id: str) -> DocumentRoom:
        room = self.rooms.get(document_id)
        if room is not None:
            return room
        pending = self._opening.get(document_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[DocumentRoom] = asyncio.get_running_loop().create_future()
        self._opening[document_id] = future
        try:
            room = DocumentRoom(
                document_id, store=self.store, broker=self.broker,
                authoriser=self.authoriser, limits=self.limits, now_ms=self.now_ms,
                gate=self.gate,
            )
            await room.start()
            self.rooms[document_id] = room
            future.set_result(room)
            return room
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._opening[document_id]

    async def leave(self, room: DocumentRoom, peer: Peer) -> None:
        await room.leave(peer)
        if not room.peers and self.rooms.get(room.document_id) is room:
            # Out of the map before awaiting, so a new joiner opens a fresh room.
            del self.rooms[room.document_id]
            await room.close()

    async def server_update(self, document_id: str, data: bytes, person_id: str) -> int:
        """Store and broadcast an update made by the server (a restore)."""
        room = await self._open(document_id)
        try:
            return await room.server_update(data, person_id)
        finally:
            if not room.peers and self.rooms.get(document_id) is room:
                del self.rooms[document_id]
                await room.close()

    async def rights_changed(self, document_id: str) -> None:
        """A document's rights changed (lock, group, readers): re-check its
        connections on every node. Nodes without the room open have nothing to do."""
        room = self.rooms.get(document_id)
        if room is not None:
            await room.rights_changed()
            return
        await self.broker.publish(envelope.channel(document_id), envelope.rights_changed())

    async def deleted(self, document_id: str) -> None:
        """The document is gone from the store: every node re-checks its
        connections (the authoriser refuses them all: closed 4403), and this
        node's room, left empty, is closed and its replica dropped (other
        nodes drop theirs as their closed sockets leave)."""
        await self.rights_changed(document_id)
        room = self.rooms.get(document_id)
        if room is not None and not room.peers:
            del self.rooms[document_id]
            await room.close()

    async def recheck_all(self) -> None:
        for room in list(self.rooms.values()):
            await room.recheck()

    async def recheck_person(self, person_id: str) -> None:
        """Re-check the person's connections on this node (removed from a
        class room: they may have lost its documents)."""
        for room in list(self.rooms.values()):
            if any(p.person_id == person_id for p in list(room.peers.values())):
                await room.recheck(person_id)

    async def resync(self) -> None:
        """Read from the store what a broker outage made every room miss."""
        for room in list(self.rooms.values()):
            try:
                await room.resync()
            except Exception:
                log.exception("document %s: resync failed", room.document_id)

    async def close(self) -> None:
        rooms = list(self.rooms.values())
        self.rooms.clear()
        for room in rooms:
            await room.close()

    def stats(self) -> dict[str, int]:
        return {
            "documents": len(self.rooms),
            "connections": sum(len(r.peers) for r in self.rooms.values()),
        }
