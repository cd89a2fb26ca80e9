"""The records the store reads and writes: plain frozen dataclasses and enums,
shared by every store module and by the services (re-exported by
``preau.server.store``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from preau.server.directory.model import Member, Person, Profile, Room, School, SchoolClass
from preau.server.directory.rules import CommunicationRules
from preau.server.moderation.rules import MemberState, Refusal
from preau.server.moderation.wordfilter import FilterMatch


class MessageKind(StrEnum):
    MESSAGE = "message"
    REDACTION = "redaction"  # redacts an earlier message of the room


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file as a message's frames show it (docs/protocol.md, "Attachments")."""

    id: str
    name: str
    size: int
    kind: str  # document | image | audio | video
    mime: str
    state: str  # ready | pending
    thumbnail: bool
    width: int | None = None
    height: int | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id, "name": self.name, "size": self.size, "kind": self.kind,
            "mime": self.mime, "state": self.state, "thumbnail": self.thumbnail,
        }
        if self.width is not None and self.height is not None:
            wire["width"], wire["height"] = self.width, self.height
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> AttachmentRef:
        return cls(
            str(wire["id"]), str(wire["name"]), int(wire["size"]), str(wire["kind"]),
            str(wire["mime"]), str(wire["state"]), bool(wire["thumbnail"]),
            None if wire.get("width") is None else int(wire["width"]),
            None if wire.get("height") is None else int(wire["height"]),
        )


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
    redacted_by_seq: int | None = None  # a redacted message: the redaction's seq
    ack_required: bool = False  # an announcement: readers acknowledge it ("J'ai lu")
    edited_ms: int | None = None  # edited by its author (the last time), shown "modifié"
    edit_rev: int = 0  # how many times it was edited (clients keep the highest)
    attachments: tuple[AttachmentRef, ...] = ()  # its files (a redacted message: none)


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
    # The author's uploads sent with it (their ids).
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PausedAccount:
    """An account that may not post until an admin resumes it."""

    person_id: str
    paused_ms: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostResult:
    """What ``preau.server.chat.posting.post_message`` did: exactly one of
    ``message``, ``held``, ``refusal`` (or ``scheduled``).

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
    author_id: str | None = None  # who wrote the removed message (told the reason)


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
    MESSAGE_EDIT = "message.edit"  # by its author, within the recall window
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
    CHARTER_PUBLISH = "charter.publish"  # a school admin published a charter version
    CLASS_LEVEL = "class.level"  # a class marked kindergarten or primary (mood of the day)
    ACCOUNT_NEW_CODE = "account.new_code"  # an admin or a teacher handed out a new activation code
    PERSON_CREATE = "person.create"  # the admin console (preau/server/console/): an account created
    PERSON_EDIT = "person.edit"  # names, address or admin right changed
    PERSON_MOVE = "person.move"  # a pupil moved to another class (or a teacher's classes set)
    PERSON_CLOSE = "person.close"  # an account closed (the erasure clock starts)
    PARENT_LINK = "person.parent_link"  # a parent's children set
    DIRECTORY_IMPORT = "directory.import"  # an import run from the console
    CLASS_CREATE = "class.create"  # a class or a group created in the console
    ATTACHMENT_INFECTED = "attachment.infected"  # the scanner refused an uploaded file
    RULE_ADD = "rules.link_add"  # a communication link added in the console
    RULE_REMOVE = "rules.link_remove"  # a communication link removed in the console
    RULES_RESET = "rules.reset"  # the school's communication rules back to the defaults


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
    remember: bool = False  # "remember this device": the longer timeouts apply
    device: str = ""  # the browser and system it was opened on, for its person's list


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One person of an import, already validated (see directory/csv_import.py)."""

    external_id: str
    profile: Profile
    first_name: str
    last_name: str
    class_names: tuple[str, ...] = ()  # pupil: exactly one; teacher: any; others: none
    group_names: tuple[str, ...] = ()  # pupils and teachers: any number (options, languages)
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
