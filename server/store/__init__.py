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
  (the store never reads the clock, so tests control time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from server.directory.model import Member, Person, Profile, Room, School, SchoolClass
from server.directory.rules import CommunicationRules


@dataclass(frozen=True, slots=True)
class Message:
    room_id: str
    seq: int
    id: str
    sender_id: str
    txn: str
    body: str
    created_ms: int


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
    async def get_room(self, room_id: str) -> Room | None: ...

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
