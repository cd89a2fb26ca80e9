"""The port through which calls announce what concerns people (a call started
in their class room); ``preau/server/notifications/service.py`` implements it, the
composition root (preau/server/app.py) hands it in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class CallNotices(Protocol):
    async def about_room(
        self, kind: str, room_id: str, *, seq: int | None = None,
        actor_id: str | None = None, to: Iterable[str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Notify ``to`` (``None``: every reader of the room) of ``kind``;
        never the actor, never anyone who may not read the room."""
