"""Login attempts in Redis: one state per account and per address for the deployment.

Keys (``preau:login:`` prefix):

- ``acct:<account>``: a hash ``c`` (consecutive), ``f`` (failures this hour),
  ``h`` (hour start), ``l`` (last attempt), ``n`` (next allowed), expiring
  ``window_ms`` after the last attempt;
- ``addr:<address>``: the address's bucket, ``t`` (tokens) and ``a`` (when
  counted), expiring when full again;
- ``vouch:<address>``: a sorted set of the accounts that logged in from the
  address, by their last login, trimmed to the window: each adds one to the
  bucket's size;
- ``school:<school>``: a sorted set of person ids by their last failure, the
  admins' index, trimmed to the window.

One Lua script checks and counts both states at once (the algorithm is
:class:`~preau.server.ratelimit.attempts.MemoryLoginAttempts`'s, line for line), so
concurrent nodes cannot both pass a delay. Times are the caller's (``now_ms``).

If Redis cannot be reached, attempts are counted per node (a
:class:`MemoryLoginAttempts`) rather than refused or let through: the
throttle then holds per node, and for the deployment again once Redis answers.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from preau.server.ratelimit.attempts import (
    MAX_VOUCHED,
    AccountState,
    AttemptPolicy,
    MemoryLoginAttempts,
    Refusal,
)
from preau.server.redis_client import short_command_client

log = logging.getLogger(__name__)

# The address's bucket size: per_hour, plus the accounts that logged in from
# it in the window (KEYS[3], trimmed here), at most MAX_VOUCHED.
_SIZE = """
local function size(vouch, now, window, per_hour, most)
  redis.call('ZREMRANGEBYSCORE', vouch, '-inf', now - window)
  return per_hour + math.min(redis.call('ZCARD', vouch), most)
end
"""

# KEYS: account, address, vouchers. ARGV: now, free, first, max, window (ms),
# per_hour, MAX_VOUCHED. Returns false when counted, else {scope, wait in
# seconds as a string}.
_BEGIN = _SIZE + """
local now, free, first = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local maxd, window, per_hour = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cap = size(KEYS[3], now, window, per_hour, tonumber(ARGV[7]))
local a = redis.call('HMGET', KEYS[1], 'c', 'f', 'h', 'l', 'n')
local c, f, h, l, n = tonumber(a[1]), tonumber(a[2]), tonumber(a[3]), tonumber(a[4]), tonumber(a[5])
if c == nil or f == nil or h == nil or l == nil or n == nil or now - l >= window then
  c, f, h, n = 0, 0, now, 0
elseif now - h >= window then
  f, h = 0, now
end
if n > now then
  return {'account', tostring((n - now) / 1000)}
end
local rate = per_hour / 3600000
local b = redis.call('HMGET', KEYS[2], 't', 'a')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil or at == nil then
  tokens = cap
else
  tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
end
if tokens < 1 then
  return {'address', tostring((1 - tokens) / rate / 1000)}
end
tokens = tokens - 1
redis.call('HSET', KEYS[2], 't', tostring(tokens), 'a', tostring(now))
redis.call('PEXPIRE', KEYS[2], math.max(1, math.ceil((cap - tokens) / rate)))
local attempt = math.max(c, f) + 1
local delay = 0
if attempt >= free then
  delay = math.min(maxd, first * 2 ^ math.min(attempt - free, 64))
end
redis.call('HSET', KEYS[1], 'c', c + 1, 'f', f + 1, 'h', string.format('%d', h),
           'l', string.format('%d', now), 'n', string.format('%d', now + math.floor(delay)))
redis.call('PEXPIRE', KEYS[1], window)
return false
"""

# One token back to the address's bucket (KEYS[2]), forgotten once full.
_GIVE = """
local function give(bucket, now, per_hour, cap)
  local b = redis.call('HMGET', bucket, 't', 'a')
  local tokens, at = tonumber(b[1]), tonumber(b[2])
  if tokens ~= nil and at ~= nil then
    local rate = per_hour / 3600000
    tokens = math.min(cap, tokens + math.max(0, now - at) * rate + 1)
    if tokens >= cap then
      redis.call('DEL', bucket)
    else
      redis.call('HSET', bucket, 't', tostring(tokens), 'a', tostring(now))
      redis.call('PEXPIRE', bucket, math.max(1, math.ceil((cap - tokens) / rate)))
    end
  end
end
"""

# KEYS: account, address, vouchers. ARGV: now, window, per_hour, MAX_VOUCHED.
_SUCCEEDED = _SIZE + _GIVE + """
local now, window, per_hour = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local a = redis.call('HMGET', KEYS[1], 'f', 'h', 'l')
local f, h, l = tonumber(a[1]), tonumber(a[2]), tonumber(a[3])
if f ~= nil and h ~= nil and l ~= nil and now - l < window then
  if now - h >= window then f = 0 end
  f = math.max(0, f - 1)
  if f == 0 then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 'c', 0, 'f', f, 'n', 0)
  end
end
give(KEYS[2], now, per_hour, size(KEYS[3], now, window, per_hour, tonumber(ARGV[4])))
return false
"""

# KEYS: address, vouchers. ARGV: now, window, per_hour, MAX_VOUCHED, account.
_VOUCH = _SIZE + _GIVE + """
local now, window, per_hour = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local most = tonumber(ARGV[4])
size(KEYS[2], now, window, per_hour, most)
local known = redis.call('ZSCORE', KEYS[2], ARGV[5])
if known == false and redis.call('ZCARD', KEYS[2]) >= most then
  return false
end
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[2], window)
if known == false then
  give(KEYS[1], now, per_hour, size(KEYS[2], now, window, per_hour, most))
end
return false
"""


class RedisLoginAttempts:
    """The LoginAttempts Protocol, global across the nodes sharing one Redis."""

    def __init__(self, url: str, policy: AttemptPolicy, *, prefix: str = "preau:login:") -> None:
        self.policy = policy
        # Short timeouts, one quick retry (preau/server/redis_client.py): a login waits on it.
        self._redis = short_command_client(
            url, pool_wait_s=1.0, connect_timeout_s=1.0, socket_timeout_s=1.0
        )
        self._prefix = prefix
        self._begin = self._redis.register_script(_BEGIN)
        self._succeeded = self._redis.register_script(_SUCCEEDED)
        self._vouch = self._redis.register_script(_VOUCH)
        self._fallback = MemoryLoginAttempts(policy)
        self._degraded = False

    def _down(self, exc: RedisError) -> None:
        if not self._degraded:
            log.warning("login throttle per node while Redis is unreachable: %s", exc)
            self._degraded = True

    def _up(self) -> None:
        if self._degraded:
            log.info("login throttle global again: Redis answers")
            self._degraded = False

    def _keys(self, account: str, address: str) -> list[str]:
        return [f"{self._prefix}acct:{account}", f"{self._prefix}addr:{address}",
                f"{self._prefix}vouch:{address}"]

    async def begin(
        self, account: str, address: str, per_hour: int, now_ms: int
    ) -> Refusal | None:
        p = self.policy
        try:
            found: Any = await self._begin(
                keys=self._keys(account, address),
                args=[now_ms, p.free, p.first_ms, p.max_ms, p.window_ms, per_hour,
                      MAX_VOUCHED],
            )
        except RedisError as exc:
            self._down(exc)
            return await self._fallback.begin(account, address, per_hour, now_ms)
        self._up()
        if not found:
            return None
        scope = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
        return Refusal("address" if scope == "address" else "account", float(found[1]))

    async def succeeded(self, account: str, address: str, per_hour: int, now_ms: int) -> None:
        try:
            await self._succeeded(
                keys=self._keys(account, address),
                args=[now_ms, self.policy.window_ms, per_hour, MAX_VOUCHED],
            )
        except RedisError as exc:
            self._down(exc)
            await self._fallback.succeeded(account, address, per_hour, now_ms)
            return
        self._up()

    async def vouch(self, address: str, account: str, per_hour: int, now_ms: int) -> None:
        try:
            await self._vouch(
                keys=self._keys(account, address)[1:],
                args=[now_ms, self.policy.window_ms, per_hour, MAX_VOUCHED, account],
            )
        except RedisError as exc:
            self._down(exc)
            await self._fallback.vouch(address, account, per_hour, now_ms)
            return
        self._up()

    async def watch(self, school_id: str, person_id: str, now_ms: int) -> None:
        key = f"{self._prefix}school:{school_id}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {person_id: now_ms})
                pipe.zremrangebyscore(key, "-inf", now_ms - self.policy.window_ms)
                pipe.pexpire(key, self.policy.window_ms)
                await pipe.execute()
        except RedisError as exc:
            self._down(exc)
            await self._fallback.watch(school_id, person_id, now_ms)

    async def watched(self, school_id: str, now_ms: int, limit: int) -> list[str]:
        key = f"{self._prefix}school:{school_id}"
        try:
            found = await self._redis.zrevrangebyscore(
                key, "+inf", now_ms - self.policy.window_ms + 1, start=0, num=limit
            )
        except RedisError as exc:
            self._down(exc)
            return await self._fallback.watched(school_id, now_ms, limit)
        return [p.decode() if isinstance(p, bytes) else str(p) for p in found]

    async def state(self, account: str, now_ms: int) -> AccountState | None:
        try:
            raw = await self._redis.hmget(f"{self._prefix}acct:{account}", "c", "f", "h", "l", "n")
        except RedisError as exc:
            self._down(exc)
            return await self._fallback.state(account, now_ms)
        values = [v for v in raw if v is not None]
        if len(values) != 5:
            return None
        c, f, h, last, n = (int(float(v)) for v in values)
        return AccountState(c, f, h, last, n).current(now_ms, self.policy.window_ms)

    async def clear(self, account: str, school_id: str | None, person_id: str | None) -> None:
        # The fallback too: what a node counted while Redis was away.
        await self._fallback.clear(account, school_id, person_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"{self._prefix}acct:{account}")
            if school_id is not None and person_id is not None:
                pipe.zrem(f"{self._prefix}school:{school_id}", person_id)
            await pipe.execute()  # a RedisError here reaches the admin: not cleared

    async def clear_address(self, address: str) -> None:
        await self._fallback.clear_address(address)
        await self._redis.delete(f"{self._prefix}addr:{address}")

    async def close(self) -> None:
        await self._redis.aclose()
