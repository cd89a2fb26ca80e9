"""What the SQL of several domains shares: row conversions, the message insert
and look-ups, a member's moderation state, the directory version, the audit
writer (each called inside the caller's transaction).
"""

from __future__ import annotations

from typing import Any

import orjson

from preau.server.directory.model import Profile, Room, RoomKind, School
from preau.server.moderation.rules import MemberState, Premoderation, RoomMode, RoomPolicy
from preau.server.store.engine import Row, Transaction, new_id
from preau.server.store.records import (
    AttachmentRef,
    AuditAction,
    HeldMessage,
    HeldStatus,
    Message,
    MessageKind,
)

# -- row conversions --------------------------------------------------------

MESSAGE_COLUMNS = (
    "room_id, seq, id, sender_id, txn, body, created_ms, kind, redacts, reason, redacted_seq,"
    " ack_required, edited_ms, edit_rev, attachments"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (room_id, seq, id, sender_id, txn, body, created_ms, ack_required,"
    " attachments)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (room_id, sender_id, txn) DO NOTHING"
)
ROOM_COLUMNS = "id, school_id, kind, name, class_id, opener_id, closed_ms"


def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def attachments_json(refs: tuple[AttachmentRef, ...] | list[AttachmentRef]) -> str | None:
    """A message's ``attachments`` column: its files' wire form, NULL for none."""
    return orjson.dumps([a.to_wire() for a in refs]).decode() if refs else None


def attachments_of_row(raw: Any) -> tuple[AttachmentRef, ...]:
    if raw is None:
        return ()
    return tuple(AttachmentRef.from_wire(a) for a in orjson.loads(raw))


def to_message(r: Row) -> Message:
    redacted = r["redacted_seq"] is not None
    return Message(
        room_id=r["room_id"],
        seq=int(r["seq"]),
        id=r["id"],
        sender_id=r["sender_id"],
        txn=r["txn"],
        body=r["body"],
        created_ms=int(r["created_ms"]),
        kind=MessageKind(r["kind"]),
        redacts=opt_int(r["redacts"]),
        reason=opt_str(r["reason"]),
        redacted=redacted,
        redacted_by_seq=opt_int(r["redacted_seq"]),
        ack_required=bool(r["ack_required"]),
        edited_ms=opt_int(r["edited_ms"]),
        edit_rev=int(r["edit_rev"]),
        # A redacted message's files are out of everyone's reach: never listed.
        attachments=() if redacted else attachments_of_row(r["attachments"]),
    )

def to_member_state(r: Row | None) -> MemberState:
    if r is None:
        return MemberState()
    return MemberState(
        muted_until_ms=opt_int(r["muted_until_ms"]),
        removed=bool(r["removed"]),
        last_post_ms=opt_int(r["last_post_ms"]),
    )

def to_room(r: Row) -> Room:
    return Room(
        id=r["id"],
        school_id=r["school_id"],
        kind=RoomKind(r["kind"]),
        name=r["name"],
        class_id=opt_str(r["class_id"]),
        opener_id=opt_str(r["opener_id"]),
        closed=r["closed_ms"] is not None,
    )


SCHOOL_COLUMNS = (
    "id, uai, name, timezone, quiet_hours, parents_may_message, reactions_in_announcements,"
    " staff_presence_to_parents, attachment_kinds"
)


def to_school(r: Row) -> School:
    return School(id=r["id"], uai=r["uai"], name=r["name"], timezone=r["timezone"],
                  quiet_hours=r["quiet_hours"],
                  parents_may_message=bool(r["parents_may_message"]),
                  reactions_in_announcements=bool(r["reactions_in_announcements"]),
                  staff_presence_to_parents=bool(r["staff_presence_to_parents"]),
                  attachment_kinds=None if r["attachment_kinds"] is None else frozenset(
                      k for k in str(r["attachment_kinds"]).split(",") if k))

async def bump_directory(tx: Transaction, school_id: str) -> None:
    await tx.execute(
        "UPDATE schools SET directory_version = directory_version + 1 WHERE id = $1", school_id
    )


async def insert_message(
    tx: Transaction, message: Message, *, notify: bool = False, urgent: bool = False,
    private: bool | None = None,
) -> bool:
    """Insert a plain message; False if its ``(room, sender, txn)`` exists.

    The unique index is the duplicate check: no extra SELECT on the common
    path, where the txn is new.

    ``notify`` (a member's post, an approved held message, a delivered
    scheduled one): a message that may notify
    someone — an announcement, a body with « @ », a private conversation's —
    gets its ``notification_outbox`` row in this transaction, for the
    fan-out after the sender's acknowledgement (migration 0110; the
    PostgreSQL post function of migration 0112 writes the same row).
    ``private``: whether the room is a private conversation, when the caller
    knows it (None: the statement asks the rooms table)."""
    inserted = await tx.execute(
        _INSERT_MESSAGE,
        message.room_id,
        message.seq,
        message.id,
        message.sender_id,
        message.txn,
        message.body,
        message.created_ms,
        int(message.ack_required),
        attachments_json(message.attachments),
    )
    if inserted and notify:
        if message.ack_required or "@" in message.body or private:
            outbox = _OUTBOX_ALWAYS
        elif private is None:
            outbox = _OUTBOX_PRIVATE
        else:
            return True  # nobody to notify: no statement
        await tx.execute(outbox, message.room_id, message.seq, int(urgent), message.created_ms)
    return inserted > 0


_OUTBOX_ALWAYS = ("INSERT INTO notification_outbox (room_id, seq, urgent, created_ms)"
                  " VALUES ($1, $2, $3, $4)")
_OUTBOX_PRIVATE = ("INSERT INTO notification_outbox (room_id, seq, urgent, created_ms)"
                   " SELECT $1, $2, $3, $4 WHERE EXISTS"
                   " (SELECT 1 FROM rooms WHERE id = $1 AND kind = 'private')")


async def message_by_txn(
    tx: Transaction, room_id: str, sender_id: str, txn: str
) -> Message | None:
    row = await tx.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} FROM messages"
        " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
        room_id,
        sender_id,
        txn,
    )
    return None if row is None else to_message(row)


async def message_at(tx: Transaction, room_id: str, seq: int) -> Message | None:
    row = await tx.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2", room_id, seq
    )
    return None if row is None else to_message(row)

async def member_state(tx: Transaction, room_id: str, person_id: str) -> MemberState:
    row = await tx.fetchrow(
        "SELECT muted_until_ms, removed, last_post_ms FROM room_members"
        " WHERE room_id = $1 AND person_id = $2",
        room_id,
        person_id,
    )
    return to_member_state(row)


async def record_post(tx: Transaction, room_id: str, person_id: str, now_ms: int) -> None:
    await tx.execute(
        "INSERT INTO room_members (room_id, person_id, last_post_ms) VALUES ($1, $2, $3)"
        " ON CONFLICT (room_id, person_id) DO UPDATE SET last_post_ms = excluded.last_post_ms",
        room_id,
        person_id,
        now_ms,
    )


async def audit(
    tx: Transaction,
    school_id: str,
    room_id: str | None,
    actor_id: str,
    action: AuditAction,
    now_ms: int,
    *,
    target_person_id: str | None = None,
    target_seq: int | None = None,
    target_held_id: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a moderation action, in the transaction that performs it.

    Taken last in every transaction, the school's counter row serialises its
    moderation actions only (never a chat message), in a fixed lock order."""
    seq = await tx.fetchval(
        "INSERT INTO audit_sequences (school_id, last) VALUES ($1, 1)"
        " ON CONFLICT (school_id) DO UPDATE SET last = audit_sequences.last + 1"
        " RETURNING last",
        school_id,
    )
    await tx.execute(
        "INSERT INTO audit_log (id, school_id, seq, room_id, actor_id, action, target_person_id,"
        " target_seq, target_held_id, reason, details, created_ms)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        new_id(),
        school_id,
        int(seq),
        room_id,
        actor_id,
        action.value,
        target_person_id,
        target_seq,
        target_held_id,
        reason,
        orjson.dumps(details or {}).decode(),
        now_ms,
    )


POLICY_COLUMNS = "mode, premoderation, slow_mode_s, recall_window_s, quiet_hours"
HELD_COLUMNS = (
    "id, room_id, sender_id, txn, body, created_ms, status, decided_by, decided_ms, reason, seq"
)


def to_policy(r: Row) -> RoomPolicy:
    return RoomPolicy(
        mode=RoomMode(r["mode"]),
        premoderation=Premoderation(r["premoderation"]),
        slow_mode_s=int(r["slow_mode_s"]),
        recall_window_s=int(r["recall_window_s"]),
        quiet_hours=str(r["quiet_hours"]),
    )


def to_held(r: Row) -> HeldMessage:
    return HeldMessage(
        id=r["id"],
        room_id=r["room_id"],
        sender_id=r["sender_id"],
        txn=r["txn"],
        body=r["body"],
        created_ms=int(r["created_ms"]),
        status=HeldStatus(r["status"]),
        decided_by=opt_str(r["decided_by"]),
        decided_ms=opt_int(r["decided_ms"]),
        reason=opt_str(r["reason"]),
        seq=opt_int(r["seq"]),
    )


async def held_by_txn(
    tx: Transaction, room_id: str, sender_id: str, txn: str
) -> HeldMessage | None:
    row = await tx.fetchrow(
        f"SELECT {HELD_COLUMNS} FROM held_messages"
        " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
        room_id,
        sender_id,
        txn,
    )
    return None if row is None else to_held(row)


async def messaging_stopped(
    tx: Transaction, room_id: str, profile: Profile, person_id: str
) -> str | None:
    """``'school'`` when the room's school has its kill switch on for
    ``profile``, ``'account'`` when the person is paused, else None (one look-up)."""
    found = await tx.fetchval(
        "SELECT 'school' FROM messaging_suspensions s JOIN rooms r"
        " ON r.school_id = s.school_id WHERE r.id = $1 AND s.profile = $2"
        " UNION ALL SELECT 'account' FROM paused_accounts WHERE person_id = $3",
        room_id, profile.value, person_id,
    )
    return None if found is None else str(found)
