"""One ``/collab`` socket as a ``preau.collab.room.Peer``: identity, rights, bounded send queue.

Like the gateway's connection (preau/server/live/connection.py), ``send`` never
blocks: the binary frame is written at once through the ``preau.write``
extension when the socket is writable, else queued for a writer task
(:class:`~preau.server.live.outbox.Outbox`, shared with ``/ws``). A client that
stops reading fills the queue and is cut (4008) rather than allowed to grow
the server's memory; its Yjs provider reconnects and syncs by state vector,
so nothing is lost.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from starlette.types import Send

from preau.collab.ports import Access
from preau.server.live.frames import binary_frame
from preau.server.live.outbox import Outbox

_ids = itertools.count(1)
# The last message framed, and its frame: a relay hands the same bytes object
# to every connection of the document, so it is framed once for them all.
# (Held here, the payload cannot be freed and its id reused meanwhile.)
_framed: tuple[bytes, bytes] = (b"", binary_frame(b""))


class CollabConnection(Outbox):
    def __init__(
        self,
        send: Send,
        person_id: str,
        access: Access,
        *,
        name: str,
        session_hash: str,
        queue_limit: int,
        direct_write: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._id = f"c{next(_ids)}"
        self._person_id = person_id
        self._name = name
        self.access = access
        self.session_hash = session_hash
        super().__init__(send, label=f"collab connection {self._id}", queue_limit=queue_limit,
                         binary=True, direct_write=direct_write)

    @property
    def id(self) -> str:
        return self._id

    @property
    def person_id(self) -> str:
        return self._person_id

    @property
    def name(self) -> str:
        return self._name

    def send(self, frame: bytes) -> None:
        """A y-websocket message to this peer (``preau.collab.room.Peer``)."""
        global _framed
        payload, wire = _framed
        if payload is not frame:
            wire = binary_frame(frame)
            _framed = (frame, wire)
        self.push(frame, wire)
