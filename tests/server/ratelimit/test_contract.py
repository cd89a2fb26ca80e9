"""The RateLimiter contract (preau/server/ratelimit/__init__.py), on every implementation.

Memory runs on a fake clock; Redis counts time with its own clock, so there
``advance`` really waits: the rates are high (tens of tokens per second) to
keep those waits to tens of milliseconds, and the expected waits are
approximate (a few milliseconds pass between calls).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from preau.server.ratelimit import RateLimiter
from preau.server.ratelimit.factory import open_rate_limiter
from preau.server.ratelimit.memory import MemoryRateLimiter
from preau.server.ratelimit.redis import RedisRateLimiter
from tests.services import RedisServer

IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Setup:
    """Limiters of one kind sharing one medium, and a way to let time pass."""

    def __init__(self, kind: str, redis_url: str) -> None:
        self.kind = kind
        self.redis_url = redis_url
        self.clock = FakeClock()
        self.opened: list[RateLimiter] = []
        # Real time moves on between calls: allow for it.
        self.slack = 0.02 if kind == "redis" else 1e-9

    def limiter(self, rate: float, burst: int, name: str = "sends") -> RateLimiter:
        limiter: RateLimiter
        if self.kind == "memory":
            limiter = MemoryRateLimiter(rate, burst, clock=self.clock)
        else:
            limiter = RedisRateLimiter(self.redis_url, rate, burst, name=name)
        self.opened.append(limiter)
        return limiter

    async def advance(self, seconds: float) -> None:
        if self.kind == "memory":
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        for limiter in self.opened:
            await limiter.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    url = request.getfixturevalue("redis_clean_url") if request.param == "redis" else ""
    opened = Setup(request.param, url)
    yield opened
    await opened.close()


async def test_burst_then_refused_with_the_wait(setup: Setup) -> None:
    limiter = setup.limiter(rate=10.0, burst=3)
    assert [await limiter.take("lea") for _ in range(3)] == [None, None, None]
    wait = await limiter.take("lea")
    assert wait is not None
    assert 0.1 - setup.slack <= wait <= 0.1  # one token takes 1/rate seconds


async def test_refused_attempts_take_nothing(setup: Setup) -> None:
    limiter = setup.limiter(rate=20.0, burst=1)
    assert await limiter.take("lea") is None
    waits = [await limiter.take("lea") for _ in range(5)]
    assert all(w is not None and 0 < w <= 0.05 for w in waits)
    # Each refusal only reports the wait: it shrinks with time, never grows.
    assert waits == sorted(waits, key=lambda w: -(w or 0))


async def test_tokens_come_back_with_time(setup: Setup) -> None:
    limiter = setup.limiter(rate=20.0, burst=2)
    assert await limiter.take("lea") is None
    assert await limiter.take("lea") is None
    wait = await limiter.take("lea")
    assert wait is not None
    await setup.advance(wait + 0.005)
    assert await limiter.take("lea") is None  # one token back...
    assert await limiter.take("lea") is not None  # ...not two
    await setup.advance(2 / 20 + 0.01)
    # Refilled to the burst, not beyond.
    assert [await limiter.take("lea") for _ in range(3)][:2] == [None, None]


async def test_keys_are_independent(setup: Setup) -> None:
    limiter = setup.limiter(rate=1.0, burst=1)
    assert await limiter.take("lea") is None
    assert await limiter.take("lea") is not None
    assert await limiter.take("hugo") is None


# -- Redis only ------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_limiters_on_one_redis_share_the_bucket(redis_clean_url: str) -> None:
    setup = Setup("redis", redis_clean_url)
    try:
        node_a, node_b = setup.limiter(10.0, 2), setup.limiter(10.0, 2)
        assert await node_a.take("lea") is None
        assert await node_b.take("lea") is None
        assert await node_a.take("lea") is not None
        assert await node_b.take("lea") is not None
        # Concurrent takes from both: exactly the burst goes through.
        either = [node_a if i % 2 else node_b for i in range(10)]
        results = await asyncio.gather(*(limiter.take("hugo") for limiter in either))
        assert results.count(None) == 2
        # Another limiter name is another set of buckets.
        logins = setup.limiter(10.0, 2, name="logins")
        assert await logins.take("lea") is None
    finally:
        await setup.close()


async def test_memory_limiters_are_per_process() -> None:
    node_a, node_b = MemoryRateLimiter(10.0, 1), MemoryRateLimiter(10.0, 1)
    assert await node_a.take("lea") is None
    assert await node_b.take("lea") is None  # its own bucket


@pytest.mark.redis
async def test_redis_buckets_expire_once_full_again(redis_clean_url: str) -> None:
    # A slow refill (one token per 10 s): the key's lifetime is read with
    # seconds of margin, so a loaded machine cannot expire it mid-test.
    limiter = RedisRateLimiter(redis_clean_url, rate=0.1, burst=5, name="sends")
    client = aioredis.Redis.from_url(redis_clean_url)
    try:
        assert await limiter.take("lea") is None
        # One token used: full again in 1/rate s, and the key goes then.
        ttl_ms = await client.pttl("preau:ratelimit:sends:lea")
        assert 0 < ttl_ms <= 10_000
        await limiter.take("lea")
        assert await client.pttl("preau:ratelimit:sends:lea") > 10_000
    finally:
        await client.aclose()
        await limiter.close()


@pytest.mark.redis
async def test_redis_down_falls_back_to_per_node_buckets(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter(own_redis.url, rate=1.0, burst=2)
    try:
        assert await limiter.take("lea") is None
        own_redis.stop()
        # Still limited, by this node's own bucket (a fresh one: full).
        assert await limiter.take("lea") is None
        assert await limiter.take("lea") is None
        assert await limiter.take("lea") is not None
        assert "per node while Redis is unreachable" in caplog.text
        own_redis.start()
        assert await limiter.take("lea") is None  # global again (Redis restarted empty)
    finally:
        await limiter.close()


def test_a_limiter_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        RedisRateLimiter("redis://127.0.0.1:1/0", rate=0, burst=1)


async def test_open_rate_limiter_chooses_from_the_url() -> None:
    memory = open_rate_limiter("memory://", 1.0, 2)
    assert isinstance(memory, MemoryRateLimiter)
    with pytest.raises(ValueError, match="scheme"):
        open_rate_limiter("memcached://localhost", 1.0, 2)


@pytest.mark.redis
async def test_open_rate_limiter_redis(redis_clean_url: str) -> None:
    limiter = open_rate_limiter(redis_clean_url, 1.0, 2, name="sends")
    assert isinstance(limiter, RedisRateLimiter)
    assert await limiter.take("lea") is None
    await limiter.close()
