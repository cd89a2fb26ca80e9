"""In-process presence (embedded default, and the reference for the contract tests)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable


class MemoryPresence:
    """The Presence Protocol in one process's memory.

    Expired entries stay until :meth:`expire` (or the member's last ``leave``)
    removes them, so that every departure is reported once; the hub's
    heartbeat calls ``expire`` every few seconds, which bounds them.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # room → member → conn → expiry
        self._rooms: defaultdict[str, dict[str, dict[str, float]]] = defaultdict(dict)

    def _live(self, room: str, member_id: str) -> list[str]:
        conns = self._rooms.get(room, {}).get(member_id, {})
        now = self._clock()
        return [c for c, exp in conns.items() if exp > now]

    async def join(self, room: str, member_id: str, conn_id: str, ttl_s: float) -> bool:
        first = not self._live(room, member_id)
        self._rooms[room].setdefault(member_id, {})[conn_id] = self._clock() + ttl_s
        return first

    async def leave(self, room: str, member_id: str, conn_id: str) -> bool:
        members = self._rooms.get(room)
        if members is None or member_id not in members:
            return False
        conns = members[member_id]
        if conns.pop(conn_id, None) is None:
            # Not ours to report: the member's expired entries, if any, are
            # left for expire() to announce.
            return False
        if self._live(room, member_id):
            return False
        del members[member_id]  # expired entries included: this call reports the departure
        if not members:
            del self._rooms[room]
        return True

    async def refresh(
        self, entries: list[tuple[str, str, str]], ttl_s: float
    ) -> list[tuple[str, str]]:
        now = self._clock()
        for room, member_id, conn_id in entries:
            conns = self._rooms.get(room, {}).get(member_id)
            # An entry past its expiry is gone, removed yet or not: a late
            # heartbeat (from a node that stalled) must not revive it here.
            if conns is not None and conns.get(conn_id, now) > now:
                conns[conn_id] = now + ttl_s
        return []

    async def online(self, room: str) -> list[str]:
        members = self._rooms.get(room, {})
        return sorted(m for m in members if self._live(room, m))

    async def expire(self) -> list[tuple[str, str]]:
        now = self._clock()
        gone: list[tuple[str, str]] = []
        for room, members in list(self._rooms.items()):
            for member_id, conns in list(members.items()):
                for conn_id in [c for c, exp in conns.items() if exp <= now]:
                    del conns[conn_id]
                if not conns:
                    del members[member_id]
                    gone.append((room, member_id))
            if not members:
                del self._rooms[room]
        return gone

    async def close(self) -> None:
        """Nothing to release."""
