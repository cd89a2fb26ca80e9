"""The notification centre in SQL: one row per recipient (``notifications``).

Who is notified of what, and whether they may still read it, is decided by
``server/notifications/service.py``; this module only keeps the rows. Export,
erasure and the purge are in ``server/store/privacy.py`` with every other
table holding a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from server.store.engine import Row, SqlBase, new_id


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to store for ``person_id``."""

    person_id: str
    school_id: str
    kind: str
    room_id: str | None
    seq: int | None
    actor_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    person_id: str
    school_id: str
    kind: str
    room_id: str | None
    seq: int | None
    actor_id: str | None
    data: dict[str, Any]
    created_ms: int
    read_ms: int | None


_COLUMNS = "id, person_id, school_id, kind, room_id, seq, actor_id, data, created_ms, read_ms"


def _notification(r: Row) -> Notification:
    seq = r["seq"]
    read = r["read_ms"]
    return Notification(
        r["id"], r["person_id"], r["school_id"], r["kind"], r["room_id"],
        None if seq is None else int(seq), r["actor_id"], orjson.loads(r["data"]),
        int(r["created_ms"]), None if read is None else int(read),
    )


class NotificationStore(Protocol):
    """The notification centre: per person, read or unread."""

    async def add_notifications(
        self, items: Sequence[NewNotification], now_ms: int
    ) -> list[Notification]:
        """Store these notifications (one transaction); returns them with their ids."""

    async def notifications_of(
        self, person_id: str, before_ms: int | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]:
        """A person's notifications, newest first, created before ``before_ms``."""

    async def mark_notifications_read(
        self, person_id: str, ids: Sequence[str] | None, now_ms: int
    ) -> list[str]:
        """Mark these of the person's notifications read (``None``: all of
        them); returns the ids that changed. Others' ids change nothing."""

    async def withdraw_notifications(
        self, room_id: str, seq: int | None
    ) -> list[Notification]:
        """Delete the notifications about message ``seq`` of ``room_id``
        (``None``: about the room itself); returns what was deleted."""


class NotificationsSql(SqlBase, NotificationStore):
    """The notification centre's SQL (one transaction per method)."""

    async def add_notifications(
        self, items: Sequence[NewNotification], now_ms: int
    ) -> list[Notification]:
        if not items:
            return []
        stored = [
            Notification("n_" + new_id(), i.person_id, i.school_id, i.kind, i.room_id, i.seq,
                         i.actor_id, dict(i.data), now_ms, None)
            for i in items
        ]
        async with self._engine.transaction() as tx:
            await tx.executemany(
                f"INSERT INTO notifications ({_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [(n.id, n.person_id, n.school_id, n.kind, n.room_id, n.seq, n.actor_id,
                  orjson.dumps(n.data).decode(), n.created_ms, None) for n in stored],
            )
        return stored

    async def notifications_of(
        self, person_id: str, before_ms: int | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]:
        where = "person_id = $1 AND created_ms < $2"
        if unread_only:
            where += " AND read_ms IS NULL"
        top = (1 << 62) if before_ms is None else before_ms
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM notifications WHERE {where}"
                " ORDER BY created_ms DESC, id DESC LIMIT $3",
                person_id, top, limit,
            )
        return [_notification(r) for r in rows]

    async def mark_notifications_read(
        self, person_id: str, ids: Sequence[str] | None, now_ms: int
    ) -> list[str]:
        async with self._engine.transaction() as tx:
            if ids is None:
                rows = await tx.fetch(
                    "UPDATE notifications SET read_ms = $2"
                    " WHERE person_id = $1 AND read_ms IS NULL RETURNING id",
                    person_id, now_ms,
                )
            elif not ids:
                return []
            else:
                marks = ", ".join(f"${i + 3}" for i in range(len(ids)))
                rows = await tx.fetch(
                    "UPDATE notifications SET read_ms = $2 WHERE person_id = $1"
                    f" AND read_ms IS NULL AND id IN ({marks}) RETURNING id",
                    person_id, now_ms, *ids,
                )
        return sorted(r["id"] for r in rows)

    async def withdraw_notifications(
        self, room_id: str, seq: int | None
    ) -> list[Notification]:
        async with self._engine.transaction() as tx:
            if seq is None:
                rows = await tx.fetch(
                    f"DELETE FROM notifications WHERE room_id = $1 AND seq IS NULL"
                    f" RETURNING {_COLUMNS}", room_id)
            else:
                rows = await tx.fetch(
                    f"DELETE FROM notifications WHERE room_id = $1 AND seq = $2"
                    f" RETURNING {_COLUMNS}", room_id, seq)
        return [_notification(r) for r in rows]
