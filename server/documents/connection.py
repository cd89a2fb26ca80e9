"""One ``/collab`` socket as a ``collab.room.Peer``: identity, rights, bounded send queue.

Like the gateway's connection (server/gateway/connection.py), ``send`` never
blocks: when the socket is writable and nothing waits, the binary frame is
written at once through the ``preau.write`` extension; otherwise it is
queued and a writer task drains it. A client that stops reading fills the
queue and is cut (4008) rather than allowed to grow the server's memory; its
Yjs provider reconnects and syncs by state vector, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections import deque
from collections.abc import Callable

from starlette.types import Send

from collab.ports import Access

log = logging.getLogger(__name__)

SLOW_CONSUMER = 4008
GOING_AWAY = 1001

_ids = itertools.count(1)
_FIN_BINARY = 0x82  # FIN bit + opcode 2 (binary); servers never mask


def binary_frame(payload: bytes) -> bytes:
    """A complete, unfragmented, unmasked binary WebSocket frame (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN_BINARY, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", _FIN_BINARY, 126, length) + payload
    return struct.pack("!BBQ", _FIN_BINARY, 127, length) + payload


class CollabConnection:
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
        self._send = send
        self._direct = direct_write
        self._queue: deque[bytes] = deque()
        self._queue_limit = queue_limit
        self._in_flight = False
        self._wakeup: asyncio.Future[None] | None = None
        self.close_code: int | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._closer: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self._id

    @property
    def person_id(self) -> str:
        return self._person_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def send(self, frame: bytes) -> None:
        if self.close_code is not None:
            return
        if (not self._queue and not self._in_flight and self._direct is not None
                and self._direct(binary_frame(frame))):
            return
        if len(self._queue) >= self._queue_limit:
            log.warning("collab connection %s stopped reading: cut", self._id)
            self.close(SLOW_CONSUMER, "too slow: reconnect")
            return
        self._queue.append(frame)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _write_loop(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while self.close_code is None:
                if not queue:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    continue
                while queue and self.close_code is None:
                    self._in_flight = True
                    await self._send({"type": "websocket.send", "bytes": queue.popleft()})
                    self._in_flight = False
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-write: the reader sees the disconnect
            log.debug("collab connection %s: write failed", self._id, exc_info=True)
            self.close_code = self.close_code or GOING_AWAY

    def close(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` (idempotent, never blocks)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._queue.clear()
        self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:
            log.debug("collab connection %s: close failed (gone)", self._id, exc_info=True)

    async def finish(self) -> None:
        """Stop the writer after the client left (called once by the endpoint)."""
        if self.close_code is None:
            self.close_code = GOING_AWAY
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
