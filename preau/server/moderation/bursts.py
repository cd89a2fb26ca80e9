"""Burst detection: the hijacked-account defence.

In March 2024 hijacked pupil accounts sent threats to thousands of families
within minutes, and ENTs could only switch messaging off for everyone. Préau
watches each account's *spread*: how many different rooms (class rooms,
parents' rooms, conversations) it posts into within a sliding window. A pupil
or a parent whose post would reach more than ``rooms`` rooms within
``window_s`` is paused before that post is delivered (``suspended`` on every
node) and the school's admins are alerted; an admin resumes the account after
checking. Teachers and staff, who legitimately post to all their classes, get
four times the allowance.

The count is a true window of distinct rooms, shared by every node
(preau/server/ratelimit/spread.py): four rooms in a minute and a fifth sixteen
seconds later are five rooms, whatever the spacing.
"""

from __future__ import annotations

from preau.server.directory.model import Member, Profile
from preau.server.ratelimit import RateLimiter
from preau.server.ratelimit.redis import RedisRateLimiter
from preau.server.ratelimit.spread import RedisSpread, SpreadCounter

STAFF_FACTOR = 4


class BurstDetector:
    def __init__(self, spread: SpreadCounter, rooms: int, window_s: float) -> None:
        """``rooms``: the most rooms a pupil or parent may post into within
        ``window_s`` (teachers and staff: ``STAFF_FACTOR`` times as many)."""
        self._spread = spread
        self._rooms = rooms
        self._window_ms = int(window_s * 1000)

    async def close(self) -> None:
        await self._spread.close()

    def limit_for(self, member: Member) -> int:
        staff = member.profile in (Profile.TEACHER, Profile.STAFF)
        return self._rooms * STAFF_FACTOR if staff else self._rooms

    async def observe(self, member: Member, room_id: str, now_ms: int) -> bool:
        """``member`` is about to post into ``room_id``: True when that post
        would make a burst (pause the account, refuse the post)."""
        count = await self._spread.add(member.id, room_id, now_ms, self._window_ms)
        return count > self.limit_for(member)

    async def admit(
        self, sends: RateLimiter, member: Member, room_id: str, now_ms: int
    ) -> tuple[float | None, bool]:
        """``member`` is about to post into ``room_id``: first their message
        rate (``sends.take``), then, if it allows the post, ``observe``.
        ``(wait, False)``: refused by the rate, the post not counted;
        ``(None, burst)``: allowed, ``burst`` as ``observe`` says. With both
        on the same Redis, one round trip for the two (issue 14)."""
        spread = self._spread
        if (isinstance(spread, RedisSpread) and isinstance(sends, RedisRateLimiter)
                and sends.url == spread.url):
            wait, count = await spread.take_then_add(sends, member.id, room_id, now_ms,
                                                     self._window_ms)
            return wait, wait is None and count > self.limit_for(member)
        wait = await sends.take(member.id)
        if wait is not None:
            return wait, False
        return None, await self.observe(member, room_id, now_ms)

    async def forget(self, person_id: str) -> None:
        """Start the person's count again (an admin resumed the account)."""
        await self._spread.forget(person_id)

    async def recent_rooms(self, person_id: str, now_ms: int) -> list[str]:
        """The rooms a person posted into within the window (every node's)."""
        return await self._spread.rooms(person_id, now_ms, self._window_ms)
