"""Rate limits per key (an account), shared by the nodes of a deployment.

A token bucket per key: ``rate`` tokens per second, at most ``burst`` saved
up; each allowed action takes one. The per-connection limits stay in
preau/server/ratelimit/buckets.py (a connection lives on one node); what must hold
for a person whatever node their sockets reach (messages posted per account)
goes through a :class:`RateLimiter` from :func:`preau.server.ratelimit.factory.open_rate_limiter`.
"""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    """Guarantees: at most ``burst`` actions at once per key, then ``rate`` per
    second; a refused attempt takes nothing (waiting the answer is enough);
    keys are independent; memory (or Redis keys) for a key whose bucket is
    full again is released."""

    async def take(self, key: str) -> float | None:
        """Take one token: None if allowed, else the seconds until one is available."""

    async def close(self) -> None: ...
