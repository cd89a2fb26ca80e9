"""How a message is accepted: one function, read top to bottom.

``post_message`` runs inside one store transaction (``store.posting()``, the
unit of work in preau/server/store/posting.py) and calls the pure decisions where
they live: the room's roles and modes (preau/server/moderation/rules.py), the
school's word filter (preau/server/moderation/wordfilter.py) and quiet hours
(preau/server/directory/quiet_hours.py). Because every read it decides on is made
inside that transaction, after the room's row lock is taken, the decision
and the commit are atomic on every node: a mute, a mode or a kill switch set
on one node holds on every node's next post.

The circle of trust (``may_join``) and the body's shape are checked before,
by ``ChatService.send``; this is what the room and the school say.
"""

from __future__ import annotations

from dataclasses import replace

from preau.server.directory import quiet_hours
from preau.server.directory.model import RoomKind
from preau.server.errors import ErrorCode
from preau.server.moderation import wordfilter
from preau.server.moderation.rules import (
    MemberState,
    PostAction,
    PostDecision,
    Refusal,
    RoomRole,
    RoomState,
    counts_for_slow_mode,
    decide_post,
    effective_role,
)
from preau.server.moderation.wordfilter import FilterAction, FilterMatch
from preau.server.store import AuditAction, Author, HeldMessage, Message, PostOptions, PostResult
from preau.server.store.posting import PostingStore
from preau.server.store.records import ScheduledMessage

_AT_ONCE = PostOptions()


async def post_message(
    store: PostingStore,
    room_id: str,
    author: Author,
    txn: str,
    body: str,
    message_id: str,
    held_id: str,
    now_ms: int,
    options: PostOptions | None = None,
) -> PostResult:
    """Post, hold or refuse a message, as ``decide_post`` says under the
    policy and member state read in this transaction; a message that would
    be posted during the room's quiet hours to pupils or parents is
    scheduled instead (``options``; preau/server/directory/quiet_hours.py).

    Posting appends it with the room's next seq; holding stores it under
    ``held_id`` (without a seq). Slow mode records the post time of
    non-moderators. Idempotent by ``(room_id, author, txn)`` across messages,
    held and scheduled messages: a retry returns the first result whatever
    the state now. Raises ``LookupError`` for an unknown room.

    The hot path (an open room, a member in good standing) is three
    statements after the kill-switch look-up: take the seq and read the
    policy in one UPDATE, read the member's state (skipped for moderators,
    whom nothing restricts), insert. The member's state is read by a
    statement of its own after the room's row lock is taken, so on
    PostgreSQL it sees whatever a concurrent post of the same member
    committed (slow mode holds).
    """
    options = options or _AT_ONCE
    async with store.posting() as tx:
        # The school's kill switch first: nothing else matters while it is on
        # for this profile (one indexed look-up; no row when it is off).
        # The person's own pause (a burst to many rooms) in the same look-up.
        stopped = await tx.stopped(room_id, author.profile, author.id)
        if stopped:
            await tx.rollback()
            return PostResult(refusal=Refusal(
                ErrorCode.SUSPENDED,
                "messaging is suspended in this school for now" if stopped == "school"
                else "your account is paused: the school's administrators were alerted",
            ))
        room = await tx.claim_seq(room_id)
        if room is None:
            raise LookupError(f"no room {room_id!r}")
        if room.closed:
            # A conversation closed when a relation it needed ended: checked
            # here too, under the transaction, whatever a node's cache says.
            await tx.rollback()
            return PostResult(refusal=Refusal(
                ErrorCode.CLOSED, "this conversation is closed: it is read-only now"
            ))
        policy = room.policy
        member = MemberState() if author.moderator else await tx.member_state(room_id, author.id)
        state = RoomState(policy, member)
        role = effective_role(RoomRole.MODERATOR if author.moderator else RoomRole.MEMBER, state)
        decision = decide_post(role, author.profile, state, now_ms)
        # The school's word filter, for members only (one indexed read,
        # under the same transaction as the decision it changes).
        alert: FilterMatch | None = None
        if not author.moderator and decision.action is not PostAction.REFUSE:
            found = wordfilter.match(await tx.word_lists(room.school_id), body)
            # A private conversation has no moderator to review a held
            # message, and refusing it would silence a child writing to a
            # trusted adult ("suicide" is on the hold list): there it is
            # posted, and alerted (audit only, without the text).
            if (
                found is not None
                and found.action is FilterAction.HOLD
                and room.kind is RoomKind.PRIVATE
            ):
                found = replace(found, action=FilterAction.ALERT)
            if found is not None and found.action is FilterAction.BLOCK:
                decision = PostDecision(PostAction.REFUSE, Refusal(
                    ErrorCode.FILTERED, "this message contains words this school does not allow"
                ))
            elif found is not None and found.action is FilterAction.HOLD:
                decision = PostDecision(PostAction.HOLD)
            elif found is not None and decision.action is PostAction.POST:
                alert = found

        if decision.action is PostAction.REFUSE:
            # A retry of a txn accepted earlier gets its first result,
            # even if the member was muted (or the room closed) since.
            earlier = await tx.earlier_post(room_id, author.id, txn)
            await tx.rollback()
            return earlier or PostResult(refusal=decision.refusal)

        if decision.action is PostAction.HOLD:
            posted = await tx.message_by_txn(room_id, author.id, txn)
            if posted is not None:
                await tx.rollback()
                return PostResult(message=posted)
            held = HeldMessage(held_id, room_id, author.id, txn, body, now_ms)
            earlier_held = await tx.hold(held)
            if earlier_held is not None:
                await tx.rollback()
                return PostResult(held=earlier_held)
            # A held message has no seq yet: give the number back.
            await tx.give_back_seq(room_id)
            if counts_for_slow_mode(role, policy):
                await tx.record_post(room_id, author.id, now_ms)
            return PostResult(held=held, created=True)

        # Quiet hours: only messages that reach pupils or parents wait (class
        # and parents' rooms always hold some; a conversation is checked, and
        # staff-to-staff is never held). An urgent message goes through.
        window = quiet_hours.effective_window(options.quiet_hours, policy.quiet_hours)
        release_ms = quiet_hours.release_time(now_ms, options.timezone, window)
        if (
            release_ms is not None
            and room.kind is RoomKind.PRIVATE
            and not await tx.reaches_pupils_or_parents(room_id, author.id)
        ):
            release_ms = None
        if release_ms is not None and not options.urgent:
            posted = await tx.message_by_txn(room_id, author.id, txn)
            if posted is not None:
                await tx.rollback()
                return PostResult(message=posted)
            scheduled = ScheduledMessage(options.scheduled_id, room_id, author.id, txn, body,
                                         now_ms, release_ms, options.ack_required)
            earlier_scheduled = await tx.schedule(scheduled)
            if earlier_scheduled is not None:
                await tx.rollback()
                return PostResult(scheduled=earlier_scheduled)
            # No seq until delivered: give the number back.
            await tx.give_back_seq(room_id)
            if counts_for_slow_mode(role, policy):
                await tx.record_post(room_id, author.id, now_ms)
            return PostResult(scheduled=scheduled, created=True)

        message = Message(room_id, room.seq, message_id, author.id, txn, body, now_ms,
                          ack_required=options.ack_required)
        if not await tx.insert_message(message):
            existing = await tx.message_by_txn(room_id, author.id, txn)
            await tx.rollback()
            assert existing is not None
            return PostResult(message=existing)
        if counts_for_slow_mode(role, policy):
            await tx.record_post(room_id, author.id, now_ms)
        if alert is not None:
            await tx.audit(
                room.school_id, room_id, author.id, AuditAction.WORD_FILTER_ALERT, now_ms,
                target_person_id=author.id, target_seq=message.seq,
                details={"words": list(alert.words)},
            )
        if release_ms is not None:  # urgent, through quiet hours: accountable
            await tx.audit(
                room.school_id, room_id, author.id, AuditAction.URGENT_MESSAGE, now_ms,
                target_seq=message.seq,
            )
    return PostResult(message=message, created=True, alert=alert)
