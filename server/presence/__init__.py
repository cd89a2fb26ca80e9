"""Presence: who is online in a room, across nodes.

Entries are per connection and carry an expiry: a node refreshes its entries
with heartbeats, so when a node dies its people disappear within the TTL.
"""

from __future__ import annotations

from typing import Protocol


class Presence(Protocol):
    """Guarantees: ``online`` lists each member once however many connections
    they have; an entry not refreshed for ``ttl_s`` is gone."""

    async def join(self, room: str, member_id: str, conn_id: str, ttl_s: float) -> bool:
        """Record a connection; True if the member was not online in the room before."""

    async def leave(self, room: str, member_id: str, conn_id: str) -> bool:
        """Forget a connection; True if it was the member's last one in the room."""

    async def refresh(self, entries: list[tuple[str, str, str]], ttl_s: float) -> None:
        """Extend ``(room, member_id, conn_id)`` entries (heartbeat)."""

    async def online(self, room: str) -> list[str]: ...
