"""Per-key token buckets in this process: the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable

from preau.server.ratelimit.buckets import KeyedBuckets


class MemoryRateLimiter:
    """The RateLimiter Protocol over :class:`~preau.server.ratelimit.buckets.KeyedBuckets`.

    Per process: with several nodes each applies it, which bounds the total
    at nodes × rate (use the Redis limiter for one global bucket).
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets = KeyedBuckets(rate, burst, clock)

    async def take(self, key: str) -> float | None:
        return self._buckets.take(key)

    async def close(self) -> None:
        """Nothing to release."""
