"""In-process broker: the embedded default, and the reference for the contract suite.

Several :class:`MemoryBroker` objects may share one :class:`MemoryBus` to play
several nodes in one process (tests do this); each then ignores its own echoes
exactly as a Redis-backed node does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

from preau.server import metrics
from preau.server.broker.buffer import BufferedSubscription


class MemoryBus:
    """The shared medium: channel → live subscriptions of every node on it."""

    def __init__(self) -> None:
        self.channels: defaultdict[str, set[MemorySubscription]] = defaultdict(set)


class MemorySubscription(BufferedSubscription):
    def __init__(self, broker: MemoryBroker, channel: str, maxsize: int) -> None:
        super().__init__(channel, maxsize, broker.count_drop)
        self._broker = broker

    async def close(self) -> None:
        if not self.end():
            return
        subs = self._broker.bus.channels.get(self.channel)
        if subs is not None:
            subs.discard(self)
            if not subs:
                del self._broker.bus.channels[self.channel]


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

    def count_drop(self) -> None:
        self.dropped += 1
        metrics.BROKER_DROPPED_IN.inc()

    async def publish(self, channel: str, payload: bytes) -> None:
        metrics.BROKER_PUBLISHED.inc()
        for sub in tuple(self.bus.channels.get(channel, ())):
            if sub._broker is not self:  # no echo to the publishing node
                metrics.BROKER_RECEIVED.inc()
                sub.offer(payload)

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

    def while_resyncing(self, begin: Callable[[], None], end: Callable[[], None]) -> None:
        """Never called, for the same reason."""

    def stats(self) -> dict[str, int]:
        return {"dropped": self.dropped, "channels": len(self._mine)}

    async def healthy(self) -> bool:
        return True
