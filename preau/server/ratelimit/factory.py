"""Choose a rate limiter implementation from a URL (as the broker's factory does)."""

from __future__ import annotations

from preau.server.ratelimit import RateLimiter
from preau.server.ratelimit.memory import MemoryRateLimiter


def open_rate_limiter(url: str, rate: float, burst: int, *, name: str = "account") -> RateLimiter:
    """``memory://``: per process. ``redis://…`` or ``rediss://…``: one bucket per key
    for the deployment; ``name`` keeps different limiters' buckets apart there."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryRateLimiter(rate, burst)
    if scheme in ("redis", "rediss"):
        try:
            from preau.server.ratelimit.redis import RedisRateLimiter
        except ImportError as exc:  # pragma: no cover - redis is a main dependency
            raise ValueError(
                f"{scheme}:// rate limits need redis-py: pip install 'redis>=5' ({exc})"
            ) from exc
        return RedisRateLimiter(url, rate, burst, name=name)
    raise ValueError(f"unknown rate limiter URL scheme {scheme!r}: expected memory:// or redis://")
