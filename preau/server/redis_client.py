"""The redis-py client for Préau's short commands (presence, rate limits).

One quick retry on a broken connection, short timeouts, and a blocking pool:
redis-py's default retries back off for seconds, which would stall a heartbeat,
a subscribe or a message behind a dead Redis; and a burst of commands (600
sockets closing at once, each leaving presence) waits for a connection instead
of failing past redis-py's default limit of 100 connections.

The retry must be ``redis.asyncio.retry.Retry``: the synchronous one, given to
an asyncio client, never retried at all before redis-py 8.2 (its
``call_with_retry`` returned the coroutine unawaited) and is refused by 8.2.
tests/server/test_redis_client.py shows the retry happening.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def short_command_client(
    url: str,
    *,
    max_connections: int = 32,
    pool_wait_s: float = 5.0,
    connect_timeout_s: float = 2.0,
    socket_timeout_s: float = 5.0,
) -> aioredis.Redis:
    """A client that owns its pool (``aclose()`` closes both)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait_s,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
    )
    return aioredis.Redis.from_pool(pool)
