"""The unit of work editing a message, and what a resume reads of edits.

``store.editing()`` opens one transaction and hands out an ``Editing``; the
decision (the author, the recall window, the room's and the person's state,
the word filter) is ``preau.server.chat.editing.edit_message``, read top to
bottom while the transaction is open, as for a post
(``preau/server/store/posting.py``). ``lock`` takes the message's row lock
first, so concurrent edits of one message (and a redaction racing an edit)
apply one after the other on PostgreSQL; SQLite serialises every writer.

An edit keeps the message's seq: it replaces ``body``, sets ``edited_ms``,
raises ``edit_rev`` and records the room's head in ``edit_head`` (migration
0032). The text it replaced goes to ``message_edits``, which only the audit
log reads and the audit retention purges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from preau.server.directory.model import Profile, RoomKind
from preau.server.moderation.rules import MemberState, RoomPolicy
from preau.server.moderation.wordfilter import WordLists
from preau.server.store.engine import SqlBase, Transaction
from preau.server.store.records import AuditAction, Message
from preau.server.store.reports import read_word_lists
from preau.server.store.rows import (
    MESSAGE_COLUMNS,
    POLICY_COLUMNS,
    audit,
    member_state,
    messaging_stopped,
    to_message,
    to_policy,
)


@dataclass(frozen=True, slots=True)
class EditedRoom:
    """The room of the message being edited, as the edit's transaction read it."""

    id: str
    school_id: str
    kind: RoomKind
    head: int  # the room's last seq now
    closed: bool
    policy: RoomPolicy


@dataclass(frozen=True, slots=True)
class Edit:
    """A message's latest text, as clients learn it (``chat.edited``)."""

    room_id: str
    seq: int
    body: str
    edited_ms: int
    rev: int


class Editing(Protocol):
    """One edit's transaction (see the module docstring)."""

    async def stopped(self, room_id: str, profile: Profile, person_id: str) -> str | None:
        """``'school'`` (kill switch on for ``profile``), ``'account'`` (paused) or None."""

    async def lock(self, room_id: str, seq: int) -> Message | None:
        """Message ``seq`` of the room under its row lock; None: no such
        message or not a message (a redaction)."""

    async def room(self, room_id: str) -> EditedRoom | None:
        """The room's kind, head, closing and policy."""

    async def member_state(self, room_id: str, person_id: str) -> MemberState:
        """The person's moderation state in the room."""

    async def word_lists(self, school_id: str) -> WordLists:
        """The school's word lists."""

    async def replace(self, message: Message, body: str, now_ms: int, head: int) -> Edit:
        """Give ``message`` its new text, keeping the one it replaces for the
        audit log; ``now_ms`` is moved past the message's last edit so that
        each edit's time is unique per message."""

    async def audit(
        self, school_id: str, room_id: str, actor_id: str, action: AuditAction, now_ms: int,
        **target: Any,
    ) -> None:
        """Write an audit entry in this transaction."""

    async def rollback(self) -> None:
        """Undo the whole transaction; no statement may follow."""


class EditStore(Protocol):
    def editing(self) -> AbstractAsyncContextManager[Editing]:
        """Open one edit's transaction (see the module docstring)."""

    async def edits_changed(self, room_id: str, since_head: int, limit: int) -> list[Edit]:
        """Messages edited while the room's head was at or above ``since_head``
        (the newest ``limit``, oldest first; redacted ones left out): what a
        resume with ``since`` must repaint."""


class SqlEditing:
    """``Editing`` on one open transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def stopped(self, room_id: str, profile: Profile, person_id: str) -> str | None:
        return await messaging_stopped(self._tx, room_id, profile, person_id)

    async def lock(self, room_id: str, seq: int) -> Message | None:
        # A no-op UPDATE takes the row lock on PostgreSQL before the read.
        locked = await self._tx.execute(
            "UPDATE messages SET edit_rev = edit_rev WHERE room_id = $1 AND seq = $2"
            " AND kind = 'message'",
            room_id, seq,
        )
        if not locked:
            return None
        row = await self._tx.fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2",
            room_id, seq,
        )
        return None if row is None else to_message(row)

    async def room(self, room_id: str) -> EditedRoom | None:
        row = await self._tx.fetchrow(
            f"SELECT id, school_id, kind, last_seq, closed_ms, {POLICY_COLUMNS}"
            " FROM rooms WHERE id = $1",
            room_id,
        )
        if row is None:
            return None
        return EditedRoom(
            id=str(row["id"]), school_id=str(row["school_id"]), kind=RoomKind(row["kind"]),
            head=int(row["last_seq"]), closed=row["closed_ms"] is not None,
            policy=to_policy(row),
        )

    async def member_state(self, room_id: str, person_id: str) -> MemberState:
        return await member_state(self._tx, room_id, person_id)

    async def word_lists(self, school_id: str) -> WordLists:
        return await read_word_lists(self._tx, school_id)

    async def replace(self, message: Message, body: str, now_ms: int, head: int) -> Edit:
        at = max(now_ms, (message.edited_ms or 0) + 1)
        rev = message.edit_rev + 1
        await self._tx.execute(
            "INSERT INTO message_edits (room_id, seq, rev, sender_id, body, edited_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            message.room_id, message.seq, rev, message.sender_id, message.body, at,
        )
        await self._tx.execute(
            "UPDATE messages SET body = $3, edited_ms = $4, edit_rev = $5, edit_head = $6"
            " WHERE room_id = $1 AND seq = $2",
            message.room_id, message.seq, body, at, rev, head,
        )
        return Edit(message.room_id, message.seq, body, at, rev)

    async def audit(
        self, school_id: str, room_id: str, actor_id: str, action: AuditAction, now_ms: int,
        **target: Any,
    ) -> None:
        await audit(self._tx, school_id, room_id, actor_id, action, now_ms, **target)

    async def rollback(self) -> None:
        await self._tx.rollback()


class EditsSql(SqlBase, EditStore):
    """Hands out ``SqlEditing`` units of work; the resume's read."""

    @asynccontextmanager
    async def editing(self) -> AsyncIterator[Editing]:
        async with self._engine.transaction() as tx:
            yield SqlEditing(tx)

    async def edits_changed(self, room_id: str, since_head: int, limit: int) -> list[Edit]:
        async with self._engine.transaction(readonly=True) as tx:
            return await edits_changed_in(tx, room_id, since_head, limit)


async def edits_changed_in(tx: Transaction, room_id: str, since_head: int, limit: int
                           ) -> list[Edit]:
    """``edits_changed`` on an open transaction (a resume reads it with the
    messages: preau/server/store/resume.py)."""
    rows = await tx.fetch(
        "SELECT room_id, seq, body, edited_ms, edit_rev FROM messages"
        " WHERE room_id = $1 AND edit_rev > 0 AND edit_head >= $2"
        " AND redacted_seq IS NULL ORDER BY seq DESC LIMIT $3",
        room_id, since_head, limit,
    )
    return [
        Edit(r["room_id"], int(r["seq"]), r["body"], int(r["edited_ms"]), int(r["edit_rev"]))
        for r in reversed(rows)
    ]
