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
from preau.server.store import (
    AttachmentRef,
    AuditAction,
    Author,
    HeldMessage,
    Message,
    PostOptions,
    PostResult,
)
from preau.server.store.posting import PostingStore
from preau.server.store.records import ScheduledMessage

_AT_ONCE = PostOptions()
# An attachment id that is not the author's upload (or no longer exists):
# answered as for an unknown one.
_NO_SUCH_FILE = Refusal(ErrorCode.NOT_FOUND, "no such attachment")


def stopped_refusal(stopped: str) -> Refusal:
    """The refusal for the kill switch (``'school'``) or a paused account."""
    return Refusal(
        ErrorCode.SUSPENDED,
        "messaging is suspended in this school for now" if stopped == "school"
        else "your account is paused: the school's administrators were alerted",
    )


def screened(found: FilterMatch | None, kind: RoomKind) -> FilterMatch | None:
    """The word filter's match as it applies in a room of ``kind``: a private
    conversation has no moderator to review a held message, and refusing it
    would silence a child writing to a trusted adult ("suicide" is on the
    hold list), so there it is posted, and alerted (audit only, without the
    text)."""
    if found is not None and found.action is FilterAction.HOLD and kind is RoomKind.PRIVATE:
        return replace(found, action=FilterAction.ALERT)
    return found


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
    *,
    school_id: str | None = None,
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

    Given the room's ``school_id``, the common post goes first through
    ``store.post_plain``: one statement (PostgreSQL: one round trip) commits
    it when nothing but the insert can follow — which is what this function
    would decide then, since the conditions are this function's own: no kill
    switch or pause, an open room without pre-moderation, slow mode or quiet
    hours now, a member in good standing, a body no word list matches, a new
    txn. Anything else comes back untouched and takes the path below.
    """
    options = options or _AT_ONCE
    # A post with files takes the general path: they are bound in its transaction.
    # An urgent one too: its notification outbox row says so.
    if school_id is not None and not options.attachments and not options.urgent \
            and _no_quiet_hours_now(options, now_ms):
        plain = Message(room_id, 0, message_id, author.id, txn, body, now_ms,
                        ack_required=options.ack_required)
        seq = await store.post_plain(
            plain, school_id, author.profile, author.moderator,
            lambda lists: wordfilter.match(lists, body) is None)
        if seq is not None:
            return PostResult(message=Message(
                room_id, seq, message_id, author.id, txn, body, now_ms,
                ack_required=options.ack_required), created=True)
    async with store.posting() as tx:
        # The school's kill switch first: nothing else matters while it is on
        # for this profile (one indexed look-up; no row when it is off).
        # The person's own pause (a burst to many rooms) in the same look-up.
        stopped = await tx.stopped(room_id, author.profile, author.id)
        if stopped:
            await tx.rollback()
            return PostResult(refusal=stopped_refusal(stopped))
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
        # The files sent with it: the author's own uploads, or nothing is posted.
        names: tuple[str, ...] = ()
        if options.attachments:
            found_names = await tx.attachment_names(options.attachments, author.id)
            if found_names is None:
                await tx.rollback()
                return PostResult(refusal=_NO_SUCH_FILE)
            names = found_names
        policy = room.policy
        member = MemberState() if author.moderator else await tx.member_state(room_id, author.id)
        state = RoomState(policy, member)
        role = effective_role(RoomRole.MODERATOR if author.moderator else RoomRole.MEMBER, state)
        decision = decide_post(role, author.profile, state, now_ms)
        # The school's word filter, for members only (one indexed read,
        # under the same transaction as the decision it changes).
        alert: FilterMatch | None = None
        if not author.moderator and decision.action is not PostAction.REFUSE:
            # File names are text others read: filtered with the body.
            text = "\n".join((body, *names))
            found = screened(wordfilter.match(await tx.word_lists(room.school_id), text),
                             room.kind)
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
            # Its files wait with it: its author and the moderators only.
            if options.attachments and await tx.attach(
                options.attachments, author.id, now_ms, room_id=room_id, held_id=held_id
            ) is None:
                await tx.rollback()
                return PostResult(refusal=_NO_SUCH_FILE)
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
            if options.attachments and await tx.attach(
                options.attachments, author.id, now_ms, room_id=room_id,
                scheduled_id=scheduled.id,
            ) is None:
                await tx.rollback()
                return PostResult(refusal=_NO_SUCH_FILE)
            # No seq until delivered: give the number back.
            await tx.give_back_seq(room_id)
            if counts_for_slow_mode(role, policy):
                await tx.record_post(room_id, author.id, now_ms)
            return PostResult(scheduled=scheduled, created=True)

        refs: tuple[AttachmentRef, ...] = ()
        if options.attachments:
            existing = await tx.message_by_txn(room_id, author.id, txn)
            if existing is not None:  # a retry: the first post stands, files and all
                await tx.rollback()
                return PostResult(message=existing)
            found_refs = await tx.attach(options.attachments, author.id, now_ms,
                                         room_id=room_id, seq=room.seq)
            if found_refs is None:
                await tx.rollback()
                return PostResult(refusal=_NO_SUCH_FILE)
            refs = found_refs
        message = Message(room_id, room.seq, message_id, author.id, txn, body, now_ms,
                          ack_required=options.ack_required, attachments=refs)
        if not await tx.insert_message(message, urgent=options.urgent):
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


def _no_quiet_hours_now(options: PostOptions, now_ms: int) -> bool:
    """Would a room following the school's quiet hours deliver now?"""
    window = quiet_hours.effective_window(options.quiet_hours, quiet_hours.SCHOOL)
    return quiet_hours.release_time(now_ms, options.timezone, window) is None
