"""Rooms and messages in SQL: conversations, parents' rooms, the timeline
(gapless per-room sequence numbers, idempotent appends) and history pages.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from preau.server.directory.model import Room, RoomKind
from preau.server.store.engine import SqlBase, Transaction, new_id
from preau.server.store.folding import fold
from preau.server.store.records import Message
from preau.server.store.rows import (
    MESSAGE_COLUMNS,
    ROOM_COLUMNS,
    bump_directory,
    insert_message,
    message_by_txn,
    to_message,
    to_room,
)


class RoomStore(Protocol):
    """Rooms (class, parents', private conversations) and their timelines."""

    async def get_room(self, room_id: str) -> Room | None:
        """A room; a private conversation comes with its explicit ``members``."""

    async def open_conversation(
        self, school_id: str, people: frozenset[str], name: str, pair_key: str | None,
        now_ms: int, *, opener_id: str | None = None,
    ) -> tuple[Room, bool]:
        """Create a private conversation of ``people`` (the opener, ``opener_id``,
        included); ``(room, created)``. With a ``pair_key`` (one-to-one), an
        existing open conversation of that key is returned instead, even under
        a race (closing one clears its key)."""

    async def conversations_of(self, person_id: str) -> list[Room]:
        """The private conversations ``person_id`` may still read, by name
        (``members``: the people who may still read each)."""

    async def conversations_in_school(self, school_id: str) -> list[Room]:
        """Every private conversation of the school, closed ones included,
        with the people who may still read each."""

    async def conversations_closed_since(
        self, since_ms: int
    ) -> list[tuple[Room, str]]:
        """Conversations closed at or after ``since_ms``, each with who may
        still read it and why it closed (a broker resync tells them again)."""

    async def close_conversation(
        self, room_id: str, reason: str, readers: frozenset[str], now_ms: int
    ) -> bool:
        """Close a conversation (nobody posts; ``reason`` recorded) if it is
        open (withdrawing messages still waiting for quiet hours), and take it
        away from its members not in ``readers``, for good.
        True if anything changed (once across nodes: the first caller wins)."""

    async def ensure_parents_room(
        self, school_id: str, class_id: str | None, now_ms: int
    ) -> tuple[Room, bool]:
        """The class's parents' room (``class_id`` None: the school-wide one),
        created if missing (then the school's directory version moves);
        ``(room, created)``. ``LookupError`` for a class not in the school."""

    async def room_head(self, room_id: str) -> int:
        """The last committed sequence number of a room (0 when empty)."""

    async def append_message(
        self, room_id: str, sender_id: str, txn: str, body: str, message_id: str, now_ms: int
    ) -> tuple[Message, bool]:
        """Commit a message with the room's next sequence number.

        Idempotent by ``(room_id, sender_id, txn)``: returns ``(message, created)``."""

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        """Messages with ``seq > after_seq``, oldest first, at most ``limit``."""

    async def search_messages(self, room_id: str, words: str, limit: int) -> list[Message]:
        """The room's messages (not redacted) whose text contains ``words``
        (case folded; ``%`` and ``_`` taken literally), newest ``limit``,
        oldest first."""

    async def messages_before(self, room_id: str, before_seq: int, limit: int) -> list[Message]:
        """The ``limit`` messages just below ``before_seq``, oldest first."""


class RoomsSql(SqlBase, RoomStore):
    """Rooms and messages in SQL."""

    # -- chat --------------------------------------------------------------

    async def get_room(self, room_id: str) -> Room | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1", room_id)
            return None if row is None else await _with_members(tx, to_room(row))

    # -- conversations and parents' rooms ------------------------------------

    async def open_conversation(
        self, school_id: str, people: frozenset[str], name: str, pair_key: str | None,
        now_ms: int, *, opener_id: str | None = None,
    ) -> tuple[Room, bool]:
        async with self._engine.transaction() as tx:
            if pair_key is not None:
                existing = await _room_by_pair(tx, pair_key)
                if existing is not None:
                    return existing, False
            room_id = new_id()
            inserted = await tx.execute(
                "INSERT INTO rooms (id, school_id, kind, name, created_ms, pair_key, opener_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                room_id, school_id, RoomKind.PRIVATE.value, name, now_ms, pair_key, opener_id,
            )
            if not inserted and pair_key is not None:  # opened at the same time elsewhere
                existing = await _room_by_pair(tx, pair_key)
                if existing is not None:
                    return existing, False
            await tx.executemany(
                "INSERT INTO room_members_explicit (room_id, person_id) VALUES ($1, $2)",
                [(room_id, person_id) for person_id in sorted(people)],
            )
        room = Room(room_id, school_id, RoomKind.PRIVATE, name, members=frozenset(people),
                    opener_id=opener_id)
        return room, True

    async def conversations_of(self, person_id: str) -> list[Room]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id IN"
                " (SELECT room_id FROM room_members_explicit"
                "  WHERE person_id = $1 AND left_ms IS NULL)",
                person_id,
            )
            rooms = [await _with_members(tx, to_room(r)) for r in rows]
        return sorted(rooms, key=lambda r: (r.name, r.id))

    async def conversations_in_school(self, school_id: str) -> list[Room]:
        async with self._engine.transaction(readonly=True, bulk=True) as tx:
            rows = await tx.fetch(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE school_id = $1 AND kind = $2",
                school_id, RoomKind.PRIVATE.value,
            )
            members = await tx.fetch(
                "SELECT e.room_id, e.person_id FROM room_members_explicit e"
                " JOIN rooms r ON r.id = e.room_id"
                " WHERE r.school_id = $1 AND r.kind = $2 AND e.left_ms IS NULL",
                school_id, RoomKind.PRIVATE.value,
            )
        by_room: dict[str, set[str]] = {}
        for m in members:
            by_room.setdefault(str(m["room_id"]), set()).add(str(m["person_id"]))
        return [
            dataclasses.replace(to_room(r), members=frozenset(by_room.get(str(r["id"]), ())))
            for r in rows
        ]

    async def conversations_closed_since(
        self, since_ms: int
    ) -> list[tuple[Room, str]]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {ROOM_COLUMNS}, closed_reason FROM rooms"
                " WHERE kind = $1 AND closed_ms >= $2 ORDER BY closed_ms",
                RoomKind.PRIVATE.value, since_ms,
            )
            return [(await _with_members(tx, to_room(r)), str(r["closed_reason"] or ""))
                    for r in rows]

    async def close_conversation(
        self, room_id: str, reason: str, readers: frozenset[str], now_ms: int
    ) -> bool:
        async with self._engine.transaction() as tx:
            closed = await tx.execute(
                "UPDATE rooms SET closed_ms = $2, closed_reason = $3, pair_key = NULL"
                " WHERE id = $1 AND kind = $4 AND closed_ms IS NULL",
                room_id, now_ms, reason, RoomKind.PRIVATE.value,
            )
            if closed:  # what waited for quiet hours is never delivered now
                await tx.execute(
                    "DELETE FROM scheduled_messages WHERE room_id = $1 AND seq IS NULL", room_id
                )
            rows = await tx.fetch(
                "SELECT person_id FROM room_members_explicit"
                " WHERE room_id = $1 AND left_ms IS NULL",
                room_id,
            )
            leaving = sorted(str(r["person_id"]) for r in rows)
            leaving = [p for p in leaving if p not in readers]
            if leaving:
                await tx.executemany(
                    "UPDATE room_members_explicit SET left_ms = $3"
                    " WHERE room_id = $1 AND person_id = $2 AND left_ms IS NULL",
                    [(room_id, p, now_ms) for p in leaving],
                )
        return bool(closed) or bool(leaving)

    async def ensure_parents_room(
        self, school_id: str, class_id: str | None, now_ms: int
    ) -> tuple[Room, bool]:
        async with self._engine.transaction() as tx:
            if class_id is None:
                name = "Parents de l'établissement"
            else:
                class_name = await tx.fetchval(
                    "SELECT name FROM classes WHERE id = $1 AND school_id = $2",
                    class_id, school_id,
                )
                if class_name is None:
                    raise LookupError(class_id)
                name = f"Parents {class_name}"
            inserted = await tx.execute(
                "INSERT INTO rooms (id, school_id, kind, name, class_id, created_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                new_id(), school_id, RoomKind.PARENTS.value, name, class_id, now_ms,
            )
            if inserted:  # the cached directories reload and list it
                await bump_directory(tx, school_id)
            if class_id is None:
                row = await tx.fetchrow(
                    f"SELECT {ROOM_COLUMNS} FROM rooms WHERE school_id = $1 AND kind = $2"
                    " AND class_id IS NULL",
                    school_id, RoomKind.PARENTS.value,
                )
            else:
                row = await tx.fetchrow(
                    f"SELECT {ROOM_COLUMNS} FROM rooms WHERE class_id = $1 AND kind = $2",
                    class_id, RoomKind.PARENTS.value,
                )
        assert row is not None
        return to_room(row), bool(inserted)

    async def room_head(self, room_id: str) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            value = await tx.fetchval("SELECT last_seq FROM rooms WHERE id = $1", room_id)
        return 0 if value is None else int(value)

    async def append_message(
        self, room_id: str, sender_id: str, txn: str, body: str, message_id: str, now_ms: int
    ) -> tuple[Message, bool]:
        """Raises ``LookupError`` for an unknown room."""
        async with self._engine.transaction() as tx:
            # Bump the counter first: on PostgreSQL this takes the room's row
            # lock until commit, so senders to one room queue here, seqs commit
            # in order (no gaps visible), and the duplicate check below cannot
            # race with a concurrent insert of the same txn.
            seq = await tx.fetchval(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
                room_id,
            )
            if seq is None:
                raise LookupError(f"no room {room_id!r}")
            message = Message(room_id, int(seq), message_id, sender_id, txn, body, now_ms)
            # The unique (room, sender, txn) index is the duplicate check: no
            # extra SELECT on the common path, where the txn is new.
            if not await insert_message(tx, message):
                existing = await message_by_txn(tx, room_id, sender_id, txn)
                await tx.rollback()  # give the seq back: a retry allocates nothing
                assert existing is not None
                return existing, False
        return message, True

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        if limit <= 0:  # SQLite reads a negative LIMIT as "no limit"
            return []
        async with self._engine.transaction(readonly=True) as tx:
            return await messages_after_in(tx, room_id, after_seq, limit)

    async def search_messages(self, room_id: str, words: str, limit: int) -> list[Message]:
        if limit <= 0 or not words:
            return []
        # Case and accents aside (preau/server/store/folding.py): « ecole » finds « École ».
        escaped = fold(words).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND kind = 'message'"
                f" AND redacted_seq IS NULL AND {self._engine.fold('body')} LIKE $2 ESCAPE '\\'"
                " ORDER BY seq DESC LIMIT $3",
                room_id, f"%{escaped}%", limit,
            )
        return [to_message(r) for r in reversed(rows)]

    async def messages_before(self, room_id: str, before_seq: int, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq < $2"
                " ORDER BY seq DESC LIMIT $3",
                room_id,
                before_seq,
                limit,
            )
        return [to_message(r) for r in reversed(rows)]


async def _with_members(tx: Transaction, room: Room) -> Room:
    """``room`` with its explicit members (private conversations only)."""
    if room.kind is not RoomKind.PRIVATE:
        return room
    rows = await tx.fetch(
        "SELECT person_id FROM room_members_explicit WHERE room_id = $1 AND left_ms IS NULL",
        room.id,
    )
    return dataclasses.replace(room, members=frozenset(r["person_id"] for r in rows))


async def _room_by_pair(tx: Transaction, pair_key: str) -> Room | None:
    row = await tx.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE pair_key = $1", pair_key)
    return None if row is None else await _with_members(tx, to_room(row))


async def messages_after_in(tx: Transaction, room_id: str, after_seq: int, limit: int
                            ) -> list[Message]:
    """``messages_after`` on an open transaction (``limit`` > 0)."""
    rows = await tx.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq > $2"
        " ORDER BY seq LIMIT $3",
        room_id, after_seq, limit,
    )
    return [to_message(r) for r in rows]
