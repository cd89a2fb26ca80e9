"""The short-command Redis client really retries once on a broken connection
(preau/server/redis_client.py): the synchronous ``Retry`` it used before never did on
an asyncio client, and redis-py 8.2 refuses it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from redis.asyncio.retry import Retry
from redis.exceptions import ConnectionError as RedisConnectionError

from preau.server.presence.redis import redis_client
from preau.server.ratelimit.redis import RedisRateLimiter
from preau.server.redis_client import short_command_client

pytestmark = pytest.mark.redis

MARKER = b"drop-me-once"


@contextlib.asynccontextmanager
async def flaky_proxy(redis_url: str) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP proxy to Redis that cuts the first connection carrying ``MARKER``,
    as a Redis restart or a NAT timeout cuts a pooled connection mid-command.
    Yields its URL and the count of cuts made."""
    target = urlsplit(redis_url)
    cuts: list[int] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   watch: bool) -> None:
        try:
            while data := await reader.read(65536):
                if watch and MARKER in data and not cuts:
                    cuts.append(1)
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(target.hostname, target.port)
        upstream = asyncio.create_task(pipe(client_r, server_w, True))
        downstream = asyncio.create_task(pipe(server_r, client_w, False))
        await asyncio.wait([upstream, downstream], return_when=asyncio.FIRST_COMPLETED)
        for task in (upstream, downstream):
            task.cancel()
        client_w.close()
        server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = target.path or "/0"
    try:
        yield f"redis://127.0.0.1:{port}{db}", cuts
    finally:
        server.close()
        await server.wait_closed()


async def test_a_command_cut_mid_flight_is_retried_once(redis_clean_url: str) -> None:
    async with flaky_proxy(redis_clean_url) as (url, cuts):
        client = short_command_client(url)
        try:
            await client.set(MARKER.decode(), "1")  # cut once, retried on a new connection
            assert cuts == [1]
            assert await client.get(MARKER.decode()) == b"1"
        finally:
            await client.aclose()


async def test_without_the_retry_the_same_cut_fails(redis_clean_url: str) -> None:
    # The control: the proxy really cuts, and only the retry saves the command.
    async with flaky_proxy(redis_clean_url) as (url, cuts):
        client = short_command_client(url)
        client.connection_pool.connection_kwargs["retry"] = Retry(
            client.connection_pool.connection_kwargs["retry"]._backoff, 0)
        try:
            with pytest.raises(RedisConnectionError):
                await client.set(MARKER.decode(), "1")
            assert cuts == [1]
        finally:
            await client.aclose()


def test_presence_and_rate_limits_use_the_asyncio_retry() -> None:
    presence = redis_client("redis://127.0.0.1:1/0")
    assert isinstance(presence.connection_pool.connection_kwargs["retry"], Retry)
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", 1.0, 1)
    assert isinstance(limiter._redis.connection_pool.connection_kwargs["retry"], Retry)
