"""The Store: everything Préau keeps, behind one narrow async interface.

Two implementations share one schema and one set of versioned migrations
(``server/store/migrations``): SQLite for the embedded default and PostgreSQL
(asyncpg) for several nodes. ``server.store.factory.open_store(url)`` picks one
from a URL. The contract suite (tests/server/store/test_contract.py) runs the
same tests on both.

Guarantees every implementation gives:

- each method is one transaction: it commits entirely or not at all;
- per-room sequence numbers are gapless and strictly increasing: when a message
  with ``seq = n`` is committed, every ``seq < n`` of that room is committed
  too, so a reader that sees ``n`` may fill any gap below it from the store;
- ``append_message`` is idempotent by ``(room, sender, txn)``: a retry returns
  the message first stored, with ``created=False``, and allocates no sequence;
- times are integer milliseconds since the epoch, passed in by the caller
  (the store never reads the clock, so tests control time);
- moderation (``post_message``, ``redact_message``, ``decide_held``,
  ``moderate_member``, ``set_room_policy``) checks the room's policy and the
  member's state *inside* the transaction that applies the action, and writes
  the action's audit entry in that same transaction: what one node commits,
  every node's next call sees, with no cache in between;
- a redacted message keeps its place (seq) but loses its body: the original
  moves to a table read only by ``audit_entries``, so no replay or history
  can return it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from server.directory.model import Member, Person, Profile, Room, School, SchoolClass
from server.directory.rules import CommunicationRules
from server.moderation.rules import MemberState, PolicyChange, Refusal, RoomPolicy
from server.moderation.wordfilter import FilterMatch, WordLists


class MessageKind(StrEnum):
    MESSAGE = "message"
    REDACTION = "redaction"  # redacts an earlier message of the room


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of a room's timeline.

    A ``message`` that was redacted has ``redacted=True`` and an empty body. A
    ``redaction`` has ``redacts`` (the seq it redacts), the redacting person as
    ``sender_id`` and an optional ``reason``.
    """

    room_id: str
    seq: int
    id: str
    sender_id: str
    txn: str
    body: str
    created_ms: int
    kind: MessageKind = MessageKind.MESSAGE
    redacts: int | None = None
    reason: str | None = None
    redacted: bool = False
    ack_required: bool = False  # an announcement: readers acknowledge it ("J'ai lu")


@dataclass(frozen=True, slots=True)
class Author:
    """Who posts, as far as the room's policy cares."""

    id: str
    profile: Profile
    moderator: bool


class HeldStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A message waiting for (or past) a moderator's decision."""

    id: str
    room_id: str
    sender_id: str
    txn: str
    body: str
    created_ms: int
    status: HeldStatus = HeldStatus.PENDING
    decided_by: str | None = None
    decided_ms: int | None = None
    reason: str | None = None
    seq: int | None = None  # approved: where it was posted


@dataclass(frozen=True, slots=True)
class ScheduledMessage:
    """A message committed during quiet hours, delivered at ``release_ms``."""

    id: str
    room_id: str
    sender_id: str
    txn: str
    body: str
    created_ms: int
    release_ms: int
    ack_required: bool = False
    seq: int | None = None  # released: where it was posted


@dataclass(frozen=True, slots=True)
class PostOptions:
    """How a post is delivered, beyond the room's policy.

    ``quiet_hours`` and ``timezone`` are the school's (the room's own setting
    is read in the post's transaction); ``urgent`` (admins only, checked by the
    caller) goes through quiet hours; ``ack_required`` makes an announcement.
    """

    quiet_hours: str = "off"
    timezone: str = "UTC"
    urgent: bool = False
    ack_required: bool = False
    scheduled_id: str = ""


@dataclass(frozen=True, slots=True)
class PausedAccount:
    """An account that may not post until an admin resumes it."""

    person_id: str
    paused_ms: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostResult:
    """What ``post_message`` did: exactly one of ``message``, ``held``, ``refusal``.

    ``created`` is False when the txn had been seen before: ``message`` or
    ``held`` is then the first result (a refusal is never a duplicate).
    """

    message: Message | None = None
    held: HeldMessage | None = None
    refusal: Refusal | None = None
    created: bool = False
    # The word filter's alert list matched a posted message (audited with it).
    alert: FilterMatch | None = None
    # Quiet hours: committed, delivered when the window opens.
    scheduled: ScheduledMessage | None = None


@dataclass(frozen=True, slots=True)
class DecideResult:
    """What ``decide_held`` did. ``changed`` is False when the message had
    already been decided (then ``held.status`` says how)."""

    held: HeldMessage
    message: Message | None  # approved: the posted message
    changed: bool
    scheduled: ScheduledMessage | None = None  # approved during quiet hours


@dataclass(frozen=True, slots=True)
class RedactResult:
    """The redaction event (``created`` False: the message was redacted
    before, this is that earlier event), or why not."""

    event: Message | None = None
    refusal: Refusal | None = None
    created: bool = False


class ReportStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"  # resolved: the message stays
    DELETED = "deleted"  # resolved: the message was redacted


@dataclass(frozen=True, slots=True)
class Report:
    """A member's report of message ``seq`` of a room, for the school's moderators."""

    id: str
    school_id: str
    room_id: str
    seq: int
    reporter_id: str
    reason: str | None
    created_ms: int
    status: ReportStatus = ReportStatus.OPEN
    resolved_by: str | None = None
    resolved_ms: int | None = None
    # The room's last seq when it was made: its context never goes past it
    # (what the reporter could see then; migration 0013).
    context_to: int | None = None


class AuditAction(StrEnum):
    POLICY_CHANGE = "policy.change"
    MESSAGE_DELETE = "message.delete"  # by a moderator
    MESSAGE_RECALL = "message.recall"  # by its author
    HELD_APPROVE = "held.approve"
    HELD_REJECT = "held.reject"
    MEMBER_MUTE = "member.mute"
    MEMBER_UNMUTE = "member.unmute"
    MEMBER_REMOVE = "member.remove"
    MEMBER_READMIT = "member.readmit"
    MESSAGING_SUSPEND = "messaging.suspend"  # the school's kill switch
    MESSAGING_RESUME = "messaging.resume"
    WORD_FILTER_CHANGE = "word_filter.change"  # a school's word lists replaced
    WORD_FILTER_ALERT = "word_filter.alert"  # a posted message matched the alert list
    REPORT_RESOLVE = "report.resolve"  # a moderator kept or deleted a reported message
    SCHOOL_SETTINGS = "school.settings"  # quiet hours, parents' conversations
    ACCOUNT_PAUSE = "account.pause"  # a burst to many rooms paused an account
    ACCOUNT_RESUME = "account.resume"  # an admin let it post again
    URGENT_MESSAGE = "message.urgent"  # an admin's message sent through quiet hours


MEMBER_ACTIONS = frozenset({
    AuditAction.MEMBER_MUTE, AuditAction.MEMBER_UNMUTE,
    AuditAction.MEMBER_REMOVE, AuditAction.MEMBER_READMIT,
})


@dataclass(frozen=True, slots=True)
class MemberChange:
    state: MemberState
    changed: bool  # False: the state already was so (nothing written, nothing audited)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    school_id: str
    seq: int  # the school's entries in commit order, from 1
    room_id: str | None
    actor_id: str
    action: AuditAction
    target_person_id: str | None
    target_seq: int | None
    target_held_id: str | None
    reason: str | None
    details: dict[str, Any]
    created_ms: int
    # The text the action concerned (a deleted, recalled, approved or rejected
    # message), while it is retained; nothing else.
    content: str | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit log, newest first; ``before``: only entries with a
    lower ``seq`` (the last one of the previous page)."""

    room_id: str | None = None
    actor_id: str | None = None
    target_person_id: str | None = None
    action: AuditAction | None = None
    before: int | None = None
    limit: int = 50

    def describe(self) -> str:
        """The filters set, as ``room=…&actor=…`` (for the access journal)."""
        fields = {"room": self.room_id, "actor": self.actor_id,
                  "target": self.target_person_id,
                  "action": None if self.action is None else self.action.value}
        return "&".join(f"{k}={v}" for k, v in fields.items() if v is not None)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What login needs to know about an account; never leaves the auth layer."""

    person_id: str
    login: str
    active: bool
    password_hash: str | None
    activation_hash: str | None
    activation_expires_ms: int | None
    # Hash of the activation code already used, kept so that presenting it
    # again gets a clear "already used" answer instead of a generic failure.
    activation_used_hash: str | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    token_hash: str
    person_id: str
    kind: str  # "cookie" (browser) or "bearer" (programs)
    created_ms: int
    last_seen_ms: int
    expires_ms: int  # absolute end of life
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One person of an import, already validated (see directory/csv_import.py)."""

    external_id: str
    profile: Profile
    first_name: str
    last_name: str
    class_names: tuple[str, ...] = ()  # pupil: exactly one; teacher: any; others: none
    parent_of: tuple[str, ...] = ()  # external ids of the children (parents only)
    is_admin: bool = False
    activation_hash: str = ""  # used only if the person is created by this import
    activation_expires_ms: int = 0


Link = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """A whole school's directory, or part of it, applied in one transaction.

    People are matched by ``(school, external_id)``: an existing person is
    updated (names, profile, classes, children, admin flag), a new one created
    with a fresh login and the row's activation code. People absent from the
    batch are left alone (the school-year rollover decides what to close).
    Class memberships and parent links of people in the batch are replaced by
    the batch's. Rooms: each new class gets its class room.
    Default rules: ``school_links(school_id)`` are stored when the school is
    created and ``class_links(school_id, class_id)`` when a class is; rules
    edited afterwards are never overwritten by a re-import.
    """

    uai: str
    school_name: str
    timezone: str
    people: Sequence[PersonRow]
    school_links: Callable[[str], list[Link]]
    class_links: Callable[[str, str], list[Link]]


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    person_id: str
    external_id: str
    login: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    school: School
    created: list[CreatedAccount] = field(default_factory=list)
    updated: int = 0
    classes_created: int = 0


@dataclass(frozen=True, slots=True)
class SchoolView:
    """A school's whole directory, loaded at once and cached by the directory service."""

    school: School
    classes: dict[str, SchoolClass]
    people: dict[str, Person]
    members: dict[str, Member]
    rules: CommunicationRules
    rooms: dict[str, Room]
    version: int = 0  # the school's directory_version when loaded


class Store(Protocol):
    """Narrow, async, one transaction per method (see the module docstring)."""

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version now in force."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the database cannot be reached (used by /api/health)."""

    # -- directory ---------------------------------------------------------
    async def import_directory(self, batch: ImportBatch, now_ms: int) -> ImportResult: ...

    async def school_ids(self) -> list[str]: ...

    async def school_by_uai(self, uai: str) -> School | None: ...

    async def directory_versions(self) -> dict[str, int]:
        """Each school's directory version, increased by every import touching it."""

    async def load_school(self, school_id: str) -> SchoolView | None:
        """Everything the circle of trust needs about one school (active people only)."""

    async def person_school(self, person_id: str) -> str | None:
        """The school of an active person, or None."""

    # -- accounts ----------------------------------------------------------
    async def credentials_by_login(self, login: str) -> Credentials | None: ...

    async def activate(self, person_id: str, password_hash: str, now_ms: int) -> bool:
        """Set the first password and consume the activation code.

        Returns False if the code was consumed meanwhile (two racing activations:
        exactly one wins)."""

    async def set_password(self, person_id: str, password_hash: str, now_ms: int) -> None: ...

    async def reset_activation(
        self, person_id: str, activation_hash: str, expires_ms: int, now_ms: int
    ) -> None:
        """Issue a new activation code (a lost code, a forgotten password): the
        password is cleared and the person must activate again."""

    # -- sessions ----------------------------------------------------------
    async def create_session(self, session: SessionRecord) -> None: ...

    async def get_session(self, token_hash: str) -> SessionRecord | None: ...

    async def touch_sessions(self, token_hashes: Sequence[str], now_ms: int) -> None: ...

    async def revoke_session(self, token_hash: str) -> None: ...

    async def revoke_person_sessions(self, person_id: str, keep: str | None = None) -> list[str]:
        """Revoke every live session of a person except ``keep``; return the revoked hashes."""

    async def delete_expired_sessions(self, now_ms: int) -> int: ...

    # -- chat --------------------------------------------------------------
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

    async def school_settings(self, school_id: str) -> School:
        """The school with its settings, read now (``LookupError`` if unknown)."""

    async def set_school_settings(
        self,
        school_id: str,
        actor_id: str | None,
        now_ms: int,
        *,
        quiet_hours: str | None = None,
        parents_may_message: bool | None = None,
    ) -> School:
        """Change a school's settings (``None``: unchanged, values checked by the
        caller), audited (unless ``actor_id`` is None: the deployment's defaults
        for a new school), directory version bumped so every node reloads."""

    async def room_head(self, room_id: str) -> int:
        """The last committed sequence number of a room (0 when empty)."""

    async def append_message(
        self, room_id: str, sender_id: str, txn: str, body: str, message_id: str, now_ms: int
    ) -> tuple[Message, bool]:
        """Commit a message with the room's next sequence number.

        Idempotent by ``(room_id, sender_id, txn)``: returns ``(message, created)``."""

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        """Messages with ``seq > after_seq``, oldest first, at most ``limit``."""

    async def messages_before(self, room_id: str, before_seq: int, limit: int) -> list[Message]:
        """The ``limit`` messages just below ``before_seq``, oldest first."""

    # -- moderation --------------------------------------------------------
    async def room_state(self, room_id: str, person_id: str) -> tuple[RoomPolicy, MemberState]:
        """A room's policy and one person's state in it (defaults when unset).

        Raises ``LookupError`` for an unknown room."""

    async def post_message(
        self,
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
        scheduled instead (``options``; server/directory/quiet_hours.py).

        Posting is ``append_message``; holding stores it under ``held_id``
        (without a seq). Slow mode records the post time of non-moderators.
        Idempotent by ``(room_id, author, txn)`` across messages and held
        messages: a retry returns the first result whatever the state now.
        Raises ``LookupError`` for an unknown room."""

    async def held_messages(
        self,
        room_id: str,
        *,
        sender_id: str | None = None,
        statuses: Sequence[HeldStatus] = (HeldStatus.PENDING,),
        limit: int = 100,
    ) -> list[HeldMessage]:
        """Held messages of a room (of one sender if given), oldest first."""

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

    async def audit_entries(self, school_id: str, query: AuditQuery) -> list[AuditEntry]:
        """A school's audit log, newest first, filtered by ``query``."""

    async def purge_moderation_records(self, before_ms: int) -> int:
        """Delete what is kept only for audit and older than ``before_ms``:
        audit entries, originals of redacted messages, decided held messages,
        resolved reports.
        Return how many rows went."""

    # -- messaging kill switch ----------------------------------------------
    async def set_messaging_suspension(
        self,
        school_id: str,
        profiles: Sequence[Profile],
        suspended: bool,
        actor_id: str,
        reason: str | None,
        now_ms: int,
    ) -> list[Profile]:
        """Suspend (or resume) posting for ``profiles`` in a school, audited in the
        same transaction (only actual changes). Return the profiles suspended now."""

    async def messaging_suspensions(self, school_id: str) -> list[Profile]: ...

    # -- word filter ----------------------------------------------------------
    async def word_lists(self, school_id: str) -> WordLists:
        """A school's word lists (``DEFAULT_LISTS`` until it replaced them)."""

    async def set_word_lists(
        self, school_id: str, lists: WordLists, actor_id: str, now_ms: int
    ) -> None:
        """Replace a school's three word lists, audited in the same transaction."""

    # -- reports -----------------------------------------------------------------
    async def create_report(
        self, report_id: str, room_id: str, seq: int, reporter_id: str, reason: str | None,
        now_ms: int,
    ) -> tuple[Report, bool] | None:
        """Report message ``seq`` (``None``: no such message, or not a message).
        One report per message and reporter: reporting again returns the first
        (and ``False``)."""

    async def reports(
        self, school_id: str, status: ReportStatus = ReportStatus.OPEN, limit: int = 100
    ) -> list[Report]:
        """A school's reports with ``status``, oldest first."""

    async def report(self, report_id: str) -> Report | None: ...

    async def resolve_report(
        self, report_id: str, actor_id: str, status: ReportStatus, now_ms: int
    ) -> list[Report]:
        """Resolve an open report and every other open report of the same
        message (``status`` kept or deleted; the redaction itself is
        ``redact_message``), each audited. Return those resolved now (empty:
        already resolved). Raises ``LookupError`` for an unknown report."""

    async def reports_by(self, reporter_id: str, limit: int = 100) -> list[Report]:
        """The reports a person made, newest first, with their outcome."""

    # -- paused accounts (hijacked-account defence) ------------------------
    async def pause_account(
        self, person_id: str, school_id: str, reason: str, details: dict[str, Any], now_ms: int
    ) -> bool:
        """Stop a person posting (``suspended``, checked in every post's
        transaction) until resumed; audited. False: already paused."""

    async def resume_account(
        self, person_id: str, school_id: str, actor_id: str, reason: str | None, now_ms: int
    ) -> bool:
        """Lift a pause (audited); False: the person was not paused."""

    async def paused_accounts(self, school_id: str) -> list[PausedAccount]:
        """The school's paused accounts, oldest first."""

    # -- quiet hours -------------------------------------------------------
    async def scheduled_messages(
        self, room_id: str, sender_id: str | None = None, limit: int = 100
    ) -> list[ScheduledMessage]:
        """Messages of a room waiting for quiet hours to end (of one sender if
        given), oldest first."""

    async def release_scheduled(
        self, now_ms: int, limit: int, new_message_id: Callable[[], str]
    ) -> list[Message]:
        """Post up to ``limit`` scheduled messages due at ``now_ms``, each with
        its room's next seq and its author's txn, in release order. Safe on
        several nodes at once: each message is posted by exactly one of them
        (the others get nothing for it). Returns the messages this call posted."""

    # -- acknowledgements and read markers ---------------------------------
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
