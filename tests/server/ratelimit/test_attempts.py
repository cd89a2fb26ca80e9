"""The LoginAttempts contract (preau/server/ratelimit/attempts.py) on memory and Redis.

Time is the caller's ``now_ms`` on both, so nothing here waits. "Two nodes" are
two instances on one medium: on Redis they share every count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from preau.server.ratelimit.attempts import (
    AttemptPolicy,
    LoginAttempts,
    MemoryLoginAttempts,
    Refusal,
    open_login_attempts,
)
from preau.server.ratelimit.attempts_redis import RedisLoginAttempts
from tests.services import RedisServer

POLICY = AttemptPolicy(free=3, first_ms=1000, max_ms=8000, window_ms=3_600_000)
T0 = 1_700_000_000_000
IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


class Setup:
    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        self.opened: list[LoginAttempts] = []
        self._shared = MemoryLoginAttempts(POLICY)

    def node(self) -> LoginAttempts:
        """One node's view: on Redis a new client, in memory the one process's."""
        if self.kind == "memory":
            return self._shared
        opened = RedisLoginAttempts(self.url, POLICY)
        self.opened.append(opened)
        return opened

    async def close(self) -> None:
        for opened in self.opened:
            await opened.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    url = request.getfixturevalue("redis_clean_url") if request.param == "redis" else ""
    opened = Setup(request.param, url)
    yield opened
    await opened.close()


async def test_free_attempts_then_growing_delays(setup: Setup) -> None:
    node = setup.node()
    now = T0
    assert [await node.begin("acct", "ip", 100, now) for _ in range(3)] == [None] * 3
    assert await node.begin("acct", "ip", 100, now) == Refusal("account", 1.0)
    now += 1000
    assert await node.begin("acct", "ip", 100, now) is None
    assert await node.begin("acct", "ip", 100, now + 1999) == Refusal("account", 0.001)
    now += 2000
    assert await node.begin("acct", "ip", 100, now) is None
    assert await node.begin("acct", "ip", 100, now) == Refusal("account", 4.0)
    state = await node.state("acct", now)
    assert state is not None
    assert (state.consecutive, state.failures, state.next_ms) == (5, 5, now + 4000)


async def test_a_success_gives_the_attempt_back(setup: Setup) -> None:
    node = setup.node()
    for _ in range(2):
        assert await node.begin("acct", "ip", 3, T0) is None
    assert await node.begin("acct", "ip", 3, T0) is None
    await node.succeeded("acct", "ip", 3, T0)  # the third attempt was right
    state = await node.state("acct", T0)
    assert state is not None
    assert (state.consecutive, state.failures, state.next_ms) == (0, 2, 0)
    # The address got its token back: one more failure fits its budget of 3.
    assert await node.begin("other", "ip", 3, T0) is None
    assert await node.begin("third", "ip", 3, T0) == Refusal("address", 1200.0)


async def test_refused_attempts_change_nothing(setup: Setup) -> None:
    node = setup.node()
    for _ in range(3):
        await node.begin("acct", "ip", 100, T0)
    before = await node.state("acct", T0)
    for _ in range(20):
        assert await node.begin("acct", "ip", 100, T0 + 10) == Refusal("account", 0.99)
    assert await node.state("acct", T0 + 10) == before


async def test_an_operator_gives_an_address_its_budget_back(setup: Setup) -> None:
    """A school's NAT address out of budget (a pupil's script): cleared on
    every node at once, its other counts (accounts, other addresses) kept."""
    a, b = setup.node(), setup.node()
    for i in range(5):
        await a.begin(f"acct-{i}", "school", 5, T0)
    await a.begin("acct-x", "elsewhere", 5, T0)
    refused = await b.begin("acct-9", "school", 5, T0)
    assert refused is not None
    assert refused.scope == "address"
    await b.clear_address("school")
    assert await a.begin("acct-9", "school", 5, T0) is None
    assert await a.state("acct-0", T0) is not None  # its account's count stays
    for i in range(4):
        assert await a.begin(f"acct-y{i}", "elsewhere", 5, T0) is None
    assert await a.begin("acct-z", "elsewhere", 5, T0) is not None  # another address: as before


async def test_accounts_logging_in_from_an_address_grow_its_budget(setup: Setup) -> None:
    """A school behind one NAT address: every pupil who logs in adds one to
    the address's budget, once per window however often; made-up logins add
    nothing."""
    a, b = setup.node(), setup.node()
    for i in range(5):
        assert await a.begin(f"typo-{i}", "school", 5, T0) is None
    assert await b.begin("typo-5", "school", 5, T0) is not None  # out of budget
    for i in range(3):  # three pupils log in (through the other node too)
        await (a if i % 2 else b).vouch("school", f"pupil-{i}", 5, T0)
    await a.vouch("school", "pupil-0", 5, T0)  # again: nothing more
    for i in range(3):
        assert await b.begin(f"typo-x{i}", "school", 5, T0) is None
    assert await a.begin("typo-y", "school", 5, T0) is not None
    # Another address earns nothing from them.
    for i in range(5):
        assert await a.begin(f"script-{i}", "elsewhere", 5, T0) is None
    assert await a.begin("script-5", "elsewhere", 5, T0) is not None
    # An hour on, the vouchers are forgotten and the bucket is back to its size.
    later = T0 + POLICY.window_ms
    for i in range(5):
        assert await b.begin(f"late-{i}", "school", 5, later) is None
    assert await b.begin("late-5", "school", 5, later) is not None


async def test_an_address_earns_at_most_max_vouched(setup: Setup) -> None:
    from preau.server.ratelimit import attempts

    node = setup.node()
    saved = attempts.MAX_VOUCHED
    attempts.MAX_VOUCHED = 2
    try:
        if setup.kind == "redis":
            import preau.server.ratelimit.attempts_redis as on_redis

            on_redis.MAX_VOUCHED = 2
        for i in range(4):
            await node.vouch("school", f"pupil-{i}", 3, T0)
        for i in range(5):
            assert await node.begin(f"typo-{i}", "school", 3, T0) is None
        assert await node.begin("typo-5", "school", 3, T0) is not None
    finally:
        attempts.MAX_VOUCHED = saved
        if setup.kind == "redis":
            on_redis.MAX_VOUCHED = saved


async def test_everything_is_forgotten_after_the_window(setup: Setup) -> None:
    node = setup.node()
    for _ in range(3):
        await node.begin("acct", "ip", 3, T0)
    await node.watch("school", "p1", T0)
    later = T0 + POLICY.window_ms
    assert await node.state("acct", later) is None
    assert await node.watched("school", later, 10) == []
    assert await node.begin("acct", "ip", 3, later) is None  # the bucket refilled too


async def test_two_nodes_share_the_counts(setup: Setup) -> None:
    a, b = setup.node(), setup.node()
    for node in (a, b, a):
        assert await node.begin("acct", f"ip-{id(node)}", 100, T0) is None
    assert await b.begin("acct", "ip-9", 100, T0) == Refusal("account", 1.0)
    await a.watch("school", "p1", T0)
    await b.watch("school", "p2", T0 + 5)
    assert await a.watched("school", T0 + 5, 10) == ["p2", "p1"]
    await b.clear("acct", "school", "p1")
    assert await a.state("acct", T0) is None
    assert await a.watched("school", T0 + 5, 10) == ["p2"]
    assert await a.begin("acct", "ip-9", 100, T0) is None


async def test_concurrent_attempts_cannot_pass_a_delay_together(setup: Setup) -> None:
    nodes = [setup.node() for _ in range(4)]
    for _ in range(2):
        await nodes[0].begin("acct", "ip", 1000, T0)
    # The third attempt is the last free one; 40 race for it from four nodes.
    results = await asyncio.gather(
        *(nodes[i % 4].begin("acct", f"ip{i}", 1000, T0) for i in range(40))
    )
    assert results.count(None) == 1


async def test_schools_indexes_are_apart(setup: Setup) -> None:
    node = setup.node()
    await node.watch("school-a", "p1", T0)
    await node.watch("school-b", "p2", T0)
    assert await node.watched("school-a", T0, 10) == ["p1"]
    assert await node.watched("school-c", T0, 10) == []


@pytest.mark.redis
async def test_redis_down_falls_back_per_node_then_recovers(own_redis: RedisServer) -> None:
    node = open_login_attempts(own_redis.url, POLICY)
    try:
        for _ in range(3):
            assert await node.begin("acct", "ip", 100, T0) is None
        own_redis.stop()
        # Per node now: a fresh count, neither everyone refused nor no limit.
        for _ in range(3):
            assert await node.begin("acct", "ip", 100, T0) is None
        assert await node.begin("acct", "ip", 100, T0) == Refusal("account", 1.0)
        own_redis.restart()
        # Redis again (empty: it persists nothing), and shared again.
        other = open_login_attempts(own_redis.url, POLICY)
        try:
            for _ in range(3):
                assert await node.begin("acct", "ip", 100, T0) is None
            assert await other.begin("acct", "ip", 100, T0) == Refusal("account", 1.0)
        finally:
            await other.close()
    finally:
        await node.close()
