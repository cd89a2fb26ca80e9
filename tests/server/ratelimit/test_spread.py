"""The SpreadCounter contract (preau/server/ratelimit/spread.py) on memory and on a
real Redis: a sliding window of distinct rooms per person, shared by nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from preau.server.ratelimit.redis import RedisRateLimiter
from preau.server.ratelimit.spread import MemorySpread, RedisSpread, SpreadCounter

WINDOW = 60_000  # ms
T0 = 1_800_000_000_000


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SpreadCounter, ...]]:
    """Two nodes' counters over the same medium (memory: one counter)."""
    if request.param == "memory":
        shared = MemorySpread()
        yield shared, shared
        await shared.close()
        return
    url: str = request.getfixturevalue("redis_clean_url")
    a, b = RedisSpread(url), RedisSpread(url)
    yield a, b
    await a.close()
    await b.close()


async def test_distinct_rooms_within_the_window_are_counted(
    nodes: tuple[SpreadCounter, ...],
) -> None:
    a, _ = nodes
    assert await a.add("lea", "r1", T0, WINDOW) == 1
    assert await a.add("lea", "r1", T0 + 1000, WINDOW) == 1  # the same room again
    assert await a.add("lea", "r2", T0 + 2000, WINDOW) == 2
    assert await a.add("hugo", "r1", T0 + 2000, WINDOW) == 1  # people are apart
    assert await a.rooms("lea", T0 + 3000, WINDOW) == ["r2", "r1"]


async def test_a_true_window_not_a_refilling_bucket(nodes: tuple[SpreadCounter, ...]) -> None:
    # issue 21: four rooms within a minute, then a fifth 16 s later, is five
    # rooms within the window (a bucket had refilled meanwhile).
    a, _ = nodes
    for i in range(4):
        await a.add("lea", f"r{i}", T0 + i * 1000, WINDOW)
    assert await a.add("lea", "r4", T0 + 16_000 + 3000, WINDOW) == 5
    # Once the first posts are older than the window, they no longer count.
    assert await a.add("lea", "r5", T0 + WINDOW + 1500, WINDOW) == 4
    assert sorted(await a.rooms("lea", T0 + WINDOW + 1500, WINDOW)) == ["r2", "r3", "r4", "r5"]


async def test_nodes_share_one_count(nodes: tuple[SpreadCounter, ...]) -> None:
    a, b = nodes
    await a.add("lea", "r1", T0, WINDOW)
    await b.add("lea", "r2", T0 + 10, WINDOW)
    assert await a.add("lea", "r3", T0 + 20, WINDOW) == 3
    assert sorted(await b.rooms("lea", T0 + 30, WINDOW)) == ["r1", "r2", "r3"]


@pytest.mark.redis
async def test_without_redis_each_node_still_counts(redis_clean_url: str) -> None:
    counter = RedisSpread("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert await counter.add("lea", "r1", T0, WINDOW) == 1
        assert await counter.add("lea", "r2", T0 + 1, WINDOW) == 2
        assert await counter.rooms("lea", T0 + 2, WINDOW) == ["r2", "r1"]
    finally:
        await counter.close()


async def test_forget_starts_the_count_again(nodes: tuple[SpreadCounter, ...]) -> None:
    a, b = nodes
    await a.add("lea", "r1", T0, WINDOW)
    await a.add("lea", "r2", T0 + 1, WINDOW)
    await b.forget("lea")
    assert await a.add("lea", "r3", T0 + 2, WINDOW) == 1


@pytest.mark.redis
async def test_take_then_add_is_take_and_add_in_one_round_trip(redis_clean_url: str) -> None:
    # The post's two checks in one script (issue 14): the same bucket as the
    # limiter's own take(), and a refused post is not counted in the window.
    limiter = RedisRateLimiter(redis_clean_url, rate=0.01, burst=2, name="sends")
    a, b = RedisSpread(redis_clean_url), RedisSpread(redis_clean_url)
    try:
        assert await a.take_then_add(limiter, "lea", "r1", T0, WINDOW) == (None, 1)
        assert await b.take_then_add(limiter, "lea", "r2", T0 + 1, WINDOW) == (None, 2)
        wait, count = await a.take_then_add(limiter, "lea", "r3", T0 + 2, WINDOW)
        assert wait is not None
        assert wait > 50  # the burst is used up
        assert count == 0
        assert await limiter.take("lea") is not None  # one bucket with take()
        assert sorted(await b.rooms("lea", T0 + 3, WINDOW)) == ["r1", "r2"]  # r3 not counted
        assert await a.take_then_add(limiter, "hugo", "r3", T0 + 3, WINDOW) == (None, 1)
    finally:
        await limiter.close()
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_take_then_add_without_redis_falls_back_to_this_node(
    redis_clean_url: str,
) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate=0.01, burst=2)
    counter = RedisSpread("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert await counter.take_then_add(limiter, "lea", "r1", T0, WINDOW) == (None, 1)
        assert await counter.take_then_add(limiter, "lea", "r2", T0 + 1, WINDOW) == (None, 2)
        wait, _ = await counter.take_then_add(limiter, "lea", "r3", T0 + 2, WINDOW)
        assert wait is not None  # the limit still holds, per node
        assert await counter.rooms("lea", T0 + 3, WINDOW) == ["r2", "r1"]
    finally:
        await limiter.close()
        await counter.close()
