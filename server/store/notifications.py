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
from server.store.records import AuditAction
from server.store.rows import audit


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


    async def notification_preferences(self, person_ids: Sequence[str]) -> dict[
        str, dict[str, str]
    ]:
        """Person id → their chosen channel per kind (kinds never chosen are absent)."""

    async def set_notification_preferences(
        self, person_id: str, channels: dict[str, str | None], now_ms: int
    ) -> None:
        """Record the person's choices (``None``: back to the default)."""

    async def school_notification_rules(self, school_id: str) -> dict[str, str]:
        """Kind → ``on`` or ``off``: what the school forces."""

    async def set_school_notification_rules(
        self, school_id: str, rules: dict[str, str | None], actor_id: str, now_ms: int
    ) -> None:
        """Force kinds on or off (``None``: the person decides), audited as
        ``school.settings`` in the same transaction."""


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

    async def notification_preferences(self, person_ids: Sequence[str]) -> dict[
        str, dict[str, str]
    ]:
        if not person_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(person_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, kind, channel FROM notification_preferences"
                f" WHERE person_id IN ({marks})", *person_ids)
        found: dict[str, dict[str, str]] = {}
        for r in rows:
            found.setdefault(r["person_id"], {})[r["kind"]] = r["channel"]
        return found

    async def set_notification_preferences(
        self, person_id: str, channels: dict[str, str | None], now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            for kind, channel in sorted(channels.items()):
                if channel is None:
                    await tx.execute(
                        "DELETE FROM notification_preferences WHERE person_id = $1"
                        " AND kind = $2", person_id, kind)
                else:
                    await tx.execute(
                        "INSERT INTO notification_preferences (person_id, kind, channel,"
                        " updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (person_id, kind)"
                        " DO UPDATE SET channel = $3, updated_ms = $4",
                        person_id, kind, channel, now_ms)

    async def school_notification_rules(self, school_id: str) -> dict[str, str]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT kind, forced FROM school_notification_rules WHERE school_id = $1",
                school_id)
        return {r["kind"]: r["forced"] for r in rows}

    async def set_school_notification_rules(
        self, school_id: str, rules: dict[str, str | None], actor_id: str, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            for kind, forced in sorted(rules.items()):
                if forced is None:
                    await tx.execute(
                        "DELETE FROM school_notification_rules WHERE school_id = $1"
                        " AND kind = $2", school_id, kind)
                else:
                    await tx.execute(
                        "INSERT INTO school_notification_rules (school_id, kind, forced,"
                        " updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (school_id, kind)"
                        " DO UPDATE SET forced = $3, updated_ms = $4",
                        school_id, kind, forced, now_ms)
            await audit(tx, school_id, None, actor_id, AuditAction.SCHOOL_SETTINGS, now_ms,
                        details={"notifications": rules})
