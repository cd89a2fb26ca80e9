"""Failed-login throttling (sliding window), with explicit times."""

from __future__ import annotations

from server.auth.throttle import FailureThrottle

KEYS = ["login:lea.martin", "ip:192.0.2.1"]


def test_under_the_limit_nothing_waits() -> None:
    throttle = FailureThrottle(limit=3, window_s=60)
    assert throttle.retry_after(KEYS, 0.0) is None
    throttle.record_failure(KEYS, 0.0)
    throttle.record_failure(KEYS, 1.0)
    assert throttle.retry_after(KEYS, 2.0) is None


def test_at_the_limit_wait_until_the_oldest_failure_leaves_the_window() -> None:
    throttle = FailureThrottle(limit=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        throttle.record_failure(KEYS, t)
    assert throttle.retry_after(KEYS, 30.0) == 30.0
    assert throttle.retry_after(KEYS, 59.5) == 0.5
    assert throttle.retry_after(KEYS, 60.0) is None  # the failure at 0 left the window


def test_keys_are_independent_and_the_worst_wins() -> None:
    throttle = FailureThrottle(limit=2, window_s=100)
    throttle.record_failure(["ip:a"], 0.0)
    throttle.record_failure(["ip:a"], 5.0)
    throttle.record_failure(["login:x"], 10.0)
    throttle.record_failure(["login:x"], 20.0)
    assert throttle.retry_after(["ip:b"], 21.0) is None
    assert throttle.retry_after(["login:y", "ip:b"], 21.0) is None
    assert throttle.retry_after(["login:y", "ip:a"], 21.0) == 79.0
    assert throttle.retry_after(["login:x", "ip:b"], 21.0) == 89.0
    assert throttle.retry_after(["login:x", "ip:a"], 21.0) == 89.0


def test_clear_forgets_one_key_only() -> None:
    throttle = FailureThrottle(limit=1, window_s=100)
    throttle.record_failure(KEYS, 0.0)
    throttle.clear(KEYS[0])
    assert throttle.retry_after([KEYS[0]], 1.0) is None
    assert throttle.retry_after([KEYS[1]], 1.0) == 99.0
    throttle.clear("never-seen")  # no error


def test_retry_after_is_honest_when_failures_exceed_the_limit() -> None:
    # Concurrent attempts all pass the check before any failure is recorded,
    # so a key can hold more failures than the limit. Waiting the announced
    # time must then be enough to get in.
    throttle = FailureThrottle(limit=3, window_s=60)
    for t in (0.0, 1.0, 2.0, 3.0, 4.0):
        throttle.record_failure(KEYS, t)
    wait = throttle.retry_after(KEYS, 10.0)
    assert wait is not None
    assert throttle.retry_after(KEYS, 10.0 + wait - 0.001) is not None
    assert throttle.retry_after(KEYS, 10.0 + wait) is None
    assert wait == 52.0  # the third most recent failure (at 2) leaves the window at 62


def test_old_failures_are_forgotten() -> None:
    throttle = FailureThrottle(limit=2, window_s=10)
    throttle.record_failure(KEYS, 0.0)
    assert throttle.retry_after(KEYS, 10.0) is None
    # The failure at 0 is gone: one more is not enough to reach the limit.
    throttle.record_failure(KEYS, 11.0)
    assert throttle.retry_after(KEYS, 12.0) is None
    throttle.record_failure(KEYS, 12.0)
    assert throttle.retry_after(KEYS, 13.0) == 8.0
