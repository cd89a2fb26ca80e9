"""Failed-login throttling per account and per client address.

A sliding window of failure times; past the limit, attempts are refused with
``rate_limited`` before any password is checked (ASVS: at most 100 failures per
hour per account; we default lower). Per node for now: several nodes each apply
it, which bounds the total at nodes × limit.
"""

from __future__ import annotations

from collections import defaultdict, deque


class FailureThrottle:
    def __init__(self, limit: int, window_s: float = 3600.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, keys: list[str], now: float) -> float | None:
        """Seconds to wait if any key is over the limit, else None."""
        worst: float | None = None
        for key in keys:
            if key not in self._failures:
                continue
            times = self._prune(key, now)
            if len(times) >= self.limit:
                # Concurrent attempts can record more failures than the limit:
                # the key is free again once all but limit - 1 have left the window.
                wait = times[len(times) - self.limit] + self.window_s - now
                worst = wait if worst is None else max(worst, wait)
        return worst

    def record_failure(self, keys: list[str], now: float) -> None:
        for key in keys:
            self._failures[key].append(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)
