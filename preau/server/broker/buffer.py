"""The part every Subscription shares: a bounded buffer read by ``async for``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Self

_CLOSED = object()


class BufferedSubscription:
    """Messages land in a bounded queue (``offer``); overflow calls ``on_drop``
    instead of blocking the deliverer. ``end()`` finishes every iteration, even
    one over a full buffer; implementations add how ``close()`` frees the channel.
    """

    def __init__(self, channel: str, maxsize: int, on_drop: Callable[[], None]) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._on_drop = on_drop
        self._closed = False

    def offer(self, payload: bytes) -> None:
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._on_drop()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                # Leave the mark for any later iteration: it must end too, not hang.
                self._queue.put_nowait(_CLOSED)
                return
            assert isinstance(item, bytes)
            yield item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def end(self) -> bool:
        """Stop receiving and wake the iterator; False if it had ended already."""
        if self._closed:
            return False
        self._closed = True
        # Wake the iterator even if the buffer is full: drop one pending message.
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)
        return True

    async def close(self) -> None:
        self.end()
