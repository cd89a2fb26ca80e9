"""Presence shared by the nodes of a deployment, in Redis.

Layout:

- ``preau:presence:<room>``: a sorted set per room; each member of the set is
  one connection, ``<member_id>|<conn_id>``, scored by its expiry (seconds
  since the epoch on the writing node's clock, as a double: exact through
  Lua and back). The key itself expires (Redis TTL, twice the entry TTL after
  its last write) so a deployment that stopped leaves nothing behind.
- ``preau:presence-deadlines``: a sorted set of rooms scored by their earliest
  entry expiry, so ``expire()`` visits only rooms where something expired
  instead of scanning every room.

Every operation is one Lua script, atomic on the server: that is what makes
``expire()`` report each departure once across nodes, and ``leave`` and
``expire`` never report the same one twice. Expiry is decided with the
calling node's clock: nodes' clocks must agree to well under the TTL (NTP
does; the TTL is tens of seconds).

The scripts compute keys from room names (passed as arguments), which a
single Redis accepts and Redis Cluster would not: presence is not sharded.

Costs: ``join`` and ``leave`` read the room's live entries (to tell whether
the member has another connection), so they are O(people in the room), as
``online`` is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis

from preau.server.redis_client import short_command_client

# Entries per refresh script and rooms per expire script: each script runs
# alone on Redis, so keep each one short.
REFRESH_CHUNK = 500
EXPIRE_ROOMS = 500

_HELPERS = """
local function member_of(entry)
  return string.match(entry, '^(.*)|')
end
-- Whether ``member`` has an entry that expires after ``now`` (a string score).
local function is_live(key, member, now)
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    if member_of(entry) == member then return true end
  end
  return false
end
-- Keep the room's earliest expiry in the deadlines index (or drop the room).
local function reindex(index, key, room)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #head == 0 then
    redis.call('ZREM', index, room)
  else
    redis.call('ZADD', index, head[2], room)
  end
end
local function keep(key, ttl_ms)
  if redis.call('PTTL', key) < ttl_ms then redis.call('PEXPIRE', key, ttl_ms) end
end
"""

# KEYS: room key, index. ARGV: room, member, entry, now, expiry, key TTL (ms).
_JOIN = _HELPERS + """
local first = not is_live(KEYS[1], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[3])
reindex(KEYS[2], KEYS[1], ARGV[1])
keep(KEYS[1], tonumber(ARGV[6]))
if first then return 1 end
return 0
"""

# KEYS: room key, index. ARGV: room, member, entry, now.
_LEAVE = _HELPERS + """
if redis.call('ZREM', KEYS[1], ARGV[3]) == 0 then return 0 end
local last = not is_live(KEYS[1], ARGV[2], ARGV[4])
if last then
  -- This call reports the departure: the member's expired entries go with
  -- it, so that expire() does not report it again.
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])) do
    if member_of(entry) == ARGV[2] then redis.call('ZREM', KEYS[1], entry) end
  end
end
reindex(KEYS[2], KEYS[1], ARGV[1])
if last then return 1 end
return 0
"""

# KEYS: index. ARGV: key prefix, now, expiry, key TTL (ms), then (room, member,
# entry) triples. Returns the (room, member) pairs brought back, flattened.
_REFRESH = _HELPERS + """
local back = {}
local touched = {}
local now = tonumber(ARGV[2])
for i = 5, #ARGV, 3 do
  local room, member, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = ARGV[1] .. room
  local score = redis.call('ZSCORE', key, entry)
  if not (score and tonumber(score) > now) and not is_live(key, member, ARGV[2]) then
    table.insert(back, room)
    table.insert(back, member)
  end
  redis.call('ZADD', key, ARGV[3], entry)
  touched[room] = key
end
for room, key in pairs(touched) do
  reindex(KEYS[1], key, room)
  keep(key, tonumber(ARGV[4]))
end
return back
"""

# KEYS: index. ARGV: key prefix, now, room limit. Returns the number of rooms
# visited, then the (room, member) pairs whose last live entry expired.
_EXPIRE = _HELPERS + """
local out = {0}
local rooms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
out[1] = #rooms
for _, room in ipairs(rooms) do
  local key = ARGV[1] .. room
  local dead = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[2])
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
    local live = {}
    for _, entry in ipairs(redis.call('ZRANGE', key, 0, -1)) do live[member_of(entry)] = true end
    for _, entry in ipairs(dead) do
      local member = member_of(entry)
      if not live[member] then
        live[member] = true
        table.insert(out, room)
        table.insert(out, member)
      end
    end
  end
  reindex(KEYS[1], key, room)
end
return out
"""


def redis_client(url: str) -> aioredis.Redis:
    """The presence client: one quick retry, short timeouts (preau/server/redis_client.py)."""
    return short_command_client(url)


class RedisPresence:
    """The Presence Protocol (preau/server/presence/__init__.py) on one Redis.

    ``refresh`` is an upsert: an entry that expired, or that Redis lost in a
    restart, comes back with the next heartbeat of a node that still holds
    the connection, and the call returns the members it brought back online.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = "preau:presence:",
        index: str = "preau:presence-deadlines",
    ) -> None:
        self._redis = redis_client(url)
        self._clock = clock
        self._prefix = prefix
        self._index = index
        self._join = self._redis.register_script(_JOIN)
        self._leave = self._redis.register_script(_LEAVE)
        self._refresh = self._redis.register_script(_REFRESH)
        self._expire = self._redis.register_script(_EXPIRE)

    def _key(self, room: str) -> str:
        return self._prefix + room

    @staticmethod
    def _entry(member_id: str, conn_id: str) -> str:
        if "|" in conn_id:
            raise ValueError(f"a connection id may not contain '|': {conn_id!r}")
        return f"{member_id}|{conn_id}"

    @staticmethod
    def _key_ttl_ms(ttl_s: float) -> int:
        return max(1000, int(ttl_s * 2000))

    async def join(self, room: str, member_id: str, conn_id: str, ttl_s: float) -> bool:
        now = self._clock()
        first = await self._join(
            keys=[self._key(room), self._index],
            args=[room, member_id, self._entry(member_id, conn_id), repr(now), repr(now + ttl_s),
                  self._key_ttl_ms(ttl_s)],
        )
        return bool(first)

    async def leave(self, room: str, member_id: str, conn_id: str) -> bool:
        last = await self._leave(
            keys=[self._key(room), self._index],
            args=[room, member_id, self._entry(member_id, conn_id), repr(self._clock())],
        )
        return bool(last)

    async def refresh(
        self, entries: list[tuple[str, str, str]], ttl_s: float
    ) -> list[tuple[str, str]]:
        back: list[tuple[str, str]] = []
        for start in range(0, len(entries), REFRESH_CHUNK):
            now = self._clock()
            args: list[str | int] = [self._prefix, repr(now), repr(now + ttl_s),
                                     self._key_ttl_ms(ttl_s)]
            for room, member_id, conn_id in entries[start:start + REFRESH_CHUNK]:
                args += [room, member_id, self._entry(member_id, conn_id)]
            back += _pairs(await self._refresh(keys=[self._index], args=args))
        return back

    async def online(self, room: str) -> list[str]:
        entries = await self._redis.zrangebyscore(self._key(room), f"({self._clock()!r}", "+inf")
        return sorted({e.rpartition(b"|")[0].decode() for e in entries if isinstance(e, bytes)})

    async def expire(self) -> list[tuple[str, str]]:
        gone: list[tuple[str, str]] = []
        while True:
            reply = await self._expire(
                keys=[self._index], args=[self._prefix, repr(self._clock()), EXPIRE_ROOMS]
            )
            visited, pairs = int(reply[0]), reply[1:]
            gone += _pairs(pairs)
            if visited < EXPIRE_ROOMS:
                return gone

    async def close(self) -> None:
        await self._redis.aclose()


def _pairs(flat: list[bytes]) -> list[tuple[str, str]]:
    return [(bytes(flat[i]).decode(), bytes(flat[i + 1]).decode()) for i in range(0, len(flat), 2)]
