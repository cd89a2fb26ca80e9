"""A person's traces outside the database, removed at erasure.

On Redis (a multi-node deployment): their presence entries
(``preau:presence:<room>`` sorted sets, members ``<person>|<conn>``, see
preau/server/presence/redis.py) and their rate-limit buckets
(``preau:ratelimit:<name>:<person>``, preau/server/ratelimit/redis.py). Erasure
closes the person's sockets first, which removes most presence entries; this
removes whatever a crashed node left behind.

With ``memory://`` there is nothing to remove here: in-process presence
entries go with the sockets, and in-memory rate buckets are released once
full again (the RateLimiter contract), within seconds.
"""

from __future__ import annotations

from typing import Protocol


class Traces(Protocol):
    async def forget(self, person_id: str) -> int:
        """Remove the person's entries and keys; idempotent; return how many went."""

    async def close(self) -> None: ...


class RedisTraces:
    def __init__(
        self, url: str, *, presence_prefix: str = "preau:presence:",
        ratelimit_prefix: str = "preau:ratelimit:",
    ) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url)
        self._presence = presence_prefix
        self._ratelimit = ratelimit_prefix

    async def forget(self, person_id: str) -> int:
        if any(c in person_id for c in "*?[]\\|"):
            raise ValueError("a person id has no glob characters")
        removed = 0
        async for key in self._redis.scan_iter(match=f"{self._ratelimit}*:{person_id}"):
            removed += int(await self._redis.delete(key))
        async for key in self._redis.scan_iter(match=f"{self._presence}*"):
            entries = [
                entry async for entry, _ in self._redis.zscan_iter(key, match=f"{person_id}|*")
            ]
            if entries:
                removed += int(await self._redis.zrem(key, *entries))
        return removed

    async def close(self) -> None:
        await self._redis.aclose()


def open_traces(broker_url: str) -> Traces | None:
    """The traces to clear for this deployment's broker URL (None: in-process only)."""
    scheme = broker_url.split(":", 1)[0].lower()
    if scheme in ("redis", "rediss"):
        return RedisTraces(broker_url)
    return None
