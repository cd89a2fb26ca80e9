"""The port through which chat and moderation announce what concerns people.

``preau/server/notifications/service.py`` implements it (the composition root,
preau/server/app.py, hands it in); the services here never import it, and the
notification service decides who may be told (the circle of trust).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from preau.server.store import Message


class Notices(Protocol):
    async def about_room(
        self,
        kind: str,
        room_id: str,
        *,
        seq: int | None = None,
        actor_id: str | None = None,
        to: Iterable[str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Notify ``to`` (``None``: every reader of the room) of ``kind``,
        about message ``seq`` of the room (``None``: the room itself). Never
        the actor; never anyone who may not read the room."""

    async def message_posted(self, message: Message, *, urgent: bool = False) -> None:
        """A message reached the room's timeline: the people it concerns are
        told (a private message, an announcement to acknowledge). ``urgent``
        (an admin's, through quiet hours): its mails and pushes too. Without
        the outbox: the posting paths use ``posted`` or ``posted_now``."""

    async def posted_now(self, room_id: str, seq: int) -> None:
        """As ``posted``, awaited: a held message approved, a scheduled one
        delivered (their outbox row was written with them)."""

    def posted(self, room_id: str, seq: int) -> None:
        """A member's post was committed with its notification outbox row
        (preau/server/store/rows.py, ``insert_message``): its people are told
        after the sender's acknowledgement, exactly once (the outbox)."""

    async def withdraw(self, room_id: str, seq: int) -> None:
        """Message ``seq`` of the room was deleted or recalled: its
        notifications are withdrawn, live too."""
