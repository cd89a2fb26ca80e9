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

from preau.server.ratelimit.redis import TAKE_TOKEN_LUA, RedisRateLimiter
from preau.server.redis_client import short_command_client
from preau.server.redis_pipeline import PipelinedRedis

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


# A post's two shared checks in one round trip: the sender's token bucket
# (KEYS[1], ARGV[1..2]: preau/server/ratelimit/redis.py), and only if a token
# was taken, the post in their spread window (KEYS[2]; ARGV[3..5]: room, now
# (ms), window (ms)). Returns the seconds to wait (a string) when no token is
# left, else the number of rooms in the window (an integer).
_TAKE_THEN_ADD = TAKE_TOKEN_LUA + """
local now_ms, window = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], now_ms, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms - window)
redis.call('PEXPIRE', KEYS[2], window)
return redis.call('ZCARD', KEYS[2])
"""


class RedisSpread:
    """One sorted set per person for the whole deployment."""

    def __init__(self, url: str, *, prefix: str = "preau:spread:") -> None:
        self.url = url
        self._redis = short_command_client(
            url, pool_wait_s=1.0, connect_timeout_s=1.0, socket_timeout_s=1.0
        )
        self._prefix = prefix
        self._add = self._redis.register_script(_ADD)
        # The check in the path of every post: one pipelined connection
        # (preau/server/redis_pipeline.py), not a pooled command each.
        self._pipe = PipelinedRedis(url)
        self._take_then_add = self._pipe.script(_TAKE_THEN_ADD)
        self._fallback = MemorySpread()
        self._degraded = False

    async def take_then_add(
        self, limiter: RedisRateLimiter, person_id: str, room_id: str, now_ms: int,
        window_ms: int,
    ) -> tuple[float | None, int]:
        """``limiter.take(person_id)``, then if a token was taken ``add``: as
        the two calls, in one round trip (``limiter`` on the same Redis).
        ``(wait, 0)`` when no token was left (nothing added), else
        ``(None, rooms in the window)``. Without Redis, each falls back to
        this node as it does alone."""
        try:
            reply = await self._take_then_add(
                [limiter.bucket_key(person_id), self._prefix + person_id],
                [*limiter.script_args(), room_id, now_ms, window_ms])
        except RedisError as exc:
            wait = await limiter.take_locally(person_id, exc)
            if wait is not None:
                return wait, 0
            return None, await self.add_locally(person_id, room_id, now_ms, window_ms, exc)
        limiter.answered()
        if not isinstance(reply, int):  # the wait, as a string
            return float(reply), 0
        # This node's count follows too: it is the fallback's starting point.
        await self._fallback.add(person_id, room_id, now_ms, window_ms)
        self._answered()
        return None, reply

    async def add_locally(
        self, person_id: str, room_id: str, now_ms: int, window_ms: int, exc: RedisError
    ) -> int:
        """Redis failed (``exc``): ``add`` on this node's count."""
        if not self._degraded:
            log.warning("spread counts per node while Redis is unreachable: %s", exc)
            self._degraded = True
        return await self._fallback.add(person_id, room_id, now_ms, window_ms)

    def _answered(self) -> None:
        if self._degraded:
            log.info("spread counts shared again (Redis back)")
            self._degraded = False

    async def add(self, person_id: str, room_id: str, now_ms: int, window_ms: int) -> int:
        try:
            count = int(await self._add(keys=[self._prefix + person_id],
                                        args=[room_id, now_ms, window_ms]))
        except RedisError as exc:
            return await self.add_locally(person_id, room_id, now_ms, window_ms, exc)
        await self._fallback.add(person_id, room_id, now_ms, window_ms)
        self._answered()
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
        await self._pipe.close()
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
