"""A socket's outbound side, shared by ``/ws`` and ``/collab`` connections.

``push`` never blocks: when nothing is queued or being written and the
socket is writable, the frame is written at once through uvicorn's
``preau.write`` extension (preau/server/gateway/uvicorn_protocol.py); otherwise it
goes to a bounded queue that one writer task drains. A client that stops
reading fills the queue and is cut (slow consumer) rather than allowed to grow
the server's memory: it reconnects and resumes (``since`` on ``/ws``, a state
vector on ``/collab``), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from starlette.types import Message, Send

from preau.server import metrics
from preau.server.live.frames import binary_frame, text_frame

log = logging.getLogger(__name__)

GOING_AWAY = 1001
SLOW_CONSUMER = 4008


class Outbox:
    """Frames to one client, in order. ``binary``: payloads are sent as
    binary frames (``/collab``), else as text (``/ws``'s JSON, UTF-8)."""

    def __init__(
        self,
        send: Send,
        *,
        label: str,
        queue_limit: int,
        binary: bool,
        can_abort: bool = False,
        direct_write: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._send = send
        self._label = label
        self._binary = binary
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
        """Send ``payload`` (``wire``: its WebSocket frame, when already built).

        Order is kept: the direct write is taken only when nothing is queued or
        in flight. Overflow of the queue cuts the client.
        """
        if self.close_code is not None:
            return
        if (
            not self._queue
            and not self._in_flight
            and self._direct is not None
            and self._direct(
                wire if wire is not None
                else binary_frame(payload) if self._binary else text_frame(payload)
            )
        ):
            return
        if len(self._queue) >= self._queue_limit:
            log.warning("%s stopped reading: cut after %d queued frames",
                        self._label, len(self._queue))
            endpoint = "collab" if self._binary else "ws"
            metrics.SLOW_CONSUMER_CUTS.labels(endpoint).inc()
            metrics.SEND_QUEUE_DROPPED.labels(endpoint).inc(len(self._queue) + 1)
            self.close(SLOW_CONSUMER, "too slow: reconnect and resume")
            return
        self._queue.append(payload)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def push_all(self, payloads: list[bytes]) -> bool:
        """Write ``payloads`` in order with one ``transport.write`` (a resume's
        reply and the messages it missed: one system call instead of one per
        frame), when the direct path is free; False, and nothing sent, when
        it is not (the caller then pushes them one by one, paced)."""
        if self.close_code is not None:
            return True
        if self._queue or self._in_flight or self._direct is None:
            return False
        framing = binary_frame if self._binary else text_frame
        return self._direct(b"".join([framing(p) for p in payloads]))

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

    def _message(self, payload: bytes) -> Message:
        if self._binary:
            return {"type": "websocket.send", "bytes": payload}
        return {"type": "websocket.send", "text": payload.decode()}

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
                    await send(self._message(queue.popleft()))
                    self._in_flight = False
                    drain = self._drain
                    if drain is not None and len(queue) < self._queue_limit // 2:
                        self._drain = None
                        if not drain.done():
                            drain.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-write: the reader sees the disconnect
            log.debug("%s: write failed", self._label, exc_info=True)
            self.close_code = self.close_code or GOING_AWAY

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
            if code == SLOW_CONSUMER and self._can_abort:
                # The socket is not writable (the client stopped reading): a close
                # frame would wait behind the unread data forever. Drop the TCP
                # connection instead; the client sees an abnormal close and resumes.
                await self._send({"type": "preau.abort"})
            else:
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:
            log.debug("%s: close failed (already gone)", self._label, exc_info=True)

    async def finish(self) -> None:
        """Wait for the writer after the client left (called once by the endpoint)."""
        if self.close_code is None:
            self.close_code = GOING_AWAY
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
