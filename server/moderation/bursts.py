"""Burst detection: the hijacked-account defence.

In March 2024 hijacked pupil accounts sent threats to thousands of families
within minutes, and ENTs could only switch messaging off for everyone. Préau
watches each account's *spread*: how many different rooms (class rooms,
parents' rooms, conversations) it posts into within a window. A pupil or a
parent who suddenly writes to many rooms at once is paused (``suspended`` on
every node, from the post transaction) and the school's admins are alerted;
an admin resumes the account after checking.

The count is a token bucket per person (server/ratelimit: shared by every node
on Redis): posting into a room one has not posted into within the window takes
a token; ``rooms`` tokens per ``window_s``. Which rooms are "recent" is kept per
node, so a person whose sockets are on two nodes may count a room twice:
the error is towards pausing sooner. Teachers and staff, who legitimately post
to all their classes, get four times the allowance.
"""

from __future__ import annotations

from collections import OrderedDict

from server.directory.model import Member, Profile
from server.ratelimit import RateLimiter

STAFF_FACTOR = 4
_MAX_TRACKED = 200_000  # (person, room) pairs remembered per node


class BurstDetector:
    def __init__(
        self,
        members: RateLimiter,
        staff: RateLimiter,
        window_s: float,
    ) -> None:
        """``members``: the bucket for pupils and parents; ``staff``: for
        teachers and staff (both built with rate = rooms / window)."""
        self._members = members
        self._staff = staff
        self._window_ms = int(window_s * 1000)
        self._recent: OrderedDict[tuple[str, str], int] = OrderedDict()

    async def close(self) -> None:
        await self._members.close()
        await self._staff.close()

    async def observe(self, member: Member, room_id: str, now_ms: int) -> bool:
        """A post by ``member`` in ``room_id`` was accepted: True when it makes
        a burst (pause the account)."""
        key = (member.id, room_id)
        last = self._recent.pop(key, None)
        self._recent[key] = now_ms
        self._forget(now_ms)
        if last is not None and now_ms - last < self._window_ms:
            return False  # the same conversation goes on
        bucket = self._staff if member.profile in (Profile.TEACHER, Profile.STAFF) \
            else self._members
        return await bucket.take(member.id) is not None

    def recent_rooms(self, person_id: str, now_ms: int) -> list[str]:
        """The rooms a person posted into within the window (on this node)."""
        return [room for (person, room), at in self._recent.items()
                if person == person_id and now_ms - at < self._window_ms]

    def _forget(self, now_ms: int) -> None:
        while self._recent:
            key, at = next(iter(self._recent.items()))
            if now_ms - at < self._window_ms and len(self._recent) <= _MAX_TRACKED:
                return
            del self._recent[key]
