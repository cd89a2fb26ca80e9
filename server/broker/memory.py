"""In-process broker: the embedded default, and the reference for the contract suite.

Several :class:`MemoryBroker` objects may share one :class:`MemoryBus` to play
several nodes in one process (tests do this); each then ignores its own echoes
exactly as a Redis-backed node does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

_CLOSED = object()


class MemoryBus:
    """The shared medium: channel → live subscriptions of every node on it."""

    def __init__(self) -> None:
        self.channels: defaultdict[str, set[MemorySubscription]] = defaultdict(set)


class MemorySubscription:
    def __init__(self, broker: MemoryBroker, channel: str, maxsize: int) -> None:
        self.channel = channel
        self._broker = broker
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._closed = False

    def _offer(self, payload: bytes) -> None:
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._broker.dropped += 1

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                # Leave the mark for any later iteration: it must end too, not hang.
                self._queue.put_nowait(_CLOSED)
                return
            assert isinstance(item, bytes)
            yield item

    async def __aenter__(self) -> MemorySubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        subs = self._broker.bus.channels.get(self.channel)
        if subs is not None:
            subs.discard(self)
            if not subs:
                del self._broker.bus.channels[self.channel]
        # Wake the iterator even if the buffer is full: drop one pending message.
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)


class MemoryBroker:
    """Delivers synchronously into each subscriber's bounded buffer."""

    def __init__(
        self, node_id: str, bus: MemoryBus | None = None, buffer_size: int = 10_000
    ) -> None:
        self.node_id = node_id
        self.bus = bus if bus is not None else MemoryBus()
        self.buffer_size = buffer_size
        self.dropped = 0
        self._mine: set[MemorySubscription] = set()

    async def publish(self, channel: str, payload: bytes) -> None:
        for sub in tuple(self.bus.channels.get(channel, ())):
            if sub._broker is not self:  # no echo to the publishing node
                sub._offer(payload)

    async def subscribe(self, channel: str) -> MemorySubscription:
        sub = MemorySubscription(self, channel, self.buffer_size)
        self.bus.channels[channel].add(sub)
        self._mine.add(sub)
        return sub

    async def close(self) -> None:
        for sub in tuple(self._mine):
            await sub.close()
        self._mine.clear()

    def on_resync(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Never called: an in-process bus cannot lose its connection."""

    def stats(self) -> dict[str, int]:
        return {"dropped": self.dropped, "channels": len(self._mine)}

    async def healthy(self) -> bool:
        return True
