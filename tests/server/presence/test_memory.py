"""MemoryPresence: per-connection entries with a TTL, read per member."""

from __future__ import annotations

import pytest

from server.presence.memory import MemoryPresence

TTL = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def presence(clock: FakeClock) -> MemoryPresence:
    return MemoryPresence(clock)


async def test_first_join_and_last_leave(presence: MemoryPresence) -> None:
    assert await presence.online("r") == []
    assert await presence.join("r", "lea", "c1", TTL) is True
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "c1") is True
    assert await presence.online("r") == []


async def test_several_connections_of_one_member(presence: MemoryPresence) -> None:
    assert await presence.join("r", "lea", "phone", TTL) is True
    assert await presence.join("r", "lea", "laptop", TTL) is False
    assert await presence.join("r", "lea", "laptop", TTL) is False  # same one again
    assert await presence.online("r") == ["lea"]  # once, whatever the count
    assert await presence.leave("r", "lea", "phone") is False
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "laptop") is True
    assert await presence.online("r") == []


async def test_members_are_listed_once_each_sorted(presence: MemoryPresence) -> None:
    for member, conn in [("zoe", "c1"), ("adam", "c2"), ("lea", "c3"), ("adam", "c4")]:
        await presence.join("r", member, conn, TTL)
    assert await presence.online("r") == ["adam", "lea", "zoe"]


async def test_rooms_are_separate(presence: MemoryPresence) -> None:
    assert await presence.join("r1", "lea", "c1", TTL) is True
    # The same connection in another room is a first join there.
    assert await presence.join("r2", "lea", "c1", TTL) is True
    assert await presence.leave("r1", "lea", "c1") is True
    assert await presence.online("r1") == []
    assert await presence.online("r2") == ["lea"]


async def test_leave_of_unknown_entries(presence: MemoryPresence) -> None:
    assert await presence.leave("r", "lea", "c1") is False
    await presence.join("r", "lea", "c1", TTL)
    assert await presence.leave("r", "hugo", "c1") is False
    assert await presence.leave("r", "lea", "other-conn") is False
    assert await presence.leave("elsewhere", "lea", "c1") is False
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "c1") is True
    assert await presence.leave("r", "lea", "c1") is False  # twice: no second "left"


async def test_entries_expire_after_ttl(presence: MemoryPresence, clock: FakeClock) -> None:
    await presence.join("r", "lea", "c1", TTL)
    clock.now += 10
    await presence.join("r", "hugo", "c2", TTL)
    clock.now += TTL - 10 - 0.001
    assert await presence.online("r") == ["hugo", "lea"]
    clock.now += 0.001  # lea's entry is TTL old
    assert await presence.online("r") == ["hugo"]
    clock.now += 10
    assert await presence.online("r") == []


async def test_join_after_expiry_is_a_first_join_again(
    presence: MemoryPresence, clock: FakeClock
) -> None:
    await presence.join("r", "lea", "c1", TTL)
    clock.now += TTL + 1
    assert await presence.join("r", "lea", "c2", TTL) is True
    assert await presence.online("r") == ["lea"]
    # Leaving the live connection is the last leave; the expired one is gone.
    assert await presence.leave("r", "lea", "c2") is True
    assert await presence.online("r") == []


async def test_one_expired_connection_does_not_hide_a_live_one(
    presence: MemoryPresence, clock: FakeClock
) -> None:
    await presence.join("r", "lea", "crashed-node", TTL)
    clock.now += TTL / 2
    await presence.join("r", "lea", "live", TTL)
    clock.now += TTL / 2 + 1
    assert await presence.online("r") == ["lea"]
    assert await presence.leave("r", "lea", "live") is True
    assert await presence.online("r") == []


async def test_refresh_extends_entries(presence: MemoryPresence, clock: FakeClock) -> None:
    await presence.join("r1", "lea", "c1", TTL)
    await presence.join("r2", "lea", "c1", TTL)
    await presence.join("r1", "hugo", "c2", TTL)
    for _ in range(5):  # heartbeats every TTL/3, as the hub sends them
        clock.now += TTL / 3
        await presence.refresh([("r1", "lea", "c1"), ("r2", "lea", "c1")], TTL)
    assert await presence.online("r1") == ["lea"]  # hugo was not refreshed
    assert await presence.online("r2") == ["lea"]
    clock.now += TTL
    assert await presence.online("r1") == []
    assert await presence.online("r2") == []


async def test_refresh_never_creates_an_entry(presence: MemoryPresence) -> None:
    await presence.join("r", "lea", "c1", TTL)
    await presence.refresh([("r", "hugo", "c9"), ("r", "lea", "c9"), ("other", "lea", "c1")], TTL)
    assert await presence.online("r") == ["lea"]
    assert await presence.online("other") == []
    assert await presence.leave("r", "lea", "c1") is True


async def test_refresh_after_expiry_does_not_bring_an_entry_back(
    presence: MemoryPresence, clock: FakeClock
) -> None:
    # Whether or not someone read the room in between, an entry past its TTL
    # is gone: a late heartbeat (from a node that stalled) cannot revive it.
    await presence.join("read", "lea", "c1", TTL)
    await presence.join("unread", "hugo", "c2", TTL)
    clock.now += TTL + 1
    assert await presence.online("read") == []  # "unread" is not looked at
    await presence.refresh([("read", "lea", "c1"), ("unread", "hugo", "c2")], TTL)
    assert await presence.online("read") == []
    assert await presence.online("unread") == []
    assert await presence.join("unread", "hugo", "c2", TTL) is True


async def test_ttl_is_per_join(presence: MemoryPresence, clock: FakeClock) -> None:
    await presence.join("r", "lea", "short", 5)
    await presence.join("r", "hugo", "long", 60)
    clock.now += 5
    assert await presence.online("r") == ["hugo"]
