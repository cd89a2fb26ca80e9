"""Presence: who is online in a room, across nodes.

Entries are per connection and carry an expiry: a node refreshes its entries
with heartbeats, so when a node dies its people disappear within the TTL, and
the first node whose heartbeat calls :meth:`Presence.expire` afterwards
announces their departure.
"""

from __future__ import annotations

from typing import Protocol


class Presence(Protocol):
    """Per-connection entries with an expiry, read per member.

    Guarantees:
    - ``online`` lists each member once however many connections they have,
      sorted; an entry not refreshed for ``ttl_s`` is not listed any more;
    - every departure is reported exactly once, by the call that makes it:
      ``leave`` (True) when a member's last live connection leaves, or
      ``expire`` when their last live entry has expired. Reading (``online``,
      ``join``) never removes an expired entry, so it cannot swallow a report;
    - ``conn_id`` names one connection in the whole deployment (with several
      nodes, make it unique across nodes, e.g. prefixed by the node id) and
      contains no ``|``.

    Across nodes (Redis), each call is atomic on the server; ``join``'s "first"
    and ``leave``'s "last" are exact for calls that do not overlap in time, and
    best effort for concurrent ones on the same member (two nodes may both see
    themselves first).
    """

    async def join(self, room: str, member_id: str, conn_id: str, ttl_s: float) -> bool:
        """Record a connection; True if the member had no live entry in the room before."""

    async def leave(self, room: str, member_id: str, conn_id: str) -> bool:
        """Forget a connection; True if it was there and the member has no live entry left.

        A True answer reports the departure: the member's expired entries
        go too, so ``expire`` will not report it a second time.
        """

    async def refresh(
        self, entries: list[tuple[str, str, str]], ttl_s: float
    ) -> list[tuple[str, str]]:
        """Extend ``(room, member_id, conn_id)`` entries (heartbeat).

        Whether an entry past its expiry comes back is the implementation's
        choice, and the answer says when it happened: the ``(room, member_id)``
        pairs that had no live entry before this call and have one now (the
        hub announces them again). The in-memory presence never revives an
        entry (nothing but expiry can lose one) and returns ``[]``; the Redis
        presence does (an upsert: a Redis restart loses every entry, and the
        hub's list of open connections is the truth).
        """

    async def online(self, room: str) -> list[str]:
        """Members with at least one live entry, sorted."""

    async def expire(self) -> list[tuple[str, str]]:
        """Remove expired entries; the ``(room, member_id)`` pairs whose last live entry went.

        Each such departure is reported by exactly one call, on whichever
        node runs it (the removal is atomic), so the hub's heartbeat can call
        it on every node and publish ``presence.leave`` for what it returns.
        """

    async def close(self) -> None:
        """Release connections (nothing to do in memory)."""
