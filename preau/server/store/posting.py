"""The unit of work posting a message: the reads and writes, not the decision.

``store.posting()`` opens one transaction and hands out a ``Posting``: each of
its methods is one statement (or two) inside that transaction, and the caller
decides between them. The decision (kill switch, room closed, moderation,
word filter, quiet hours) is ``preau.server.chat.posting.post_message``, one
function read top to bottom; it runs while the transaction is open, so the
decision and the commit stay atomic on every node, as they were when the
store decided: the room's row lock (``claim_seq``) serialises concurrent
posters on PostgreSQL, and the member's state is read after it is taken.

Leaving the ``async with`` block commits; ``rollback()`` undoes everything
(no statement may follow it); an exception rolls back too.
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
from preau.server.store.records import (
    AuditAction,
    HeldMessage,
    Message,
    PostResult,
    ScheduledMessage,
)
from preau.server.store.reports import read_word_lists
from preau.server.store.rows import (
    POLICY_COLUMNS,
    audit,
    held_by_txn,
    insert_message,
    member_state,
    message_by_txn,
    record_post,
    to_policy,
)
from preau.server.store.scheduling import SCHEDULED_COLUMNS, reaches_pupils_or_parents, to_scheduled


@dataclass(frozen=True, slots=True)
class PostingRoom:
    """The room a post goes to, as ``claim_seq`` read it under its row lock."""

    id: str
    school_id: str
    kind: RoomKind
    seq: int  # the sequence number claimed for this post
    closed: bool
    policy: RoomPolicy  # its ``quiet_hours`` is the room's own setting


class Posting(Protocol):
    """One post's transaction (see the module docstring)."""

    async def stopped(self, room_id: str, profile: Profile, person_id: str) -> str | None:
        """``'school'`` when the school's kill switch is on for ``profile``,
        ``'account'`` when the person is paused, else None (one look-up)."""

    async def claim_seq(self, room_id: str) -> PostingRoom | None:
        """Take the room's next sequence number and its row lock, and read its
        policy in the same statement; None: no such room."""

    async def member_state(self, room_id: str, person_id: str) -> MemberState:
        """The person's moderation state in the room (read after ``claim_seq``)."""

    async def word_lists(self, school_id: str) -> WordLists:
        """The school's word lists (the defaults until it replaced them)."""

    async def earlier_post(self, room_id: str, sender_id: str, txn: str) -> PostResult | None:
        """The first result of a txn seen before, posted or held."""

    async def message_by_txn(self, room_id: str, sender_id: str, txn: str) -> Message | None:
        """The message posted with this txn, if any."""

    async def hold(self, held: HeldMessage) -> HeldMessage | None:
        """Store a held message (no seq); None when stored, else the message
        held earlier with the same txn (nothing written)."""

    async def schedule(self, scheduled: ScheduledMessage) -> ScheduledMessage | None:
        """Store a message for the end of quiet hours (no seq); None when
        stored, else the one scheduled earlier with the same txn."""

    async def give_back_seq(self, room_id: str) -> None:
        """Return the number ``claim_seq`` took (the post got no seq). Nobody
        else can have seen it: the row lock is held until commit."""

    async def reaches_pupils_or_parents(self, room_id: str, sender_id: str) -> bool:
        """Whether a private conversation has a pupil or a parent besides the sender."""

    async def insert_message(self, message: Message) -> bool:
        """Insert the message; False if its ``(room, sender, txn)`` exists."""

    async def record_post(self, room_id: str, person_id: str, now_ms: int) -> None:
        """Remember when the person last posted in the room (slow mode)."""

    async def audit(
        self, school_id: str, room_id: str, actor_id: str, action: AuditAction, now_ms: int,
        **target: Any,
    ) -> None:
        """Write an audit entry in this transaction (``target``: the keyword
        arguments of ``preau.server.store.rows.audit``)."""

    async def rollback(self) -> None:
        """Undo the whole transaction; no statement may follow."""


class PostingStore(Protocol):
    def posting(self) -> AbstractAsyncContextManager[Posting]:
        """Open one post's transaction (see the module docstring)."""


class SqlPosting:
    """``Posting`` on one open transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def stopped(self, room_id: str, profile: Profile, person_id: str) -> str | None:
        found = await self._tx.fetchval(
            "SELECT 'school' FROM messaging_suspensions s JOIN rooms r"
            " ON r.school_id = s.school_id WHERE r.id = $1 AND s.profile = $2"
            " UNION ALL SELECT 'account' FROM paused_accounts WHERE person_id = $3",
            room_id,
            profile.value,
            person_id,
        )
        return None if found is None else str(found)

    async def claim_seq(self, room_id: str) -> PostingRoom | None:
        row = await self._tx.fetchrow(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1"
            f" RETURNING last_seq, id, school_id, kind, closed_ms, {POLICY_COLUMNS}",
            room_id,
        )
        if row is None:
            return None
        return PostingRoom(
            id=str(row["id"]),
            school_id=str(row["school_id"]),
            kind=RoomKind(row["kind"]),
            seq=int(row["last_seq"]),
            closed=row["closed_ms"] is not None,
            policy=to_policy(row),
        )

    async def member_state(self, room_id: str, person_id: str) -> MemberState:
        return await member_state(self._tx, room_id, person_id)

    async def word_lists(self, school_id: str) -> WordLists:
        return await read_word_lists(self._tx, school_id)

    async def earlier_post(self, room_id: str, sender_id: str, txn: str) -> PostResult | None:
        message = await message_by_txn(self._tx, room_id, sender_id, txn)
        if message is not None:
            return PostResult(message=message)
        held = await self._held_by_txn(room_id, sender_id, txn)
        return None if held is None else PostResult(held=held)

    async def message_by_txn(self, room_id: str, sender_id: str, txn: str) -> Message | None:
        return await message_by_txn(self._tx, room_id, sender_id, txn)

    async def hold(self, held: HeldMessage) -> HeldMessage | None:
        inserted = await self._tx.execute(
            "INSERT INTO held_messages (id, room_id, sender_id, txn, body, created_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (room_id, sender_id, txn) DO NOTHING",
            held.id, held.room_id, held.sender_id, held.txn, held.body, held.created_ms,
        )
        if inserted:
            return None
        earlier = await self._held_by_txn(held.room_id, held.sender_id, held.txn)
        assert earlier is not None
        return earlier

    async def schedule(self, scheduled: ScheduledMessage) -> ScheduledMessage | None:
        inserted = await self._tx.execute(
            "INSERT INTO scheduled_messages (id, room_id, sender_id, txn, body, ack_required,"
            " created_ms, release_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (room_id, sender_id, txn) DO NOTHING",
            scheduled.id, scheduled.room_id, scheduled.sender_id, scheduled.txn,
            scheduled.body, int(scheduled.ack_required), scheduled.created_ms,
            scheduled.release_ms,
        )
        if inserted:
            return None
        earlier = await self._tx.fetchrow(
            f"SELECT {SCHEDULED_COLUMNS} FROM scheduled_messages"
            " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
            scheduled.room_id, scheduled.sender_id, scheduled.txn,
        )
        assert earlier is not None
        return to_scheduled(earlier)

    async def give_back_seq(self, room_id: str) -> None:
        await self._tx.execute("UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id)

    async def reaches_pupils_or_parents(self, room_id: str, sender_id: str) -> bool:
        return await reaches_pupils_or_parents(self._tx, room_id, sender_id)

    async def insert_message(self, message: Message) -> bool:
        return await insert_message(self._tx, message)

    async def record_post(self, room_id: str, person_id: str, now_ms: int) -> None:
        await record_post(self._tx, room_id, person_id, now_ms)

    async def audit(
        self, school_id: str, room_id: str, actor_id: str, action: AuditAction, now_ms: int,
        **target: Any,
    ) -> None:
        await audit(self._tx, school_id, room_id, actor_id, action, now_ms, **target)

    async def rollback(self) -> None:
        await self._tx.rollback()

    async def _held_by_txn(self, room_id: str, sender_id: str, txn: str) -> HeldMessage | None:
        return await held_by_txn(self._tx, room_id, sender_id, txn)


class PostingSql(SqlBase, PostingStore):
    """Hands out ``SqlPosting`` units of work on this store's engine."""

    @asynccontextmanager
    async def posting(self) -> AsyncIterator[Posting]:
        async with self._engine.transaction() as tx:
            yield SqlPosting(tx)

