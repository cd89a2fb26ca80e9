"""The Presence contract (preau/server/presence/__init__.py), run on every implementation.

Time is a fake clock the tests move, for Redis too (the entries' expiries
are computed by the calling node). Where the implementations differ by
design (whether a heartbeat revives an expired entry) each side is tested
for what its docstring says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from preau.server.presence import Presence
from preau.server.presence.factory import open_presence
from preau.server.presence.memory import MemoryPresence
from preau.server.presence.redis import RedisPresence

TTL = 30.0
IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # a wall clock's order of magnitude

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=IMPLEMENTATIONS)
async def nodes(
    request: pytest.FixtureRequest, clock: FakeClock
) -> AsyncIterator[Callable[[], Presence]]:
    """Presence as seen by the nodes of one deployment (one shared state, one clock)."""
    opened: list[Presence] = []
    kind: str = request.param
    shared = MemoryPresence(clock)
    url = request.getfixturevalue("redis_clean_url") if kind == "redis" else ""

    def node() -> Presence:
        if kind == "memory":
            return shared
        presence = RedisPresence(url, clock=clock)
        opened.append(presence)
        return presence

    yield node
    for presence in opened:
        await presence.close()


@pytest.fixture
def presence(nodes: Callable[[], Presence]) -> Presence:
    return nodes()


async def test_first_join_and_last_leave(presence: Presence) -> None:
    assert await presence.online("r") == []
    assert await presence.join("r", "lea", "c1", TTL) is True
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "c1") is True
    assert await presence.online("r") == []
    assert await presence.expire() == []  # reported by leave, not again


async def test_several_connections_of_one_member(presence: Presence) -> None:
    assert await presence.join("r", "lea", "phone", TTL) is True
    assert await presence.join("r", "lea", "laptop", TTL) is False
    assert await presence.join("r", "lea", "laptop", TTL) is False  # same one again
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "phone") is False
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "laptop") is True
    assert await presence.online("r") == []


async def test_members_are_listed_once_each_sorted(presence: Presence) -> None:
    for member, conn in [("zoe", "c1"), ("adam", "c2"), ("léa", "c3"), ("adam", "c4")]:
        await presence.join("r", member, conn, TTL)
    assert await presence.online("r") == ["adam", "léa", "zoe"]


async def test_rooms_are_separate(presence: Presence) -> None:
    assert await presence.join("r1", "lea", "c1", TTL) is True
    assert await presence.join("r2", "lea", "c1", TTL) is True
    assert await presence.leave("r1", "lea", "c1") is True
    assert await presence.online("r1") == []
    assert await presence.online("r2") == ["lea"]


async def test_ids_that_look_alike_stay_apart(presence: Presence) -> None:
    # A member id may contain the separator; one is a prefix of another.
    await presence.join("r", "a|b", "c1", TTL)
    await presence.join("r", "a", "b-c1", TTL)
    await presence.join("r", "ab", "c2", TTL)
    assert await presence.online("r") == ["a", "ab", "a|b"]
    assert await presence.leave("r", "a|b", "c1") is True
    assert await presence.online("r") == ["a", "ab"]


async def test_leave_of_unknown_entries(presence: Presence) -> None:
    assert await presence.leave("r", "lea", "c1") is False
    await presence.join("r", "lea", "c1", TTL)
    assert await presence.leave("r", "hugo", "c1") is False
    assert await presence.leave("r", "lea", "other-conn") is False
    assert await presence.leave("elsewhere", "lea", "c1") is False
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "c1") is True
    assert await presence.leave("r", "lea", "c1") is False


async def test_entries_expire_after_ttl(presence: Presence, clock: FakeClock) -> None:
    await presence.join("r", "lea", "c1", TTL)
    clock.now += 10
    await presence.join("r", "hugo", "c2", TTL)
    clock.now += TTL - 10 - 0.001
    assert await presence.online("r") == ["hugo", "lea"]
    assert await presence.expire() == []
    clock.now += 0.001  # lea's entry is TTL old
    assert await presence.online("r") == ["hugo"]
    assert await presence.expire() == [("r", "lea")]
    assert await presence.expire() == []  # once
    clock.now += 10
    assert await presence.online("r") == []
    assert await presence.expire() == [("r", "hugo")]


async def test_expire_reports_members_not_connections(
    presence: Presence, clock: FakeClock
) -> None:
    await presence.join("r1", "lea", "phone", TTL)
    await presence.join("r1", "lea", "laptop", TTL)
    await presence.join("r2", "lea", "phone", TTL)
    await presence.join("r1", "hugo", "c9", TTL)
    clock.now += TTL / 2
    await presence.join("r1", "hugo", "c10", TTL)  # hugo stays through c10
    clock.now += TTL / 2
    assert sorted(await presence.expire()) == [("r1", "lea"), ("r2", "lea")]
    assert await presence.online("r1") == ["hugo"]
    assert await presence.leave("r1", "hugo", "c9") is False  # already expired and removed
    assert await presence.leave("r1", "hugo", "c10") is True


async def test_reading_does_not_swallow_an_expiry(presence: Presence, clock: FakeClock) -> None:
    await presence.join("r", "lea", "c1", TTL)
    clock.now += TTL + 1
    assert await presence.online("r") == []
    assert await presence.online("r") == []
    assert await presence.expire() == [("r", "lea")]


async def test_join_after_expiry_is_a_first_join_again(
    presence: Presence, clock: FakeClock
) -> None:
    await presence.join("r", "lea", "c1", TTL)
    clock.now += TTL + 1
    assert await presence.join("r", "lea", "c2", TTL) is True
    assert await presence.online("r") == ["lea"]
    # lea is online again: the expired c1 is no departure.
    assert await presence.expire() == []
    assert await presence.leave("r", "lea", "c2") is True
    assert await presence.online("r") == []
    assert await presence.expire() == []


async def test_last_leave_after_an_unreported_expiry_reports_once(
    presence: Presence, clock: FakeClock
) -> None:
    await presence.join("r", "lea", "c1", TTL)
    await presence.join("r", "lea", "c2", TTL)
    clock.now += TTL + 1
    # c2's node leaves before anyone ran expire(): that leave is the report.
    assert await presence.leave("r", "lea", "c2") is True
    assert await presence.expire() == []


async def test_leave_of_an_unknown_connection_leaves_expiries_to_expire(
    presence: Presence, clock: FakeClock
) -> None:
    await presence.join("r", "lea", "c1", TTL)
    clock.now += TTL + 1
    assert await presence.leave("r", "lea", "never-joined") is False
    assert await presence.expire() == [("r", "lea")]


async def test_one_expired_connection_does_not_hide_a_live_one(
    presence: Presence, clock: FakeClock
) -> None:
    await presence.join("r", "lea", "crashed-node", TTL)
    clock.now += TTL / 2
    await presence.join("r", "lea", "live", TTL)
    clock.now += TTL / 2 + 1
    assert await presence.online("r") == ["lea"]
    assert await presence.expire() == []
    assert await presence.leave("r", "lea", "live") is True
    assert await presence.online("r") == []


async def test_refresh_extends_entries(presence: Presence, clock: FakeClock) -> None:
    await presence.join("r1", "lea", "c1", TTL)
    await presence.join("r2", "lea", "c1", TTL)
    await presence.join("r1", "hugo", "c2", TTL)
    for _ in range(5):  # heartbeats every TTL/3, as the hub sends them
        clock.now += TTL / 3
        assert await presence.refresh([("r1", "lea", "c1"), ("r2", "lea", "c1")], TTL) == []
    assert await presence.online("r1") == ["lea"]
    assert await presence.online("r2") == ["lea"]
    assert await presence.expire() == [("r1", "hugo")]
    clock.now += TTL
    assert await presence.online("r1") == []
    assert sorted(await presence.expire()) == [("r1", "lea"), ("r2", "lea")]


async def test_ttl_is_per_join(presence: Presence, clock: FakeClock) -> None:
    await presence.join("r", "lea", "short", 5)
    await presence.join("r", "hugo", "long", 60)
    clock.now += 5
    assert await presence.online("r") == ["hugo"]
    assert await presence.expire() == [("r", "lea")]


async def test_each_expiry_is_reported_by_one_node(
    nodes: Callable[[], Presence], clock: FakeClock
) -> None:
    a, b = nodes(), nodes()
    await a.join("r1", "lea", "a1", TTL)
    await b.join("r1", "lea", "b1", TTL)
    await b.join("r2", "hugo", "b2", TTL)
    assert await a.online("r1") == ["lea"]
    assert await b.join("r1", "lea", "b3", TTL) is False  # a's entry counts on b
    clock.now += TTL + 1
    # Concurrently, as the heartbeats of several nodes run.
    reports = await asyncio.gather(a.expire(), b.expire(), a.expire(), b.expire())
    assert sorted(pair for report in reports for pair in report) == [
        ("r1", "lea"), ("r2", "hugo")
    ]
    assert sum(1 for report in reports if report) == 1


async def test_the_memory_presence_never_revives_an_entry(clock: FakeClock) -> None:
    presence = MemoryPresence(clock)
    await presence.join("r", "lea", "c1", TTL)
    clock.now += TTL + 1
    assert await presence.refresh([("r", "lea", "c1"), ("r", "hugo", "c2")], TTL) == []
    assert await presence.online("r") == []
    assert await presence.expire() == [("r", "lea")]


# -- Redis only ------------------------------------------------------------------


@pytest.fixture
async def redis_nodes(
    redis_clean_url: str, clock: FakeClock
) -> AsyncIterator[tuple[RedisPresence, RedisPresence]]:
    a, b = RedisPresence(redis_clean_url, clock=clock), RedisPresence(redis_clean_url, clock=clock)
    yield a, b
    await a.close()
    await b.close()


@pytest.mark.redis
async def test_redis_refresh_brings_back_what_expired_or_was_lost(
    redis_nodes: tuple[RedisPresence, RedisPresence], clock: FakeClock
) -> None:
    a, b = redis_nodes
    await a.join("r", "lea", "c1", TTL)
    await a.join("r", "lea", "c2", TTL)
    await a.join("r", "hugo", "c3", TTL)
    clock.now += TTL + 1
    assert sorted(await b.expire()) == [("r", "hugo"), ("r", "lea")]  # b saw a as dead
    # a was only stalled: its heartbeat brings its connections back, and says
    # who is back online (each member once).
    assert await a.refresh([("r", "lea", "c1"), ("r", "lea", "c2"), ("r", "hugo", "c3")],
                           TTL) == [("r", "lea"), ("r", "hugo")]
    assert await b.online("r") == ["hugo", "lea"]
    assert await a.refresh([("r", "lea", "c1")], TTL) == []  # live: nothing to announce
    # Redis restarted empty: the next heartbeat rebuilds what the nodes hold.
    await a._redis.flushdb()
    assert await b.online("r") == []
    assert await a.refresh([("r", "lea", "c1"), ("r", "hugo", "c3")], TTL) == [
        ("r", "lea"), ("r", "hugo")
    ]
    assert await b.online("r") == ["hugo", "lea"]
    clock.now += TTL
    assert sorted(await b.expire()) == [("r", "hugo"), ("r", "lea")]


@pytest.mark.redis
async def test_redis_expire_visits_many_rooms_in_chunks(
    redis_nodes: tuple[RedisPresence, RedisPresence],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("preau.server.presence.redis.EXPIRE_ROOMS", 3)
    monkeypatch.setattr("preau.server.presence.redis.REFRESH_CHUNK", 4)
    a, b = redis_nodes
    rooms = [f"r{i}" for i in range(10)]
    for room in rooms:
        await a.join(room, "lea", "c1", TTL)
    await a.join("kept", "hugo", "c2", TTL)
    clock.now += TTL / 2
    assert await a.refresh([(room, "lea", "c1") for room in rooms], TTL) == []
    clock.now += TTL / 2 + 1
    assert await b.expire() == [("kept", "hugo")]
    clock.now += TTL / 2
    assert sorted(await b.expire()) == sorted((room, "lea") for room in rooms)
    # Nothing is left behind: no room key, an empty deadlines index.
    assert await a._redis.keys("preau:presence*") == []


@pytest.mark.redis
async def test_redis_keys_expire_by_themselves(
    redis_nodes: tuple[RedisPresence, RedisPresence]
) -> None:
    a, _ = redis_nodes
    await a.join("r", "lea", "c1", TTL)
    ttl_ms = await a._redis.pttl("preau:presence:r")
    assert 0 < ttl_ms <= TTL * 2000


@pytest.mark.redis
async def test_redis_rejects_a_connection_id_with_the_separator(
    redis_nodes: tuple[RedisPresence, RedisPresence]
) -> None:
    a, _ = redis_nodes
    with pytest.raises(ValueError, match="connection id"):
        await a.join("r", "lea", "c|1", TTL)


async def test_open_presence_chooses_from_the_url() -> None:
    presence = open_presence("memory://")
    assert isinstance(presence, MemoryPresence)
    await presence.close()
    with pytest.raises(ValueError, match="scheme"):
        open_presence("etcd://localhost")


@pytest.mark.redis
async def test_open_presence_redis(redis_clean_url: str) -> None:
    presence = open_presence(redis_clean_url)
    assert isinstance(presence, RedisPresence)
    assert await presence.join("r", "lea", "c1", TTL) is True
    await presence.close()
