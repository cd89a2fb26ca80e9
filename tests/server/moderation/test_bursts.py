"""The burst detector (preau/server/moderation/bursts.py) on a fake clock."""

from __future__ import annotations

from preau.server.directory.model import Member, Profile
from preau.server.moderation.bursts import STAFF_FACTOR, BurstDetector
from preau.server.ratelimit.memory import MemoryRateLimiter
from preau.server.ratelimit.spread import MemorySpread

WINDOW_S = 600.0


class Clock:
    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s

    @property
    def ms(self) -> int:
        return int(self.s * 1000)


def detector(clock: Clock, rooms: int = 3) -> BurstDetector:
    return BurstDetector(MemorySpread(), rooms, WINDOW_S)


PUPIL = Member("p1", "s", Profile.PUPIL, "Léa Martin")
TEACHER = Member("t1", "s", Profile.TEACHER, "Claire Lefèvre")


async def test_many_rooms_at_once_is_a_burst_one_room_never_is() -> None:
    clock = Clock()
    bursts = detector(clock)
    for _ in range(50):  # a long chat in one room
        assert not await bursts.observe(PUPIL, "room-1", clock.ms)
        clock.s += 1
    assert not await bursts.observe(PUPIL, "room-2", clock.ms)
    assert not await bursts.observe(PUPIL, "room-3", clock.ms)
    assert await bursts.observe(PUPIL, "room-4", clock.ms)  # the fourth room in minutes
    assert sorted(await bursts.recent_rooms("p1", clock.ms)) == ["room-1", "room-2", "room-3",
                                                                 "room-4"]
    assert await bursts.recent_rooms("someone-else", clock.ms) == []


async def test_rooms_spread_over_time_are_not_a_burst() -> None:
    clock = Clock()
    bursts = detector(clock)
    for i in range(12):
        assert not await bursts.observe(PUPIL, f"room-{i}", clock.ms)
        clock.s += WINDOW_S / 3 + 1  # one new room every ~3.3 minutes
    # Old rooms are forgotten after the window.
    assert len(await bursts.recent_rooms("p1", clock.ms)) <= 3


async def test_teachers_get_more_room() -> None:
    clock = Clock()
    bursts = detector(clock)
    allowed = [not await bursts.observe(TEACHER, f"class-{i}", clock.ms)
               for i in range(3 * STAFF_FACTOR + 1)]
    assert allowed == [True] * (3 * STAFF_FACTOR) + [False]
    # People are counted apart.
    assert not await bursts.observe(PUPIL, "class-0", clock.ms)


async def test_the_window_is_a_window_not_a_refilling_bucket() -> None:
    # issue 21: with a bucket, 4 rooms in a minute then a 5th 16 s later was
    # not a burst (tokens had refilled); within one window it is.
    clock = Clock()
    bursts = detector(clock, rooms=4)
    for i in range(4):
        assert not await bursts.observe(PUPIL, f"room-{i}", clock.ms)
        clock.s += 15
    clock.s += 16
    assert await bursts.observe(PUPIL, "room-4", clock.ms)
    # Rooms leave the count exactly when their post is older than the window.
    clock.s += WINDOW_S
    assert not await bursts.observe(PUPIL, "room-5", clock.ms)


async def test_admit_takes_the_rate_first_and_counts_only_what_it_allows() -> None:
    # What ChatService.send asks before a post (memory here; the one-round-trip
    # Redis script: tests/server/ratelimit/test_spread.py).
    clock = Clock()
    bursts = detector(clock, rooms=2)
    sends = MemoryRateLimiter(0.001, 3, clock=clock)
    assert await bursts.admit(sends, PUPIL, "room-1", clock.ms) == (None, False)
    assert await bursts.admit(sends, PUPIL, "room-2", clock.ms) == (None, False)
    assert await bursts.admit(sends, PUPIL, "room-3", clock.ms) == (None, True)  # a burst
    wait, burst = await bursts.admit(sends, PUPIL, "room-4", clock.ms)
    assert wait is not None  # the rate refuses first…
    assert not burst
    assert "room-4" not in await bursts.recent_rooms("p1", clock.ms)  # …and it is not counted
