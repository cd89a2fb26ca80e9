"""The pipelined Redis connection (preau/server/redis_pipeline.py) on a real Redis:
each command gets its own reply, faults become RedisErrors the callers fall
back on, and the connection comes back by itself."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from preau.server.redis_pipeline import PipelinedRedis
from tests.services import RedisServer

pytestmark = pytest.mark.redis


async def test_concurrent_commands_each_get_their_own_reply(redis_clean_url: str) -> None:
    pipe = PipelinedRedis(redis_clean_url)
    try:
        replies = await asyncio.gather(
            *(pipe.call("INCRBY", f"k{i % 7}", i) for i in range(200)),
            pipe.call("HGET", "k1", "x"),  # a wrong type: an error for this one only
            pipe.call("ECHO", "fin"),
            return_exceptions=True,
        )
        assert isinstance(replies[200], ResponseError)
        assert replies[201] == b"fin"
        totals: dict[int, int] = {}
        for i, reply in enumerate(replies[:200]):
            totals[i % 7] = totals.get(i % 7, 0) + i
            assert reply == totals[i % 7]  # in order, per key
    finally:
        await pipe.close()


async def test_a_script_is_loaded_again_when_redis_forgot_it(redis_clean_url: str) -> None:
    pipe = PipelinedRedis(redis_clean_url)
    client = aioredis.Redis.from_url(redis_clean_url)
    try:
        double = pipe.script("return tonumber(ARGV[1]) * 2")
        assert await double([], [21]) == 42
        await client.script_flush()
        assert await double([], [4]) == 8
    finally:
        await client.aclose()
        await pipe.close()


async def test_redis_down_fails_fast_then_comes_back(own_redis: RedisServer) -> None:
    pipe = PipelinedRedis(own_redis.url, retry_after_s=0.3)
    try:
        assert await pipe.call("ECHO", "a") == b"a"
        own_redis.stop()
        with pytest.raises(RedisError):
            await pipe.call("ECHO", "b")
        # Within retry_after_s nobody waits for a connection attempt.
        with pytest.raises(RedisConnectionError, match="not retried yet"):
            await pipe.call("ECHO", "c")
        own_redis.start()
        await asyncio.sleep(0.35)
        assert await pipe.call("ECHO", "d") == b"d"
    finally:
        await pipe.close()


async def test_a_silent_redis_times_out_and_the_connection_is_renewed(
    own_redis: RedisServer,
) -> None:
    pipe = PipelinedRedis(own_redis.url, reply_timeout_s=0.3, retry_after_s=0.1)
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        assert await pipe.call("ECHO", "a") == b"a"
        await admin.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        with pytest.raises(RedisTimeoutError):
            await pipe.call("ECHO", "b")
        await admin.execute_command("CLIENT", "UNPAUSE")
        await asyncio.sleep(0.15)
        assert await pipe.call("ECHO", "c") == b"c"  # a new connection: no stale reply
    finally:
        await admin.aclose()
        await pipe.close()


async def test_closed_client_refuses(redis_clean_url: str) -> None:
    pipe = PipelinedRedis(redis_clean_url)
    assert await pipe.call("ECHO", "a") == b"a"
    await pipe.close()
    with pytest.raises(RedisConnectionError):
        await pipe.call("ECHO", "b")
