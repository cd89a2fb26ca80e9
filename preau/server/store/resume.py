"""A resume with ``since``: what a returning client missed in one room, read in
one transaction (issue 14, aim 4: a reconnection storm).

Before, a resume read the room's head, then the missed messages, then the
reactions and then the edits that changed meanwhile, each in its own
transaction: four store round trips per socket coming back. ``resume`` reads
them together, from one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from preau.server.store.edits import Edit, edits_changed_in
from preau.server.store.engine import SqlBase
from preau.server.store.reactions import Reactions, reactions_changed_in
from preau.server.store.records import Message
from preau.server.store.rooms import messages_after_in


@dataclass(frozen=True, slots=True)
class Resume:
    """One room's missed state as a client coming back with ``since`` sees it."""

    head: int  # the room's last committed seq (0: empty or unknown room)
    messages: list[Message]  # seq > after, oldest first, at most ``limit``
    reactions: list[Reactions]  # as ``reactions_changed(room, since, 0, person, limit)``
    edits: list[Edit]  # as ``edits_changed(room, since, limit)``


class ResumeStore(Protocol):
    async def resume(self, room_id: str, since: int, after: int, person_id: str, limit: int
                     ) -> Resume:
        """The room's head, its messages above ``after`` (the first ``limit``),
        and the reactions and texts changed since the head was ``since``, as
        ``person_id`` sees them (the newest ``limit`` of each), from one
        snapshot. Nothing is read beyond the head when ``since`` is above it
        (the caller refuses such a resume)."""


class ResumeSql(SqlBase, ResumeStore):
    async def resume(self, room_id: str, since: int, after: int, person_id: str, limit: int
                     ) -> Resume:
        async with self._engine.transaction(readonly=True) as tx:
            value = await tx.fetchval("SELECT last_seq FROM rooms WHERE id = $1", room_id)
            head = 0 if value is None else int(value)
            if since > head or limit <= 0:
                return Resume(head, [], [], [])
            messages = (await messages_after_in(tx, room_id, after, limit)
                        if after < head else [])
            reactions = await reactions_changed_in(tx, room_id, since, 0, person_id, limit)
            edits = await edits_changed_in(tx, room_id, since, limit)
        return Resume(head, messages, reactions, edits)
