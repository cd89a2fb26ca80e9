"""Moderation in SQL: room policies, held messages (listing them, a
moderator's decision), redactions, members' states (mute, removal).

Posting under the room's policy is not here: the store offers its unit of
work (``posting.py``) and ``preau/server/chat/posting.py`` decides. ``decide_held``
and ``redact_message`` still decide inside their transaction (quiet hours
for an approval, ``decide_redaction``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from preau.server.errors import ErrorCode
from preau.server.moderation.rules import (
    MemberState,
    PolicyChange,
    Refusal,
    RoomPolicy,
    RoomRole,
    RoomState,
    decide_redaction,
    effective_role,
)
from preau.server.store.attachments import follow_post
from preau.server.store.engine import SqlBase
from preau.server.store.records import (
    MEMBER_ACTIONS,
    AuditAction,
    DecideResult,
    HeldMessage,
    HeldStatus,
    MemberChange,
    Message,
    MessageKind,
    PostOptions,
    RedactResult,
    ScheduledMessage,
)
from preau.server.store.rows import (
    HELD_COLUMNS,
    POLICY_COLUMNS,
    audit,
    insert_message,
    member_state,
    message_at,
    message_by_txn,
    to_held,
    to_member_state,
    to_policy,
)
from preau.server.store.scheduling import quiet_release


class ModerationStore(Protocol):
    """Room policies, held messages, redactions, members' states."""

    async def room_state(self, room_id: str, person_id: str) -> tuple[RoomPolicy, MemberState]:
        """A room's policy and one person's state in it (defaults when unset).

        Raises ``LookupError`` for an unknown room."""

    async def held_messages(
        self,
        room_id: str,
        *,
        sender_id: str | None = None,
        statuses: Sequence[HeldStatus] = (HeldStatus.PENDING,),
        limit: int = 100,
        newest: bool = False,
    ) -> list[HeldMessage]:
        """Held messages of a room (of one sender if given), oldest first: the
        ``limit`` oldest (a moderator's queue, first come first decided), or
        with ``newest`` the ``limit`` newest (an author's own list, whose
        latest decisions must show however many came before)."""

    async def held_message(self, room_id: str, held_id: str) -> HeldMessage | None:
        """One held message of the room, whatever its status; None if the room
        has no such one."""

    async def decide_held(
        self,
        room_id: str,
        held_id: str,
        actor_id: str,
        approve: bool,
        reason: str | None,
        message_id: str,
        now_ms: int,
        options: PostOptions | None = None,
    ) -> DecideResult:
        """Approve (post it with the next seq, the author's txn kept; during the
        room's quiet hours, per ``options``, schedule it instead) or reject
        a pending held message, and audit it. A held message is decided once:
        deciding again changes nothing (``changed=False``). Raises
        ``LookupError`` when there is no such held message in the room."""

    async def redact_message(
        self,
        room_id: str,
        seq: int,
        actor_id: str,
        moderator: bool,
        reason: str | None,
        event_id: str,
        now_ms: int,
    ) -> RedactResult:
        """Redact message ``seq`` as ``decide_redaction`` allows: append a
        redaction event (next seq), empty the message's body (the original is
        kept for the audit log) and audit it (``message.delete`` by a
        moderator, ``message.recall`` by the author). Redacting again returns
        the first redaction. ``not_found`` refusal: no such message."""

    async def moderate_member(
        self,
        room_id: str,
        actor_id: str,
        target_id: str,
        action: AuditAction,
        until_ms: int | None,
        reason: str | None,
        now_ms: int,
    ) -> MemberChange:
        """Mute (until ``until_ms``), unmute, remove or re-admit a member, and
        audit it; a change that changes nothing is neither written nor
        audited. Raises ``LookupError`` for an unknown room."""

    async def member_states(self, room_id: str) -> dict[str, MemberState]:
        """Every member of the room with a moderation state, by person id."""

    async def removed_members(self, room_ids: Sequence[str]) -> set[tuple[str, str]]:
        """``(room_id, person_id)`` of every member removed from these rooms."""

    async def set_room_policy(
        self, room_id: str, actor_id: str, change: PolicyChange, reason: str | None, now_ms: int
    ) -> tuple[RoomPolicy, bool]:
        """Apply ``change``; return the policy now in force and whether it
        changed (only a change is audited). Raises ``LookupError`` for an
        unknown room."""


class ModerationSql(SqlBase, ModerationStore):
    """Moderation in SQL: every decision read and applied in one transaction."""

    # -- moderation ----------------------------------------------------------

    async def room_state(self, room_id: str, person_id: str) -> tuple[RoomPolicy, MemberState]:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(f"SELECT {POLICY_COLUMNS} FROM rooms WHERE id = $1", room_id)
            if row is None:
                raise LookupError(f"no room {room_id!r}")
            member = await member_state(tx, room_id, person_id)
        return to_policy(row), member

    async def held_messages(
        self,
        room_id: str,
        *,
        sender_id: str | None = None,
        statuses: Sequence[HeldStatus] = (HeldStatus.PENDING,),
        limit: int = 100,
        newest: bool = False,
    ) -> list[HeldMessage]:
        if limit <= 0 or not statuses:
            return []
        args: list[Any] = [room_id, limit]
        marks = []
        for status in statuses:
            args.append(status.value)
            marks.append(f"${len(args)}")
        sql = (
            f"SELECT {HELD_COLUMNS} FROM held_messages WHERE room_id = $1"
            f" AND status IN ({', '.join(marks)})"
        )
        if sender_id is not None:
            args.append(sender_id)
            sql += f" AND sender_id = ${len(args)}"
        sql += " ORDER BY created_ms DESC, id DESC LIMIT $2" if newest else (
            " ORDER BY created_ms, id LIMIT $2")
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql, *args)
        held = [to_held(r) for r in rows]
        return held[::-1] if newest else held

    async def held_message(self, room_id: str, held_id: str) -> HeldMessage | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {HELD_COLUMNS} FROM held_messages WHERE room_id = $1 AND id = $2",
                room_id, held_id)
        return None if row is None else to_held(row)

    async def decide_held(
        self,
        room_id: str,
        held_id: str,
        actor_id: str,
        approve: bool,
        reason: str | None,
        message_id: str,
        now_ms: int,
        options: PostOptions | None = None,
    ) -> DecideResult:
        async with self._engine.transaction() as tx:
            # Locks in the order a post takes them (room, then held
            # message), so the two never deadlock on PostgreSQL.
            room = await tx.fetchrow(
                "UPDATE rooms SET last_seq = last_seq + $2 WHERE id = $1"
                " RETURNING last_seq, id, school_id, kind, quiet_hours",
                room_id,
                1 if approve else 0,
            )
            if room is None:
                raise LookupError(f"no room {room_id!r}")
            status = HeldStatus.APPROVED if approve else HeldStatus.REJECTED
            row = await tx.fetchrow(
                "UPDATE held_messages SET status = $3, decided_by = $4, decided_ms = $5,"
                " reason = $6 WHERE id = $1 AND room_id = $2 AND status = 'pending'"
                f" RETURNING {HELD_COLUMNS}",
                held_id, room_id, status.value, actor_id, now_ms, reason,
            )
            if row is None:  # unknown, or decided before: change nothing
                earlier = await tx.fetchrow(
                    f"SELECT {HELD_COLUMNS} FROM held_messages WHERE id = $1 AND room_id = $2",
                    held_id, room_id,
                )
                posted = None
                if earlier is not None and earlier["seq"] is not None:
                    posted = await message_at(tx, room_id, int(earlier["seq"]))
                await tx.rollback()
                if earlier is None:
                    raise LookupError(f"no held message {held_id!r} in room {room_id!r}")
                return DecideResult(to_held(earlier), posted, changed=False)
            held = to_held(row)
            message: Message | None = None
            scheduled: ScheduledMessage | None = None
            release_ms = None
            if approve and options is not None and not options.urgent:
                release_ms = await quiet_release(tx, room, held.sender_id, options, now_ms)
            if release_ms is not None:
                # Approved during quiet hours: delivered when they end, like a
                # post written now (the seq taken above goes back).
                scheduled = ScheduledMessage(options.scheduled_id if options else message_id,
                                             room_id, held.sender_id, held.txn, held.body,
                                             held.created_ms, release_ms)
                await tx.execute(
                    "INSERT INTO scheduled_messages (id, room_id, sender_id, txn, body,"
                    " created_ms, release_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    " ON CONFLICT (room_id, sender_id, txn) DO NOTHING",
                    scheduled.id, room_id, held.sender_id, held.txn, held.body,
                    held.created_ms, release_ms,
                )
                await tx.execute(
                    "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id
                )
                await follow_post(tx, room_id, scheduled_id=scheduled.id, from_held=held.id)
            elif approve:
                # Its files come out with it (preau/server/store/attachments.py).
                files = await follow_post(tx, room_id, seq=int(room["last_seq"]),
                                          held_id=held.id)
                message = Message(room_id, int(room["last_seq"]), message_id, held.sender_id,
                                  held.txn, held.body, now_ms, attachments=files)
                if not await insert_message(tx, message, notify=True):
                    # The author's retry was posted directly meanwhile (the
                    # policy changed): that post stands, this seq goes back.
                    message = await message_by_txn(tx, room_id, held.sender_id, held.txn)
                    assert message is not None
                    # Its files are reached through the held row (now at that seq).
                    await tx.execute(
                        "UPDATE attachments SET seq = NULL WHERE held_id = $1", held.id)
                    await tx.execute(
                        "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id
                    )
                await tx.execute(
                    "UPDATE held_messages SET seq = $2 WHERE id = $1", held.id, message.seq
                )
                held = dataclasses.replace(held, seq=message.seq)
            await audit(
                tx, room["school_id"], room_id, actor_id,
                AuditAction.HELD_APPROVE if approve else AuditAction.HELD_REJECT, now_ms,
                target_person_id=held.sender_id, target_held_id=held.id,
                target_seq=held.seq, reason=reason,
            )
        return DecideResult(held, message, changed=True, scheduled=scheduled)

    async def redact_message(
        self,
        room_id: str,
        seq: int,
        actor_id: str,
        moderator: bool,
        reason: str | None,
        event_id: str,
        now_ms: int,
    ) -> RedactResult:
        """Raises ``LookupError`` for an unknown room."""
        async with self._engine.transaction() as tx:
            room = await tx.fetchrow(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1"
                f" RETURNING last_seq, school_id, {POLICY_COLUMNS}",
                room_id,
            )
            if room is None:
                raise LookupError(f"no room {room_id!r}")
            target = await message_at(tx, room_id, seq)
            if target is None or target.kind is not MessageKind.MESSAGE:
                await tx.rollback()
                return RedactResult(refusal=Refusal(ErrorCode.NOT_FOUND, "no such message"))
            if target.redacted:  # redacted before: that redaction stands
                redaction_seq = await tx.fetchval(
                    "SELECT redacted_seq FROM messages WHERE room_id = $1 AND seq = $2",
                    room_id, seq,
                )
                earlier = await message_at(tx, room_id, int(redaction_seq))
                await tx.rollback()
                return RedactResult(event=earlier, author_id=target.sender_id)
            policy = to_policy(room)
            member = MemberState() if moderator else await member_state(tx, room_id, actor_id)
            role = effective_role(
                RoomRole.MODERATOR if moderator else RoomRole.MEMBER, RoomState(policy, member)
            )
            refusal = decide_redaction(
                actor_id, role, target.sender_id, target.created_ms, policy, now_ms
            )
            if refusal is not None:
                await tx.rollback()
                return RedactResult(refusal=refusal)
            event = Message(
                room_id, int(room["last_seq"]), event_id, actor_id, event_id, "", now_ms,
                kind=MessageKind.REDACTION, redacts=seq, reason=reason,
            )
            await tx.execute(
                "INSERT INTO messages (room_id, seq, id, sender_id, txn, body, created_ms,"
                " kind, redacts, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                event.room_id, event.seq, event.id, event.sender_id, event.txn, event.body,
                event.created_ms, event.kind.value, event.redacts, event.reason,
            )
            # The original leaves the timeline: only the audit log reads it.
            await tx.execute(
                "INSERT INTO redacted_messages (room_id, seq, sender_id, body, redacted_ms)"
                " VALUES ($1, $2, $3, $4, $5)",
                room_id, seq, target.sender_id, target.body, now_ms,
            )
            await tx.execute(
                "UPDATE messages SET body = '', redacted_seq = $3 WHERE room_id = $1 AND seq = $2",
                room_id, seq, event.seq,
            )
            # Its reactions go with it (clients drop them on the redaction).
            await tx.execute("DELETE FROM reactions WHERE room_id = $1 AND seq = $2", room_id, seq)
            await audit(
                tx, room["school_id"], room_id, actor_id,
                AuditAction.MESSAGE_DELETE if moderator else AuditAction.MESSAGE_RECALL, now_ms,
                target_person_id=target.sender_id, target_seq=seq, reason=reason,
            )
        return RedactResult(event=event, created=True, author_id=target.sender_id)

    async def moderate_member(
        self,
        room_id: str,
        actor_id: str,
        target_id: str,
        action: AuditAction,
        until_ms: int | None,
        reason: str | None,
        now_ms: int,
    ) -> MemberChange:
        if action not in MEMBER_ACTIONS:
            raise ValueError(f"{action} is not an action on a member")
        if action is AuditAction.MEMBER_MUTE and until_ms is None:
            raise ValueError("a mute needs its end time")
        async with self._engine.transaction() as tx:
            school_id = await tx.fetchval("SELECT school_id FROM rooms WHERE id = $1", room_id)
            if school_id is None:
                raise LookupError(f"no room {room_id!r}")
            # Lock the member's row (if any) so concurrent actions apply in turn.
            await tx.execute(
                "UPDATE room_members SET removed = removed WHERE room_id = $1 AND person_id = $2",
                room_id, target_id,
            )
            current = await member_state(tx, room_id, target_id)
            if action is AuditAction.MEMBER_MUTE:
                new = dataclasses.replace(current, muted_until_ms=until_ms)
            elif action is AuditAction.MEMBER_UNMUTE:
                new = dataclasses.replace(current, muted_until_ms=None)
            else:
                new = dataclasses.replace(current, removed=action is AuditAction.MEMBER_REMOVE)
            if new == current:
                return MemberChange(current, changed=False)
            await tx.execute(
                "INSERT INTO room_members (room_id, person_id, muted_until_ms, removed)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, person_id) DO UPDATE SET"
                " muted_until_ms = excluded.muted_until_ms, removed = excluded.removed",
                room_id, target_id, new.muted_until_ms, int(new.removed),
            )
            details = {"until": until_ms} if action is AuditAction.MEMBER_MUTE else {}
            await audit(tx, school_id, room_id, actor_id, action, now_ms,
                         target_person_id=target_id, reason=reason, details=details)
        return MemberChange(new, changed=True)

    async def member_states(self, room_id: str) -> dict[str, MemberState]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, muted_until_ms, removed, last_post_ms FROM room_members"
                " WHERE room_id = $1",
                room_id,
            )
        return {r["person_id"]: to_member_state(r) for r in rows}

    async def removed_members(self, room_ids: Sequence[str]) -> set[tuple[str, str]]:
        if not room_ids:
            return set()
        marks = ", ".join(f"${i}" for i in range(1, len(room_ids) + 1))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT room_id, person_id FROM room_members"
                f" WHERE removed = 1 AND room_id IN ({marks})",
                *room_ids,
            )
        return {(r["room_id"], r["person_id"]) for r in rows}

    async def set_room_policy(
        self, room_id: str, actor_id: str, change: PolicyChange, reason: str | None, now_ms: int
    ) -> tuple[RoomPolicy, bool]:
        async with self._engine.transaction() as tx:
            # A no-op UPDATE takes the row lock and returns the latest values,
            # so two moderators' changes apply one after the other.
            row = await tx.fetchrow(
                "UPDATE rooms SET last_seq = last_seq WHERE id = $1"
                f" RETURNING school_id, {POLICY_COLUMNS}",
                room_id,
            )
            if row is None:
                raise LookupError(f"no room {room_id!r}")
            old = to_policy(row)
            new = change.apply(old)
            if new == old:
                return old, False
            await tx.execute(
                "UPDATE rooms SET mode = $2, premoderation = $3, slow_mode_s = $4,"
                " recall_window_s = $5, quiet_hours = $6 WHERE id = $1",
                room_id, new.mode.value, new.premoderation.value, new.slow_mode_s,
                new.recall_window_s, new.quiet_hours,
            )
            before, after = old.to_wire(), new.to_wire()
            details = {k: {"from": before[k], "to": v} for k, v in after.items()
                       if before[k] != v}
            await audit(tx, row["school_id"], room_id, actor_id, AuditAction.POLICY_CHANGE,
                         now_ms, reason=reason, details=details)
        return new, True
