"""How many different rooms a person posted into within a sliding window,
shared by every node: the measure of the hijacked-account defence
(preau/server/moderation/bursts.py, docs/moderation.md "Paused accounts").

A true window, not a refilling bucket: "more than N rooms within W" means
exactly that, whatever the spacing of the posts. Per person, the rooms and the
time of each one's latest post; entries older than the window are dropped on
every call. On Redis, one sorted set per person (room → time, in the calling
node's milliseconds: nodes' clocks agree to well under a window of minutes),
updated by one Lua script so concurrent nodes count exactly; the key expires
with the window. If Redis cannot be reached the count falls back to this node
(the limit then holds per node until Redis answers), never to "no limit".
"""

from __future__ import annotations

import logging
from typing import Protocol

from redis.exceptions import RedisError

from preau.server.redis_client import short_command_client

log = logging.getLogger(__name__)


class SpreadCounter(Protocol):
    async def add(self, person_id: str, room_id: str, now_ms: int, window_ms: int) -> int:
        """Record a post by ``person_id`` into ``room_id`` at ``now_ms``; the
        number of different rooms they posted into within the window, this one
        included."""

    async def rooms(self, person_id: str, now_ms: int, window_ms: int) -> list[str]:
        """The rooms they posted into within the window, latest first."""

    async def forget(self, person_id: str) -> None:
        """Drop the person's rooms: their count starts again."""

    async def close(self) -> None: ...


class MemorySpread:
    """Per process (the embedded default, and Redis's fallback)."""

    def __init__(self, max_people: int = 200_000) -> None:
        self._rooms: dict[str, dict[str, int]] = {}
        self._max_people = max_people

    async def add(self, person_id: str, room_id: str, now_ms: int, window_ms: int) -> int:
        rooms = self._rooms.pop(person_id, {})  # re-inserted: most recent people last
        rooms[room_id] = now_ms
        live = {r: t for r, t in rooms.items() if now_ms - t < window_ms}
        self._rooms[person_id] = live
        while len(self._rooms) > self._max_people:
            del self._rooms[next(iter(self._rooms))]
        return len(live)

    async def rooms(self, person_id: str, now_ms: int, window_ms: int) -> list[str]:
        rooms = self._rooms.get(person_id, {})
        live = [(t, r) for r, t in rooms.items() if now_ms - t < window_ms]
        return [r for _, r in sorted(live, reverse=True)]

    async def forget(self, person_id: str) -> None:
        self._rooms.pop(person_id, None)

    async def close(self) -> None:
        self._rooms.clear()


# KEYS: the person's set. ARGV: room, now (ms), window (ms).
_ADD = """
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""


class RedisSpread:
    """One sorted set per person for the whole deployment."""

    def __init__(self, url: str, *, prefix: str = "preau:spread:") -> None:
        self._redis = short_command_client(
            url, pool_wait_s=1.0, connect_timeout_s=1.0, socket_timeout_s=1.0
        )
        self._prefix = prefix
        self._add = self._redis.register_script(_ADD)
        self._fallback = MemorySpread()
        self._degraded = False

    async def add(self, person_id: str, room_id: str, now_ms: int, window_ms: int) -> int:
        local = await self._fallback.add(person_id, room_id, now_ms, window_ms)
        try:
            count = int(await self._add(keys=[self._prefix + person_id],
                                        args=[room_id, now_ms, window_ms]))
        except RedisError as exc:
            if not self._degraded:
                log.warning("spread counts per node while Redis is unreachable: %s", exc)
                self._degraded = True
            return local
        if self._degraded:
            log.info("spread counts shared again (Redis back)")
            self._degraded = False
        return count

    async def rooms(self, person_id: str, now_ms: int, window_ms: int) -> list[str]:
        try:
            found = await self._redis.zrevrangebyscore(
                self._prefix + person_id, "+inf", f"({now_ms - window_ms}")
        except RedisError:
            return await self._fallback.rooms(person_id, now_ms, window_ms)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in found]

    async def forget(self, person_id: str) -> None:
        await self._fallback.forget(person_id)
        try:
            await self._redis.delete(self._prefix + person_id)
        except RedisError as exc:
            log.warning("spread count of a resumed account not cleared in Redis: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._fallback.close()


def open_spread(url: str) -> SpreadCounter:
    """``memory://``: per process; ``redis://…``: shared by every node."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemorySpread()
    if scheme in ("redis", "rediss"):
        return RedisSpread(url)
    raise ValueError(f"unknown spread URL scheme {scheme!r}: expected memory:// or redis://")
