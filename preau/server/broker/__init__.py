"""The Broker: live events between the nodes of a deployment.

One channel per room, document or call, so a node receives only what its own
sockets need (python-socketio's single channel makes every node decode every
message). The in-memory implementation is the embedded default and the test
fake; the Redis implementation (redis.py) carries a deployment of several
nodes. Both pass the same contract suite (tests/server/broker/test_contract.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol


class Subscription(Protocol):
    """Messages published on one channel after ``subscribe`` returned.

    Iterate it with ``async for``; ``close()`` (or leaving ``async with``) ends
    the iteration and frees the channel. Cancelling the iterating task is safe.
    """

    channel: str

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def close(self) -> None: ...


class Broker(Protocol):
    """Publish/subscribe by channel.

    Guarantees:
    - **at most once**: a message may be lost (a subscriber that disconnects,
      a broker restart); nothing acknowledged to a client relies on the broker
      alone, the store is the source of truth and clients resume from it.
      After a connection fault a Redis broker may re-send a batch whose
      replies it never saw, so receivers tolerate a rare duplicate (the hub
      drops repeated sequence numbers; control messages are idempotent);
    - **ordered per channel** for one publisher: two messages published by the
      same node on the same channel arrive in publish order;
    - a subscriber receives only messages published after ``subscribe``
      returned;
    - **no echo**: a node never receives what it published itself (it delivers
      to its own sockets directly); ``node_id`` tags every message.
    - a slow subscriber never blocks publishers: its bounded buffer overflows,
      the overflow is counted in ``dropped`` and the message is lost.
    """

    node_id: str

    async def publish(self, channel: str, payload: bytes) -> None: ...

    async def subscribe(self, channel: str) -> Subscription: ...

    async def close(self) -> None: ...

    def on_resync(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Call ``listener()`` after the broker lost messages it cannot replay.

        A Redis broker calls it once its connection is back and its channels are
        subscribed again: whatever was published meanwhile is gone, so the hub
        re-reads every room it serves from the store. The in-memory broker never
        loses its connection and never calls it.
        """

    def while_resyncing(self, begin: Callable[[], None], end: Callable[[], None]) -> None:
        """Call ``begin()`` before a lost connection's channels are subscribed
        again (before any message of the new connection is delivered) and
        ``end()`` once every ``on_resync`` listener has returned, or the new
        connection was lost before it was ready (every ``begin`` gets its
        ``end``). Between the two, what arrives may rest on a directory the
        outage kept stale: the host holds its relays. The in-memory broker
        never calls either.
        """

    def stats(self) -> dict[str, int]:
        """Counters for /api/health and the benchmarks (names vary by implementation)."""

    async def healthy(self) -> bool:
        """True while the broker can deliver (used by /api/health)."""
