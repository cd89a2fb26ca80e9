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

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from preau.server.directory.model import Profile, RoomKind
from preau.server.moderation.rules import MemberState, RoomPolicy
from preau.server.moderation.wordfilter import WordLists
from preau.server.store.attachments import attach_to_post, attachment_names
from preau.server.store.engine import Engine, SqlBase, Transaction
from preau.server.store.records import (
    AttachmentRef,
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
    messaging_stopped,
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

    async def insert_message(self, message: Message, urgent: bool = False) -> bool:
        """Insert the message; False if its ``(room, sender, txn)`` exists.
        With its notification outbox row when it may notify someone
        (``urgent``: its mails and pushes go through quiet hours)."""

    async def attachment_names(
        self, ids: Sequence[str], author_id: str
    ) -> tuple[str, ...] | None:
        """The names of the author's uploads ``ids`` (the word filter reads
        them); None: one is not theirs."""

    async def attach(
        self, ids: Sequence[str], author_id: str, now_ms: int, *, room_id: str,
        seq: int | None = None, held_id: str | None = None, scheduled_id: str | None = None,
    ) -> tuple[AttachmentRef, ...] | None:
        """Bind the author's uploads to this post (``attach_to_post`` in
        preau/server/store/attachments.py); None: one is not theirs."""

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

    async def post_plain(
        self, message: Message, school_id: str, profile: Profile, moderator: bool,
        passes: Callable[[WordLists], bool],
    ) -> int | None:
        """The common post at the cost of one statement (issue 14), or None.

        Commits ``message`` (its ``seq`` is ignored) with the room's next seq,
        which it returns, only when nothing but the insert can follow from the
        post: messaging not suspended for ``profile``, the sender not paused,
        the room in ``school_id``, open, without pre-moderation, slow mode or a
        quiet-hours setting of its own (the caller checked the school's
        window), not closed; the sender (unless ``moderator``) neither removed
        nor muted, and ``passes(lists)`` true for the school's word lists as
        they stand in that transaction; the txn new. Otherwise nothing is
        changed and None is returned: the caller runs the general path
        (``posting()``), which decides and answers every other case.

        On PostgreSQL one round trip (the stored function of migration 0050);
        on SQLite the same checks in one in-process transaction. The lists
        ``passes`` saw are remembered per school with their fingerprint, which
        the transaction compares with the lists it reads."""


class SqlPosting:
    """``Posting`` on one open transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def stopped(self, room_id: str, profile: Profile, person_id: str) -> str | None:
        return await messaging_stopped(self._tx, room_id, profile, person_id)

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

    async def insert_message(self, message: Message, urgent: bool = False) -> bool:
        return await insert_message(self._tx, message, notify=True, urgent=urgent)

    async def attachment_names(
        self, ids: Sequence[str], author_id: str
    ) -> tuple[str, ...] | None:
        return await attachment_names(self._tx, ids, author_id)

    async def attach(
        self, ids: Sequence[str], author_id: str, now_ms: int, *, room_id: str,
        seq: int | None = None, held_id: str | None = None, scheduled_id: str | None = None,
    ) -> tuple[AttachmentRef, ...] | None:
        return await attach_to_post(self._tx, ids, author_id, now_ms, room_id=room_id, seq=seq,
                                    held_id=held_id, scheduled_id=scheduled_id)

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


# On PostgreSQL the fingerprint is the rows' digests (md5, stored with each
# list: migration 0113), the very expression of the function (no need to
# send the lists back and forth); on SQLite, without md5, the rows' text
# itself (in process). NULL: no rows, the default lists.
_LISTS_FINGERPRINT = {
    "postgres": "SELECT string_agg(digest, '|' ORDER BY action)"
                " FROM word_filters WHERE school_id = $1",
    "sqlite": "SELECT group_concat(part, '|') FROM (SELECT action || ':' || words AS part"
              " FROM word_filters WHERE school_id = $1 ORDER BY action) AS parts",
}
_POST_PLAIN_PG = "SELECT preau_post_plain($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
_POST_PLAIN_MANY_PG = (
    "SELECT preau_post_plain_many($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::boolean[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[],"
    " $11::integer[])")
# Posts per group commit: a burst beyond it waits for the next round trip.
GROUP_MAX = 64
# A call out longer than this (a room's row lock held by a long transaction
# elsewhere) stops holding back the posts that wait: they go in a call of
# their own, so one busy room never stalls the node's other rooms.
STALL_S = 0.02

_Waiting = list[tuple[tuple[Any, ...], asyncio.Future[int | None]]]


class GroupCommit:
    """Concurrent plain posts to PostgreSQL in one round trip and one commit
    (issue 14; the function of migration 0100).

    One call in flight per node: a post arriving while it is out waits for it
    to come back, then goes with every other post that arrived meanwhile. A
    post alone goes at once, by itself (``preau_post_plain``), from its own
    task (no task, future or timer of ours: the common case when a node is
    not saturated): no latency is added when the node is quiet, and under
    load the batches grow with it,
    which saves PostgreSQL a round trip and a commit per post. A call out for
    more than ``STALL_S`` lets the waiting posts go in another. Each post of
    a batch is committed, or falls back, exactly as it would alone (migration
    0100); every caller is answered after the commit, and if the call fails
    every post of it fails with the same error, nothing committed."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiting: _Waiting = []
        self._sender: asyncio.Task[None] | None = None
        # A post gone alone from its caller's task: done when its call is back.
        self._alone: asyncio.Future[None] | None = None
        self.batches = 0  # calls made, and the posts they carried (for the benchmarks)
        self.posts = 0

    async def post(self, args: tuple[Any, ...]) -> int | None:
        """``args``: those of ``preau_post_plain``, the room first."""
        loop = asyncio.get_running_loop()
        if self._sender is None and self._alone is None:
            return await self._post_alone(loop, args)
        future: asyncio.Future[int | None] = loop.create_future()
        self._waiting.append((args, future))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        return await future

    async def _post_alone(
        self, loop: asyncio.AbstractEventLoop, args: tuple[Any, ...]
    ) -> int | None:
        alone = self._alone = loop.create_future()
        try:
            seq: int | None = await self._engine.call(_POST_PLAIN_PG, *args)
            return seq
        finally:
            self._alone = None
            if not alone.done():  # (a sender cancelled at the loop's end cancels it)
                alone.set_result(None)
            self.batches += 1
            self.posts += 1

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        # The call of a post gone alone counts as one in flight: those that
        # arrived meanwhile wait for it (or for STALL_S) like any others.
        calls: set[asyncio.Future[None]] = set() if self._alone is None else {self._alone}
        stalled = False
        try:
            while self._waiting or calls:
                if self._waiting and (not calls or stalled):
                    batch, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
                    calls.add(loop.create_task(self._call(batch)))
                done, _ = await asyncio.wait(calls, timeout=STALL_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                calls -= done
                stalled = not done
        finally:
            self._sender = None
            # Cancelled (the loop is closing): nobody is left waiting forever.
            for call in calls:
                call.cancel()
            for _, future in self._waiting:
                future.cancel()
            self._waiting = []

    async def _call(self, batch: _Waiting) -> None:
        # Rooms in one order in every batch of every node: their row locks are
        # taken in that order, so two batches never deadlock (sort is stable:
        # one room's posts keep their order).
        batch.sort(key=lambda item: str(item[0][0]))
        try:
            if len(batch) == 1:
                seqs = [await self._engine.call(_POST_PLAIN_PG, *batch[0][0])]
            else:
                columns = [list(column) for column in zip(*(a for a, _ in batch), strict=True)]
                seqs = await self._engine.call(_POST_PLAIN_MANY_PG, *columns)
        except Exception as exc:
            for _, future in batch:
                if not future.done():  # a caller cancelled meanwhile
                    future.set_exception(exc)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        else:
            for (_, future), seq in zip(batch, seqs, strict=True):
                if not future.done():
                    future.set_result(seq)
        self.batches += 1
        self.posts += len(batch)


class PostingSql(SqlBase, PostingStore):
    """Hands out ``SqlPosting`` units of work on this store's engine."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # school -> (fingerprint, lists): what post_plain last matched bodies
        # against; checked by every plain post, dropped when one falls back.
        self._plain_lists: dict[str, tuple[str | None, WordLists]] = {}
        self.group_commit = GroupCommit(engine)

    async def post_plain(
        self, message: Message, school_id: str, profile: Profile, moderator: bool,
        passes: Callable[[WordLists], bool],
    ) -> int | None:
        seen = self._plain_lists.get(school_id)
        if seen is None and not moderator:
            seen = self._plain_lists[school_id] = await self._fingerprinted_lists(school_id)
        fingerprint = seen[0] if seen is not None else None
        if seen is not None and not moderator and not passes(seen[1]):
            return None
        if self._engine.dialect == "postgres":
            seq = await self.group_commit.post((
                message.room_id, school_id, profile.value, message.sender_id,
                moderator, fingerprint, message.id, message.txn, message.body,
                message.created_ms, int(message.ack_required)))
        else:
            async with self._engine.transaction() as tx:
                seq = await _post_plain_sql(tx, message, school_id, profile, moderator,
                                            fingerprint)
                if seq is None:
                    await tx.rollback()
        if seq is None:
            self._plain_lists.pop(school_id, None)  # maybe changed: read them again
            return None
        return int(seq)

    async def _fingerprinted_lists(self, school_id: str) -> tuple[str | None, WordLists]:
        async with self._engine.transaction(readonly=True) as tx:
            fingerprint = await tx.fetchval(_LISTS_FINGERPRINT[self._engine.dialect], school_id)
            lists = await read_word_lists(tx, school_id)
        return (None if fingerprint is None else str(fingerprint)), lists

    @asynccontextmanager
    async def posting(self) -> AsyncIterator[Posting]:
        async with self._engine.transaction() as tx:
            yield SqlPosting(tx)


async def _post_plain_sql(
    tx: Transaction, message: Message, school_id: str, profile: Profile, moderator: bool,
    fingerprint: str | None,
) -> int | None:
    """``post_plain`` as statements of one transaction (SQLite; the checks of
    the PostgreSQL function of migration 0050, with the same outcome). None:
    the caller rolls back.

    Three statements on the common path (issue 14): every check in one
    SELECT (a suspension, a paused account, a removed or muted member, word
    lists that changed), the room's seq bump, which also gives its kind, and
    the message; the outbox row only for a message that may notify (the
    room's kind read here, not asked again)."""
    if await tx.fetchval(
        _PLAIN_REFUSED_SQLITE, school_id, profile.value, message.sender_id, message.room_id,
        message.created_ms, int(moderator), fingerprint,
    ):
        return None
    row = await tx.fetchrow(
        "UPDATE rooms SET last_seq = last_seq + 1"
        " WHERE id = $1 AND school_id = $2 AND closed_ms IS NULL AND mode = 'open'"
        " AND premoderation = 'off' AND slow_mode_s = 0 AND quiet_hours = 'school'"
        " RETURNING last_seq, kind",
        message.room_id, school_id,
    )
    if row is None:
        return None
    seq = int(row[0])
    if not await insert_message(tx, replace(message, seq=seq), notify=True,
                                private=row[1] == "private"):
        return None
    return seq


# 1 when the plain path must not post (the caller falls back to the general
# path, which says why): the sender's profile suspended or the sender paused,
# a member removed or muted (moderators are not asked), or the school's word
# lists no longer those the body was matched against. $7 may be NULL (no
# list): IS NOT, not <>.
_PLAIN_REFUSED_SQLITE = (
    "SELECT EXISTS (SELECT 1 FROM messaging_suspensions WHERE school_id = $1 AND profile = $2)"
    " OR EXISTS (SELECT 1 FROM paused_accounts WHERE person_id = $3)"
    " OR ($6 = 0 AND (EXISTS (SELECT 1 FROM room_members WHERE room_id = $4"
    " AND person_id = $3 AND (removed <> 0 OR muted_until_ms > $5))"
    " OR (SELECT group_concat(part, '|') FROM (SELECT action || ':' || words AS part"
    " FROM word_filters WHERE school_id = $1 ORDER BY action) AS parts) IS NOT $7))"
)
