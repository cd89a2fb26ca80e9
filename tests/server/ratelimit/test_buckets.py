"""Token buckets, with a clock the tests move."""

from __future__ import annotations

import pytest

from preau.server.ratelimit.buckets import KeyedBuckets, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_with_the_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [None, None, None]
    assert bucket.take() == pytest.approx(0.5)  # one token takes 1/rate seconds
    # Refused attempts take nothing: the wait only shrinks with time.
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.2
    assert bucket.take() == pytest.approx(0.3)
    clock.now += 0.3
    assert bucket.take() is None
    assert bucket.take() == pytest.approx(0.5)


def test_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    bucket.take()
    bucket.take()
    clock.now += 3600
    assert [bucket.take() for _ in range(3)] == [None, None, pytest.approx(1.0)]


def test_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    granted = 0
    for _ in range(160):  # 10 seconds in steps of 1/16 s (exact in binary)
        clock.now += 0.0625
        if bucket.take() is None:
            granted += 1
    assert granted == 40


def test_the_announced_wait_is_enough() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=0.2, burst=10, clock=clock)  # Synapse's default
    for _ in range(10):
        assert bucket.take() is None
    wait = bucket.take()
    assert wait == pytest.approx(5.0)
    assert wait is not None
    clock.now += wait * 0.99
    assert bucket.take() is not None
    clock.now += wait * 0.011
    assert bucket.take() is None


def test_keyed_buckets_are_independent() -> None:
    clock = FakeClock()
    buckets = KeyedBuckets(rate=1.0, burst=2, clock=clock)
    assert [buckets.take("lea") for _ in range(3)] == [None, None, pytest.approx(1.0)]
    assert [buckets.take("hugo") for _ in range(2)] == [None, None]
    assert buckets.take("hugo") == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take("lea") is None
    assert buckets.take("lea") == pytest.approx(1.0)


def test_keyed_buckets_forget_full_buckets_but_not_busy_ones() -> None:
    clock = FakeClock()
    buckets = KeyedBuckets(rate=1.0, burst=5, clock=clock)
    for _ in range(5):
        buckets.take("old")
    # "busy" empties its bucket just before the sweep: it must keep its debt.
    clock.now += 10.0  # "old" is full again (5 tokens at 1/s)
    for _ in range(5):
        assert buckets.take("busy") is None
    for i in range(10_001):
        buckets.take(f"k{i}")
    # Past 10 000 keys a sweep ran before adding one: memory stays bounded.
    assert "old" not in buckets._buckets
    assert len(buckets._buckets) <= 10_003
    assert buckets.take("busy") == pytest.approx(1.0)  # not reset by the sweep
    # A forgotten key starts again from a full bucket, as it would have been.
    assert [buckets.take("old") for _ in range(5)] == [None] * 5
    assert buckets.take("old") == pytest.approx(1.0)
