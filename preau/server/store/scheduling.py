"""Quiet hours and receipts in SQL: messages scheduled for the end of quiet
hours and their release, acknowledgements of announcements, read markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from preau.server.directory import quiet_hours
from preau.server.directory.model import RoomKind
from preau.server.store.attachments import follow_post
from preau.server.store.engine import Row, SqlBase, Transaction
from preau.server.store.records import (
    Message,
    MessageKind,
    PostOptions,
    ScheduledMessage,
)
from preau.server.store.rows import insert_message, message_at, message_by_txn, opt_int

SCHEDULED_COLUMNS = (
    "id, room_id, sender_id, txn, body, created_ms, release_ms, ack_required, seq"
)


class SchedulingStore(Protocol):
    """Quiet hours' scheduled messages, acknowledgements and read markers."""

    async def scheduled_messages(
        self, room_id: str, sender_id: str | None = None, limit: int = 100
    ) -> list[ScheduledMessage]:
        """Messages of a room waiting for quiet hours to end (of one sender if
        given), oldest first."""

    async def scheduled_message(self, room_id: str, scheduled_id: str) -> ScheduledMessage | None:
        """One message of the room still waiting for quiet hours to end; None
        if there is no such one (unknown, or posted already)."""

    async def due_scheduled(self, now_ms: int, limit: int) -> list[ScheduledMessage]:
        """The (at most ``limit``) messages still waiting whose time came at
        ``now_ms``, in the order they are to be posted (``release_waiting``)."""

    async def release_waiting(
        self, room_id: str, scheduled_id: str, message_id: str
    ) -> Message | None:
        """Post one waiting message now (one that ``due_scheduled`` listed),
        with its room's next seq and its author's txn: exactly once across
        nodes. None when it is not waiting any more (posted by another node,
        withdrawn) or its room is closed."""

    async def cancel_scheduled(
        self, room_id: str, scheduled_id: str, sender_id: str
    ) -> ScheduledMessage | None:
        """Withdraw a message still waiting for quiet hours to end, by its
        author; None when there is none such (released, cancelled, another's)."""

    async def release_now(
        self, room_id: str, scheduled_id: str, sender_id: str | None, now_ms: int,
        message_id: str,
    ) -> Message | None:
        """Post a waiting message at once (its author, or a room's moderator:
        ``sender_id`` None), once, with the room's next seq; None when there
        is none such waiting."""

    async def acknowledge(
        self, room_id: str, seq: int, person_id: str, now_ms: int
    ) -> tuple[Message, int, bool] | None:
        """Record that ``person_id`` read announcement ``seq``: ``(message,
        acknowledged at, created)``; again: the first time, ``created`` False.
        ``None`` when there is no such announcement to acknowledge (not a
        message, redacted, no acknowledgement asked, or one's own)."""

    async def acknowledgements(self, room_id: str, seq: int) -> list[tuple[str, int]]:
        """``(person id, at ms)`` of everyone who acknowledged a message, in order."""

    async def acknowledged_by(self, room_id: str, person_id: str, limit: int) -> list[int]:
        """The seqs of the (at most ``limit`` latest) announcements a person
        acknowledged in a room, ascending."""

    async def mark_read(self, room_id: str, person_id: str, seq: int, now_ms: int) -> int:
        """Move a person's read marker forward to ``seq`` (capped at the room's
        head; never backwards); return the marker now. ``LookupError``: no room."""

    async def read_markers(self, room_id: str) -> dict[str, int]:
        """Person id → read marker, for everyone who has one in the room."""

    async def unread_counts(self, person_id: str, room_ids: Sequence[str]) -> dict[str, int]:
        """Room id → visible messages by others after the person's marker."""


class SchedulingSql(SqlBase, SchedulingStore):
    """Quiet-hours delivery and receipts in SQL."""

    # -- quiet hours ---------------------------------------------------------

    async def scheduled_messages(
        self, room_id: str, sender_id: str | None = None, limit: int = 100
    ) -> list[ScheduledMessage]:
        sql = (f"SELECT {SCHEDULED_COLUMNS} FROM scheduled_messages"
               " WHERE room_id = $1 AND seq IS NULL")
        args: list[Any] = [room_id, limit]
        if sender_id is not None:
            args.append(sender_id)
            sql += " AND sender_id = $3"
        sql += " ORDER BY created_ms, id LIMIT $2"
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql, *args)
        return [to_scheduled(r) for r in rows]

    async def scheduled_message(self, room_id: str, scheduled_id: str) -> ScheduledMessage | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {SCHEDULED_COLUMNS} FROM scheduled_messages"
                " WHERE room_id = $1 AND id = $2 AND seq IS NULL", room_id, scheduled_id)
        return None if row is None else to_scheduled(row)

    async def due_scheduled(self, now_ms: int, limit: int) -> list[ScheduledMessage]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {SCHEDULED_COLUMNS} FROM scheduled_messages WHERE seq IS NULL"
                " AND release_ms <= $1 ORDER BY release_ms, created_ms, id LIMIT $2",
                now_ms, limit,
            )
        return [to_scheduled(r) for r in rows]

    async def cancel_scheduled(
        self, room_id: str, scheduled_id: str, sender_id: str
    ) -> ScheduledMessage | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "DELETE FROM scheduled_messages WHERE id = $1 AND room_id = $2"
                f" AND sender_id = $3 AND seq IS NULL RETURNING {SCHEDULED_COLUMNS}",
                scheduled_id, room_id, sender_id,
            )
        return None if row is None else to_scheduled(row)

    async def release_now(
        self, room_id: str, scheduled_id: str, sender_id: str | None, now_ms: int,
        message_id: str,
    ) -> Message | None:
        sql = ("UPDATE scheduled_messages SET release_ms = $3 WHERE id = $1 AND room_id = $2"
               " AND seq IS NULL")
        args: list[Any] = [scheduled_id, room_id, now_ms]
        if sender_id is not None:
            sql += " AND sender_id = $4"
            args.append(sender_id)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(sql + " RETURNING id", *args)
        if row is None:
            return None
        return await self.release_waiting(room_id, scheduled_id, message_id)

    async def release_waiting(
        self, room_id: str, scheduled_id: str, message_id: str
    ) -> Message | None:
        """Post one scheduled message, once: of nodes releasing at the same
        time, the one whose UPDATE claims the row posts it; the others roll back."""
        async with self._engine.transaction() as tx:
            # The room's row first, as a post locks it: no deadlock.
            # (A closed conversation takes nothing more; closing it withdrew
            # what was waiting, in the same transaction.)
            room = await tx.fetchrow(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 AND closed_ms IS NULL"
                " RETURNING last_seq",
                room_id,
            )
            row = await tx.fetchrow(
                "UPDATE scheduled_messages SET seq = $2 WHERE id = $1 AND seq IS NULL"
                f" RETURNING {SCHEDULED_COLUMNS}",
                scheduled_id, None if room is None else int(room["last_seq"]),
            )
            if room is None or row is None:
                await tx.rollback()
                return None
            waiting = to_scheduled(row)
            files = await follow_post(tx, room_id, seq=int(room["last_seq"]),
                                      scheduled_id=scheduled_id)
            message = Message(room_id, int(room["last_seq"]), message_id, waiting.sender_id,
                              waiting.txn, waiting.body, waiting.created_ms,
                              ack_required=waiting.ack_required, attachments=files)
            if not await insert_message(tx, message, notify=True):
                # The author's retry was posted directly after the window
                # opened: that post stands, and this seq goes back.
                existing = await message_by_txn(tx, room_id, waiting.sender_id, waiting.txn)
                assert existing is not None
                await tx.execute(
                    "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id
                )
                await tx.execute(
                    "UPDATE scheduled_messages SET seq = $2 WHERE id = $1",
                    scheduled_id, existing.seq,
                )
                # Its files are reached through the scheduled row (now at that seq).
                await tx.execute(
                    "UPDATE attachments SET seq = NULL WHERE scheduled_id = $1", scheduled_id)
                return None
        return message

    # -- acknowledgements and read markers -----------------------------------

    async def acknowledge(
        self, room_id: str, seq: int, person_id: str, now_ms: int
    ) -> tuple[Message, int, bool] | None:
        async with self._engine.transaction() as tx:
            message = await message_at(tx, room_id, seq)
            if (
                message is None or message.kind is not MessageKind.MESSAGE
                or message.redacted or not message.ack_required
                or message.sender_id == person_id
            ):
                await tx.rollback()
                return None
            inserted = await tx.execute(
                "INSERT INTO message_acks (room_id, seq, person_id, at_ms)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                room_id, seq, person_id, now_ms,
            )
            at = now_ms if inserted else int(await tx.fetchval(
                "SELECT at_ms FROM message_acks WHERE room_id = $1 AND seq = $2"
                " AND person_id = $3", room_id, seq, person_id,
            ))
        return message, at, bool(inserted)

    async def acknowledgements(self, room_id: str, seq: int) -> list[tuple[str, int]]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, at_ms FROM message_acks WHERE room_id = $1 AND seq = $2"
                " ORDER BY at_ms, person_id",
                room_id, seq,
            )
        return [(str(r["person_id"]), int(r["at_ms"])) for r in rows]

    async def acknowledged_by(self, room_id: str, person_id: str, limit: int) -> list[int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT seq FROM message_acks WHERE room_id = $1 AND person_id = $2"
                " ORDER BY seq DESC LIMIT $3",
                room_id, person_id, limit,
            )
        return sorted(int(r["seq"]) for r in rows)

    async def mark_read(self, room_id: str, person_id: str, seq: int, now_ms: int) -> int:
        async with self._engine.transaction() as tx:
            head = await tx.fetchval("SELECT last_seq FROM rooms WHERE id = $1", room_id)
            if head is None:
                raise LookupError(f"no room {room_id!r}")
            seq = min(seq, int(head))
            await tx.execute(
                "INSERT INTO read_markers (room_id, person_id, seq, at_ms)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, person_id) DO UPDATE"
                " SET seq = excluded.seq, at_ms = excluded.at_ms"
                " WHERE read_markers.seq < excluded.seq",
                room_id, person_id, seq, now_ms,
            )
            marker = await tx.fetchval(
                "SELECT seq FROM read_markers WHERE room_id = $1 AND person_id = $2",
                room_id, person_id,
            )
        return int(marker)

    async def read_markers(self, room_id: str) -> dict[str, int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, seq FROM read_markers WHERE room_id = $1", room_id
            )
        return {str(r["person_id"]): int(r["seq"]) for r in rows}

    async def unread_counts(self, person_id: str, room_ids: Sequence[str]) -> dict[str, int]:
        if not room_ids:
            return {}
        marks = ", ".join(f"${i + 2}" for i in range(len(room_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT m.room_id, COUNT(*) AS n FROM messages m"
                " LEFT JOIN read_markers r ON r.room_id = m.room_id AND r.person_id = $1"
                f" WHERE m.room_id IN ({marks}) AND m.seq > COALESCE(r.seq, 0)"
                " AND m.kind = 'message' AND m.redacted_seq IS NULL AND m.sender_id <> $1"
                " GROUP BY m.room_id",
                person_id, *room_ids,
            )
        counts = dict.fromkeys(room_ids, 0)
        counts.update({str(r["room_id"]): int(r["n"]) for r in rows})
        return counts


async def quiet_release(
    tx: Transaction, room: Row, sender_id: str, options: PostOptions, now_ms: int
) -> int | None:
    """When a post to ``room`` may be delivered: ``None`` for now; else the
    opening of the room's delivery window (preau/server/directory/quiet_hours.py).

    Only messages that reach pupils or parents wait: class and parents' rooms
    always hold some, a conversation is checked (staff-to-staff is never held).
    """
    window = quiet_hours.effective_window(options.quiet_hours, str(room["quiet_hours"]))
    release = quiet_hours.release_time(now_ms, options.timezone, window)
    if release is None:
        return None
    if room["kind"] == RoomKind.PRIVATE.value and not await reaches_pupils_or_parents(
        tx, str(room["id"]), sender_id
    ):
        return None
    return release


async def reaches_pupils_or_parents(tx: Transaction, room_id: str, sender_id: str) -> bool:
    """Whether a private conversation has a pupil or a parent besides the sender
    (only their messages wait for the end of quiet hours)."""
    found = await tx.fetchval(
        "SELECT 1 FROM room_members_explicit e JOIN people p ON p.id = e.person_id"
        " WHERE e.room_id = $1 AND e.person_id <> $2"
        " AND p.profile IN ('pupil', 'parent') LIMIT 1",
        room_id, sender_id,
    )
    return bool(found)


def to_scheduled(r: Row) -> ScheduledMessage:
    return ScheduledMessage(
        id=r["id"], room_id=r["room_id"], sender_id=r["sender_id"], txn=r["txn"],
        body=r["body"], created_ms=int(r["created_ms"]), release_ms=int(r["release_ms"]),
        ack_required=bool(r["ack_required"]), seq=opt_int(r["seq"]),
    )
