"""One client's socket: its identity, its subscriptions and its bounded send queue.

Producers (replies, room fan-out) hand frames over without awaiting. When the
socket is writable and nothing is waiting, the frame is written at once
through the ``preau.write`` extension (gateway/uvicorn_protocol.py): no task
switch per delivered message, which is most of the cost of a fan-out in
asyncio. Otherwise it is queued and one writer task drains the queue through
plain ASGI sends, in order. The queue is bounded: a client that stops reading
fills it and is cut (close code 4008) rather than allowed to grow the server's
memory; it resumes later with ``since``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from enum import IntEnum

from starlette.types import Send

from server.auth.service import Session
from server.directory.model import Member
from server.gateway.frames import text_frame
from server.gateway.ratelimit import TokenBucket

log = logging.getLogger(__name__)


_ids = itertools.count(1)


class CloseCode(IntEnum):
    """WebSocket close codes Préau uses (docs/protocol.md)."""

    GOING_AWAY = 1001  # server shutting down: reconnect elsewhere
    POLICY = 1008  # abusive client (floods after being told to slow down)
    SESSION_ENDED = 4001  # logout, password change, session expired: log in again
    ACCOUNT_CLOSED = 4003
    SLOW_CONSUMER = 4008  # stopped reading: reconnect and resume with since


class RoomState:
    """Where a connection is in a room's stream.

    ``last`` is the highest sequence number sent to this client. While the
    client catches up from the store (``live`` false), live frames wait in
    ``backlog`` and are released in order afterwards.
    """

    __slots__ = ("backlog", "last", "live")

    def __init__(self, last: int) -> None:
        self.last = last
        self.live = False
        self.backlog: list[tuple[int, bytes, bytes]] = []  # (seq, payload, wire frame)


class Connection:
    def __init__(
        self,
        send: Send,
        session: Session,
        member: Member,
        *,
        queue_limit: int,
        ops_bucket: TokenBucket,
        can_abort: bool,
        direct_write: Callable[[bytes], bool] | None = None,
        node_id: str = "local",
    ) -> None:
        # Unique in the deployment: presence entries of all nodes share Redis.
        self.id = f"{node_id}.{next(_ids)}"
        self.session = session
        self.member = member
        self.rooms: dict[str, RoomState] = {}
        self.ops_bucket = ops_bucket
        self.refusals = 0  # rate-limit refusals in a row: past a bound, the client is abusive
        self._send = send
        self._queue: deque[bytes] = deque()
        self._direct = direct_write
        self._in_flight = False  # the writer holds a frame it has not written yet
        self._queue_limit = self.queue_limit = queue_limit
        self._wakeup: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._can_abort = can_abort
        self.close_code: int | None = None
        self._closer: asyncio.Task[None] | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def push(self, payload: bytes, wire: bytes | None = None) -> None:
        """Send a JSON ``payload`` (``wire``: its frame, when already built); never blocks.

        Order is kept: the direct write is taken only when nothing is queued or
        in flight. Overflow of the queue cuts the client.
        """
        if self.close_code is not None:
            return
        if (
            not self._queue
            and not self._in_flight
            and self._direct is not None
            and self._direct(wire if wire is not None else text_frame(payload))
        ):
            return
        if len(self._queue) >= self._queue_limit:
            log.warning("connection %s stopped reading: cut after %d queued frames",
                        self.id, len(self._queue))
            self.close(CloseCode.SLOW_CONSUMER, "too slow: reconnect and resume")
            return
        self._queue.append(payload)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def room_to_push(self) -> None:
        """Wait until the queue is at most half full (or the connection closed).

        Producers that can wait (a replay from the store) call this between
        frames, so a large catch-up is paced by the client's reading speed
        instead of overflowing the queue; live fan-out never waits.
        """
        while self.close_code is None and len(self._queue) >= self._queue_limit // 2:
            if self._drain is None or self._drain.done():
                self._drain = asyncio.get_running_loop().create_future()
            drain = self._drain
            try:
                await asyncio.wait_for(asyncio.shield(drain), 1.0)
            except TimeoutError:
                continue  # re-check: the writer may have died with the socket

    async def _write_loop(self) -> None:
        send = self._send
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while self.close_code is None:
                if not queue:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    continue
                # Drain without yielding between frames when the socket is writable.
                while queue and self.close_code is None:
                    self._in_flight = True
                    await send({"type": "websocket.send", "text": queue.popleft().decode()})
                    self._in_flight = False
                    drain = self._drain
                    if drain is not None and len(queue) < self._queue_limit // 2:
                        self._drain = None
                        if not drain.done():
                            drain.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-write: the reader sees the disconnect
            log.debug("connection %s: write failed", self.id, exc_info=True)
            self.close_code = self.close_code or CloseCode.GOING_AWAY

    def close(self, code: int, reason: str = "") -> None:
        """Stop sending and close the socket with ``code`` (idempotent, never blocks)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._queue.clear()
        self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            if code == CloseCode.SLOW_CONSUMER and self._can_abort:
                # The socket is not writable (the client stopped reading): a close
                # frame would wait behind the unread data forever. Drop the TCP
                # connection instead; the client sees an abnormal close and resumes.
                await self._send({"type": "preau.abort"})
            else:
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:
            log.debug("connection %s: close failed (already gone)", self.id, exc_info=True)

    async def finish(self) -> None:
        """Wait for the writer after the client left (called once by the endpoint)."""
        if self.close_code is None:
            self.close_code = CloseCode.GOING_AWAY
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass
