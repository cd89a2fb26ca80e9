"""Erasure reaches Redis: the person's presence entries and rate-limit buckets
go, everyone else's stay (a real Redis)."""

from __future__ import annotations

import pytest

from preau.server.presence.redis import RedisPresence
from preau.server.privacy.traces import RedisTraces, open_traces
from preau.server.ratelimit.redis import RedisRateLimiter


async def test_forget_removes_only_the_persons_keys(redis_clean_url: str) -> None:
    presence = RedisPresence(redis_clean_url)
    sends = RedisRateLimiter(redis_clean_url, 1.0, 5, name="sends")
    traces = RedisTraces(redis_clean_url)
    try:
        for room in ("room-a", "room-b"):
            await presence.join(room, "lea", "node1-c1", 30)
            await presence.join(room, "hugo", "node1-c2", 30)
        await presence.join("room-a", "lea", "node2-c9", 30)  # a second node's socket
        await sends.take("lea")
        await sends.take("hugo")

        assert await traces.forget("lea") == 4  # three entries, one bucket
        assert await presence.online("room-a") == ["hugo"]
        assert await presence.online("room-b") == ["hugo"]
        keys = {k.decode() async for k in traces._redis.scan_iter(match="preau:ratelimit:*")}
        assert keys == {"preau:ratelimit:sends:hugo"}
        assert await traces.forget("lea") == 0  # idempotent
        with pytest.raises(ValueError, match="glob"):
            await traces.forget("*")
    finally:
        await presence.close()
        await sends.close()
        await traces.close()


def test_in_process_deployments_have_nothing_to_clear() -> None:
    assert open_traces("memory://") is None
