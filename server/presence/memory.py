"""In-process presence (embedded default, and the reference for the contract tests)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable


class MemoryPresence:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # room → member → conn → expiry
        self._rooms: defaultdict[str, dict[str, dict[str, float]]] = defaultdict(dict)

    def _live(self, room: str, member_id: str) -> dict[str, float]:
        conns = self._rooms.get(room, {}).get(member_id, {})
        now = self._clock()
        for conn_id in [c for c, exp in conns.items() if exp <= now]:
            del conns[conn_id]
        return conns

    async def join(self, room: str, member_id: str, conn_id: str, ttl_s: float) -> bool:
        first = not self._live(room, member_id)
        self._rooms[room].setdefault(member_id, {})[conn_id] = self._clock() + ttl_s
        return first

    async def leave(self, room: str, member_id: str, conn_id: str) -> bool:
        members = self._rooms.get(room)
        if members is None or member_id not in members:
            return False
        conns = members[member_id]
        had = conn_id in conns
        conns.pop(conn_id, None)
        if self._live(room, member_id):
            return False
        del members[member_id]
        if not members:
            del self._rooms[room]
        return had

    async def refresh(self, entries: list[tuple[str, str, str]], ttl_s: float) -> None:
        now = self._clock()
        for room, member_id, conn_id in entries:
            conns = self._rooms.get(room, {}).get(member_id)
            # An entry past its expiry is gone, pruned yet or not: a late
            # heartbeat must not revive it (the answer would depend on whether
            # someone happened to read the room in between).
            if conns is not None and conns.get(conn_id, now) > now:
                conns[conn_id] = now + ttl_s

    async def online(self, room: str) -> list[str]:
        members = self._rooms.get(room, {})
        return sorted(m for m in list(members) if self._live(room, m))
