"""Per-key token buckets in Redis: one bucket per key for the whole deployment.

Each bucket is a hash ``preau:ratelimit:<name>:<key>`` holding its tokens and
the time they were counted. One Lua script refills and takes, atomically, so
concurrent nodes share the bucket exactly; time is Redis's own clock (``TIME``),
so nodes' clocks do not matter. The key expires when the bucket would be full
again: a missing key *is* a full bucket, so nothing is lost and idle accounts
cost nothing.

If Redis cannot be reached, the limiter falls back to per-node buckets (as
:class:`~preau.server.ratelimit.memory.MemoryRateLimiter`) rather than refusing
everyone or letting everything through: the limit then holds per node, and
the global one again once Redis answers.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from preau.server.ratelimit.memory import MemoryRateLimiter
from preau.server.redis_client import short_command_client

log = logging.getLogger(__name__)

# KEYS[1]: bucket. ARGV[1], ARGV[2]: rate (tokens/s), burst. Returns the seconds
# to wait if no token is left (a string: Lua numbers would be truncated to
# integers); else takes one and goes on. Shared with the spread window's
# one-round-trip script (preau/server/ratelimit/spread.py, ``_TAKE_THEN_ADD``).
TAKE_TOKEN_LUA = """
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: TIME then writes
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
if tokens < 1 then
  return tostring((1 - tokens) / rate)
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
"""
# Returns nil if a token was taken, else the seconds to wait.
_TAKE = TAKE_TOKEN_LUA + "return false\n"


class RedisRateLimiter:
    """The RateLimiter Protocol, global across the nodes sharing one Redis.

    ``name`` separates limiters (sends, logins…) that use the same keys.
    """

    def __init__(
        self,
        url: str,
        rate: float,
        burst: int,
        *,
        name: str = "account",
        prefix: str = "preau:ratelimit:",
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.url = url
        self.rate = rate
        self.burst = burst
        # Short timeouts and one quick retry (preau/server/redis_client.py): a
        # take() sits in the path of every message sent.
        self._redis = short_command_client(
            url, pool_wait_s=1.0, connect_timeout_s=1.0, socket_timeout_s=1.0
        )
        self._prefix = f"{prefix}{name}:"
        self._take = self._redis.register_script(_TAKE)
        self._fallback = MemoryRateLimiter(rate, burst)
        self._degraded = False

    async def take(self, key: str) -> float | None:
        try:
            wait = await self._take(keys=[self.bucket_key(key)], args=self.script_args())
        except RedisError as exc:
            return await self.take_locally(key, exc)
        self.answered()
        return None if wait is None else float(wait)

    # For a script that takes a token then does more in the same round trip
    # (``TAKE_TOKEN_LUA`` first: KEYS[1] the bucket, ARGV[1..2] these).
    def bucket_key(self, key: str) -> str:
        """The Redis key of ``key``'s bucket."""
        return self._prefix + key

    def script_args(self) -> list[str | int]:
        return [repr(self.rate), self.burst]

    async def take_locally(self, key: str, exc: RedisError) -> float | None:
        """Redis failed (``exc``): ``take`` from this node's buckets."""
        if not self._degraded:
            log.warning("rate limits per node while Redis is unreachable: %s", exc)
            self._degraded = True
        return await self._fallback.take(key)

    def answered(self) -> None:
        """Redis answered a take: the limit is global again."""
        if self._degraded:
            log.info("rate limits global again: Redis answers")
            self._degraded = False

    async def close(self) -> None:
        await self._redis.aclose()
