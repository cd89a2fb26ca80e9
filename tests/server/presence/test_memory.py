"""What only MemoryPresence promises: a heartbeat never creates or revives an entry.

Everything both implementations promise is in test_contract.py, which runs on
memory and Redis alike."""

from __future__ import annotations

import pytest

from preau.server.presence.memory import MemoryPresence

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
