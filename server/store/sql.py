"""The Store written once in SQL, over a small engine abstraction.

As in Synapse, the SQL is shared and an *engine* knows its database's
differences: the SQL here uses ``$1``-style placeholders and portable
statements (``ON CONFLICT DO NOTHING``, ``UPDATE ... RETURNING``), the SQLite
engine rewrites the placeholders, and each engine runs one transaction per
``async with engine.transaction() as tx:`` block. ``SqlStore`` implements every
``Store`` method once, each as exactly one transaction.

Also here: the migration runner (numbered ``migrations/NNNN_name.sql`` files,
applied in order in one transaction and recorded in ``schema_migrations``) and
the login generator.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, Protocol

import orjson

from server.directory import quiet_hours
from server.directory.model import (
    Member,
    Person,
    Profile,
    Room,
    RoomKind,
    School,
    SchoolClass,
    profile_group,
)
from server.directory.rules import CommunicationRules
from server.errors import ErrorCode
from server.moderation import wordfilter
from server.moderation.rules import (
    MemberState,
    PolicyChange,
    PostAction,
    PostDecision,
    Premoderation,
    Refusal,
    RoomMode,
    RoomPolicy,
    RoomRole,
    RoomState,
    counts_for_slow_mode,
    decide_post,
    decide_redaction,
    effective_role,
)
from server.moderation.wordfilter import DEFAULT_LISTS, FilterAction, FilterMatch, WordLists
from server.store import (
    MEMBER_ACTIONS,
    AuditAction,
    AuditEntry,
    AuditQuery,
    Author,
    CreatedAccount,
    Credentials,
    DecideResult,
    HeldMessage,
    HeldStatus,
    ImportBatch,
    ImportResult,
    Link,
    MemberChange,
    Message,
    MessageKind,
    PausedAccount,
    PersonRow,
    PostOptions,
    PostResult,
    RedactResult,
    Report,
    ReportStatus,
    ScheduledMessage,
    SchoolView,
    SessionRecord,
)

log = logging.getLogger(__name__)


# -- the engine abstraction -------------------------------------------------


class Row(Protocol):
    """A result row, indexable by column name (or position)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Transaction(Protocol):
    """One open transaction. SQL uses ``$1``, ``$2``… placeholders."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None: ...

    async def rollback(self) -> None:
        """Undo the transaction: nothing of it is committed and no statement may
        follow (the engine rolls back at once, or when the block exits)."""

    async def lock(self, key: int) -> None:
        """Hold an exclusive lock named ``key`` (a signed 64-bit int) until the end
        of the transaction, so that writers taking it run one at a time even
        across nodes."""


class Engine(Protocol):
    async def close(self) -> None: ...

    def transaction(
        self, *, readonly: bool = False, bulk: bool = False
    ) -> AbstractAsyncContextManager[Transaction]:
        """Open a transaction: committed when the block exits normally, rolled back
        when it raises. ``readonly`` transactions see one consistent snapshot.
        ``bulk`` announces many statements (an engine may run them off the event
        loop); ordinary transactions are a few indexed statements."""


# -- migrations -------------------------------------------------------------

_MIGRATION_FILE = re.compile(r"(\d{4})_(\w+)\.sql")
# Arbitrary fixed keys for Transaction.lock (PostgreSQL advisory locks).
_MIGRATION_LOCK = 0x7072_6561_7501
_IMPORT_LOCK = 0x7072_6561_7502


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(script: str) -> list[str]:
    """Split a migration into statements (see the rules in 0001_initial.sql).

    Needed because sqlite3 runs one statement per call, and its
    ``executescript`` would commit the surrounding transaction.
    """
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@cache
def load_migrations() -> tuple[Migration, ...]:
    """The migrations shipped with this code, in version order."""
    folder = resources.files("server.store").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match[1])
        if version in found:
            raise ValueError(f"two migrations have version {version}")
        statements = tuple(split_statements(entry.read_text(encoding="utf-8")))
        found[version] = Migration(version, match[2], statements)
    return tuple(found[v] for v in sorted(found))


_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    applied_ms  BIGINT NOT NULL
)"""


# -- logins and ids ---------------------------------------------------------

# Letters that Unicode decomposition does not reduce to ASCII.
_TRANSLITERATE = str.maketrans(
    {"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}
)


def _login_part(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.lower().translate(_TRANSLITERATE))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii")
    # '.' separates first and last name, so any other run of punctuation or
    # spaces inside a name becomes one '-' ("Jean Pierre" → "jean-pierre").
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")


def login_base(first_name: str, last_name: str) -> str:
    """``firstname.lastname`` in lowercase ASCII (``[a-z0-9.-]``), accents removed.

    Names with nothing left in ASCII fall back to whatever part remains, then
    to ``user``; uniqueness suffixes are added by the store.
    """
    parts = [p for p in (_login_part(first_name), _login_part(last_name)) if p]
    return ".".join(parts) or "user"


def new_id() -> str:
    """A short random id (12 URL-safe characters, never a '/')."""
    return secrets.token_urlsafe(9)


def _wall_clock_ms() -> int:
    # The one place the store reads the clock: migrate() has no now_ms and
    # applied_ms is bookkeeping for operators, never used by the code.
    return time.time_ns() // 1_000_000


# -- row conversions --------------------------------------------------------

_MESSAGE_COLUMNS = (
    "room_id, seq, id, sender_id, txn, body, created_ms, kind, redacts, reason, redacted_seq,"
    " ack_required"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (room_id, seq, id, sender_id, txn, body, created_ms, ack_required)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (room_id, sender_id, txn) DO NOTHING"
)
_POLICY_COLUMNS = "mode, premoderation, slow_mode_s, recall_window_s, quiet_hours"
_AT_ONCE = PostOptions()
_SCHEDULED_COLUMNS = (
    "id, room_id, sender_id, txn, body, created_ms, release_ms, ack_required, seq"
)
_HELD_COLUMNS = (
    "id, room_id, sender_id, txn, body, created_ms, status, decided_by, decided_ms, reason, seq"
)
_SESSION_COLUMNS = "token_hash, person_id, kind, created_ms, last_seen_ms, expires_ms, revoked"
_ROOM_COLUMNS = "id, school_id, kind, name, class_id, opener_id, closed_ms"
_CLASS_PROFILES = frozenset({Profile.PUPIL, Profile.TEACHER})


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _message(r: Row) -> Message:
    return Message(
        room_id=r["room_id"],
        seq=int(r["seq"]),
        id=r["id"],
        sender_id=r["sender_id"],
        txn=r["txn"],
        body=r["body"],
        created_ms=int(r["created_ms"]),
        kind=MessageKind(r["kind"]),
        redacts=_opt_int(r["redacts"]),
        reason=_opt_str(r["reason"]),
        redacted=r["redacted_seq"] is not None,
        ack_required=bool(r["ack_required"]),
    )


def _policy(r: Row) -> RoomPolicy:
    return RoomPolicy(
        mode=RoomMode(r["mode"]),
        premoderation=Premoderation(r["premoderation"]),
        slow_mode_s=int(r["slow_mode_s"]),
        recall_window_s=int(r["recall_window_s"]),
        quiet_hours=str(r["quiet_hours"]),
    )


def _member_state_of(r: Row | None) -> MemberState:
    if r is None:
        return MemberState()
    return MemberState(
        muted_until_ms=_opt_int(r["muted_until_ms"]),
        removed=bool(r["removed"]),
        last_post_ms=_opt_int(r["last_post_ms"]),
    )


def _held(r: Row) -> HeldMessage:
    return HeldMessage(
        id=r["id"],
        room_id=r["room_id"],
        sender_id=r["sender_id"],
        txn=r["txn"],
        body=r["body"],
        created_ms=int(r["created_ms"]),
        status=HeldStatus(r["status"]),
        decided_by=_opt_str(r["decided_by"]),
        decided_ms=_opt_int(r["decided_ms"]),
        reason=_opt_str(r["reason"]),
        seq=_opt_int(r["seq"]),
    )


def _session(r: Row) -> SessionRecord:
    return SessionRecord(
        token_hash=r["token_hash"],
        person_id=r["person_id"],
        kind=r["kind"],
        created_ms=int(r["created_ms"]),
        last_seen_ms=int(r["last_seen_ms"]),
        expires_ms=int(r["expires_ms"]),
        revoked=bool(r["revoked"]),
    )


def _room(r: Row) -> Room:
    return Room(
        id=r["id"],
        school_id=r["school_id"],
        kind=RoomKind(r["kind"]),
        name=r["name"],
        class_id=_opt_str(r["class_id"]),
        opener_id=_opt_str(r["opener_id"]),
        closed=r["closed_ms"] is not None,
    )


_SCHOOL_COLUMNS = "id, uai, name, timezone, quiet_hours, parents_may_message"


def _school(r: Row) -> School:
    return School(id=r["id"], uai=r["uai"], name=r["name"], timezone=r["timezone"],
                  quiet_hours=r["quiet_hours"],
                  parents_may_message=bool(r["parents_may_message"]))


# -- the store --------------------------------------------------------------


class SqlStore:
    """The ``Store`` on any ``Engine``; see ``server.store`` for the guarantees.

    Beyond the Protocol's docstrings: ``set_password`` and ``reset_activation``
    raise ``LookupError`` for an unknown person, as ``append_message`` does for
    an unknown room; ``room_head`` of an unknown room is 0.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine underneath, for tests and maintenance tools."""
        return self._engine

    async def migrate(self) -> int:
        """Apply pending migrations in one transaction; return the version in force.

        Idempotent. Concurrent callers (several nodes starting at once) are
        serialised by a lock, so each migration is applied exactly once.
        """
        async with self._engine.transaction(bulk=True) as tx:
            await tx.lock(_MIGRATION_LOCK)
            await tx.execute(_CREATE_SCHEMA_MIGRATIONS)
            rows = await tx.fetch("SELECT version FROM schema_migrations")
            applied = {int(r["version"]) for r in rows}
            for migration in load_migrations():
                if migration.version in applied:
                    continue
                for statement in migration.statements:
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
                    migration.version,
                    _wall_clock_ms(),
                )
                applied.add(migration.version)
                log.info("applied migration %04d_%s", migration.version, migration.name)
            return max(applied, default=0)

    async def close(self) -> None:
        await self._engine.close()

    async def ping(self) -> None:
        async with self._engine.transaction(readonly=True) as tx:
            await tx.fetchval("SELECT 1")

    # -- directory ---------------------------------------------------------

    async def import_directory(self, batch: ImportBatch, now_ms: int) -> ImportResult:
        """Apply ``batch`` as ``ImportBatch`` describes, in one transaction.

        Specifics: ``updated`` counts the batch's people who already existed;
        ``class_names`` count for pupils and teachers only, ``parent_of`` for
        parents only, and a child unknown in the school is logged and skipped.
        The link callbacks run inside the transaction: they must not call the
        store.
        """
        async with self._engine.transaction(bulk=True) as tx:
            # Imports run one at a time store-wide: login allocation reads the
            # taken logins then writes new ones, which must not interleave.
            await tx.lock(_IMPORT_LOCK)
            school, school_created = await self._upsert_school(tx, batch, now_ms)
            if school_created:
                await _insert_links(tx, school.id, batch.school_links(school.id))
            class_ids, classes_created = await self._ensure_classes(tx, school.id, batch, now_ms)

            rows = await tx.fetch(
                "SELECT id, external_id FROM people WHERE school_id = $1", school.id
            )
            person_ids: dict[str, str] = {r["external_id"]: r["id"] for r in rows}
            created: list[CreatedAccount] = []
            updated = 0
            in_batch: list[tuple[PersonRow, str]] = []
            for row in batch.people:
                person_id = person_ids.get(row.external_id)
                if person_id is None:
                    account = await self._create_person(tx, school.id, row, now_ms)
                    person_ids[row.external_id] = person_id = account.person_id
                    created.append(account)
                else:
                    await tx.execute(
                        "UPDATE people SET profile = $2, first_name = $3, last_name = $4,"
                        " is_admin = $5, updated_ms = $6 WHERE id = $1",
                        person_id,
                        row.profile.value,
                        row.first_name,
                        row.last_name,
                        int(row.is_admin),
                        now_ms,
                    )
                    updated += 1
                in_batch.append((row, person_id))

            await self._replace_memberships(tx, in_batch, class_ids)
            await self._replace_guardianships(tx, batch.uai, in_batch, person_ids)
        return ImportResult(
            school=school, created=created, updated=updated, classes_created=classes_created
        )

    async def _upsert_school(
        self, tx: Transaction, batch: ImportBatch, now_ms: int
    ) -> tuple[School, bool]:
        school_id = await tx.fetchval("SELECT id FROM schools WHERE uai = $1", batch.uai)
        school = School(
            id=school_id or new_id(),
            uai=batch.uai,
            name=batch.school_name,
            timezone=batch.timezone,
        )
        if school_id is None:
            await tx.execute(
                "INSERT INTO schools (id, uai, name, timezone, created_ms)"
                " VALUES ($1, $2, $3, $4, $5)",
                school.id,
                school.uai,
                school.name,
                school.timezone,
                now_ms,
            )
            return school, True
        await tx.execute(
            "UPDATE schools SET name = $2, timezone = $3,"
            " directory_version = directory_version + 1 WHERE id = $1",
            school.id,
            school.name,
            school.timezone,
        )
        return school, False

    async def _ensure_classes(
        self, tx: Transaction, school_id: str, batch: ImportBatch, now_ms: int
    ) -> tuple[dict[str, str], int]:
        """Class ids by name, creating the missing classes (with their room and
        default links); return them with the number created."""
        rows = await tx.fetch("SELECT id, name FROM classes WHERE school_id = $1", school_id)
        class_ids: dict[str, str] = {r["name"]: r["id"] for r in rows}
        wanted = dict.fromkeys(  # first-seen order, so ids are created predictably
            name
            for row in batch.people
            if row.profile in _CLASS_PROFILES
            for name in row.class_names
        )
        created = 0
        for name in wanted:
            if name in class_ids:
                continue
            class_id = new_id()
            await tx.execute(
                "INSERT INTO classes (id, school_id, name, created_ms) VALUES ($1, $2, $3, $4)",
                class_id,
                school_id,
                name,
                now_ms,
            )
            await tx.execute(
                "INSERT INTO rooms (id, school_id, kind, name, class_id, created_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                new_id(),
                school_id,
                RoomKind.CLASS.value,
                name,
                class_id,
                now_ms,
            )
            await _insert_links(tx, school_id, batch.class_links(school_id, class_id))
            class_ids[name] = class_id
            created += 1
        return class_ids, created

    async def _create_person(
        self, tx: Transaction, school_id: str, row: PersonRow, now_ms: int
    ) -> CreatedAccount:
        login = await _free_login(tx, login_base(row.first_name, row.last_name))
        # An empty activation hash means "no code": store NULL, which the auth
        # layer reads as "nothing to activate with".
        activation_hash = row.activation_hash or None
        expires_ms = row.activation_expires_ms if activation_hash is not None else None
        person_id = new_id()
        await tx.execute(
            "INSERT INTO people (id, school_id, external_id, login, profile, first_name,"
            " last_name, is_admin, active, activation_hash, activation_expires_ms,"
            " created_ms, updated_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, $11)",
            person_id,
            school_id,
            row.external_id,
            login,
            row.profile.value,
            row.first_name,
            row.last_name,
            int(row.is_admin),
            activation_hash,
            expires_ms,
            now_ms,
        )
        return CreatedAccount(person_id=person_id, external_id=row.external_id, login=login)

    async def _replace_memberships(
        self, tx: Transaction, in_batch: list[tuple[PersonRow, str]], class_ids: dict[str, str]
    ) -> None:
        await tx.executemany(
            "DELETE FROM class_members WHERE person_id = $1", [(pid,) for _, pid in in_batch]
        )
        # Parents' and staff's classes are derived (children) or none: only
        # pupils and teachers have rows here, whatever the batch says.
        await tx.executemany(
            "INSERT INTO class_members (class_id, person_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            [
                (class_ids[name], pid)
                for row, pid in in_batch
                if row.profile in _CLASS_PROFILES
                for name in row.class_names
            ],
        )

    async def _replace_guardianships(
        self,
        tx: Transaction,
        uai: str,
        in_batch: list[tuple[PersonRow, str]],
        person_ids: dict[str, str],
    ) -> None:
        # A parent row owns its links: a pupil's row carries no guardians, so
        # re-importing pupils alone never drops their parents.
        await tx.executemany(
            "DELETE FROM guardianships WHERE parent_id = $1", [(pid,) for _, pid in in_batch]
        )
        links: list[tuple[str, str]] = []
        for row, parent_id in in_batch:
            if row.profile is not Profile.PARENT:
                continue
            for child_external_id in row.parent_of:
                child_id = person_ids.get(child_external_id)
                if child_id is None or child_id == parent_id:
                    # Validation happens before the store; a bad reference
                    # must not sink the whole import.
                    log.warning(
                        "import %s: parent %s names child %s, unknown in this school: ignored",
                        uai,
                        row.external_id,
                        child_external_id,
                    )
                    continue
                links.append((parent_id, child_id))
        await tx.executemany(
            "INSERT INTO guardianships (parent_id, child_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            links,
        )

    async def school_ids(self) -> list[str]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch("SELECT id FROM schools ORDER BY uai")
        return [r["id"] for r in rows]

    async def directory_versions(self) -> dict[str, int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch("SELECT id, directory_version FROM schools")
        return {r["id"]: int(r["directory_version"]) for r in rows}

    async def school_by_uai(self, uai: str) -> School | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_SCHOOL_COLUMNS} FROM schools WHERE uai = $1", uai
            )
        return None if row is None else _school(row)

    async def load_school(self, school_id: str) -> SchoolView | None:
        async with self._engine.transaction(readonly=True, bulk=True) as tx:
            school_row = await tx.fetchrow(
                f"SELECT {_SCHOOL_COLUMNS}, directory_version FROM schools WHERE id = $1",
                school_id,
            )
            if school_row is None:
                return None
            class_rows = await tx.fetch(
                "SELECT id, name FROM classes WHERE school_id = $1", school_id
            )
            people_rows = await tx.fetch(
                "SELECT id, external_id, profile, first_name, last_name, login, is_admin,"
                " CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS activated"
                " FROM people WHERE school_id = $1 AND active = 1",
                school_id,
            )
            member_rows = await tx.fetch(
                "SELECT m.class_id, m.person_id FROM class_members m"
                " JOIN classes c ON c.id = m.class_id WHERE c.school_id = $1",
                school_id,
            )
            guardian_rows = await tx.fetch(
                "SELECT g.parent_id, g.child_id FROM guardianships g"
                " JOIN people p ON p.id = g.parent_id WHERE p.school_id = $1",
                school_id,
            )
            link_rows = await tx.fetch(
                "SELECT from_group, to_group FROM comm_links WHERE school_id = $1", school_id
            )
            room_rows = await tx.fetch(
                # Private conversations are not part of the cached directory:
                # they are many, and read one by one (``get_room``).
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE school_id = $1 AND kind <> $2",
                school_id,
                RoomKind.PRIVATE.value,
            )

        classes = {
            r["id"]: SchoolClass(id=r["id"], school_id=school_id, name=r["name"])
            for r in class_rows
        }
        people = {
            r["id"]: Person(
                id=r["id"],
                school_id=school_id,
                external_id=r["external_id"],
                profile=Profile(r["profile"]),
                first_name=r["first_name"],
                last_name=r["last_name"],
                login=r["login"],
                is_admin=bool(r["is_admin"]),
                active=True,
                activated=bool(r["activated"]),
            )
            for r in people_rows
        }
        school = _school(school_row)
        links = {(r["from_group"], r["to_group"]) for r in link_rows}
        if school.parents_may_message:
            # The school's setting: parents of a class may talk with each other
            # (a self-link on each class's parents group; never across classes).
            links.update((g, g) for g in (profile_group(c, Profile.PARENT) for c in classes))
        return SchoolView(
            version=int(school_row["directory_version"]),
            school=school,
            classes=classes,
            people=people,
            members=_members(people, member_rows, guardian_rows),
            rules=CommunicationRules(
                # Self-links express "members may talk with each other", so
                # ``internal`` stays empty.
                links=frozenset(links),
                internal=frozenset(),
            ),
            rooms={r["id"]: _room(r) for r in room_rows},
        )

    async def person_school(self, person_id: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            value = await tx.fetchval(
                "SELECT school_id FROM people WHERE id = $1 AND active = 1", person_id
            )
        return _opt_str(value)

    # -- accounts ----------------------------------------------------------

    async def credentials_by_login(self, login: str) -> Credentials | None:
        """Case-insensitive: stored logins are lowercase ASCII."""
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(
                "SELECT id, login, active, password_hash, activation_hash,"
                " activation_expires_ms, activation_used_hash FROM people WHERE login = $1",
                login.lower(),
            )
        if r is None:
            return None
        return Credentials(
            person_id=r["id"],
            login=r["login"],
            active=bool(r["active"]),
            password_hash=_opt_str(r["password_hash"]),
            activation_hash=_opt_str(r["activation_hash"]),
            activation_expires_ms=_opt_int(r["activation_expires_ms"]),
            activation_used_hash=_opt_str(r["activation_used_hash"]),
        )

    async def activate(self, person_id: str, password_hash: str, now_ms: int) -> bool:
        """Succeeds only while an activation code is pending: of two racing
        activations, the second finds it consumed. Expiry is the caller's check."""
        async with self._engine.transaction() as tx:
            # On the right-hand side every column still has its old value, so
            # the pending code moves into activation_used_hash.
            changed = await tx.execute(
                "UPDATE people SET password_hash = $2, activation_used_hash = activation_hash,"
                " activation_hash = NULL, activation_expires_ms = NULL, activated_ms = $3,"
                " updated_ms = $3 WHERE id = $1 AND activation_hash IS NOT NULL",
                person_id,
                password_hash,
                now_ms,
            )
        return changed == 1

    async def set_password(self, person_id: str, password_hash: str, now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE people SET password_hash = $2, updated_ms = $3 WHERE id = $1",
                person_id,
                password_hash,
                now_ms,
            )
        if changed == 0:
            raise LookupError(f"no person {person_id!r}")

    async def reset_activation(
        self, person_id: str, activation_hash: str, expires_ms: int, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE people SET password_hash = NULL, activation_hash = $2,"
                " activation_expires_ms = $3, updated_ms = $4 WHERE id = $1",
                person_id,
                activation_hash,
                expires_ms,
                now_ms,
            )
        if changed == 0:
            raise LookupError(f"no person {person_id!r}")

    # -- sessions ----------------------------------------------------------

    async def create_session(self, session: SessionRecord) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                session.token_hash,
                session.person_id,
                session.kind,
                session.created_ms,
                session.last_seen_ms,
                session.expires_ms,
                int(session.revoked),
            )

    async def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session as stored, revoked or expired ones included: the caller judges."""
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = $1", token_hash
            )
        return None if row is None else _session(row)

    async def touch_sessions(self, token_hashes: Sequence[str], now_ms: int) -> None:
        """Set ``last_seen_ms`` to ``now_ms``; it never moves backwards."""
        if not token_hashes:
            return
        async with self._engine.transaction() as tx:
            await tx.executemany(
                "UPDATE sessions SET last_seen_ms = $2 WHERE token_hash = $1 AND last_seen_ms < $2",
                [(h, now_ms) for h in token_hashes],
            )

    async def revoke_session(self, token_hash: str) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute("UPDATE sessions SET revoked = 1 WHERE token_hash = $1", token_hash)

    async def revoke_person_sessions(self, person_id: str, keep: str | None = None) -> list[str]:
        """Revoke the person's sessions not revoked yet, except ``keep``."""
        async with self._engine.transaction() as tx:
            if keep is None:
                rows = await tx.fetch(
                    "UPDATE sessions SET revoked = 1 WHERE person_id = $1 AND revoked = 0"
                    " RETURNING token_hash",
                    person_id,
                )
            else:
                rows = await tx.fetch(
                    "UPDATE sessions SET revoked = 1 WHERE person_id = $1 AND revoked = 0"
                    " AND token_hash <> $2 RETURNING token_hash",
                    person_id,
                    keep,
                )
        return sorted(r["token_hash"] for r in rows)

    async def delete_expired_sessions(self, now_ms: int) -> int:
        """Delete sessions whose ``expires_ms <= now_ms``; return how many."""
        async with self._engine.transaction() as tx:
            return await tx.execute("DELETE FROM sessions WHERE expires_ms <= $1", now_ms)

    # -- chat --------------------------------------------------------------

    async def get_room(self, room_id: str) -> Room | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id = $1", room_id)
            return None if row is None else await _with_members(tx, _room(row))

    # -- conversations and parents' rooms ------------------------------------

    async def open_conversation(
        self, school_id: str, people: frozenset[str], name: str, pair_key: str | None,
        now_ms: int, *, opener_id: str | None = None,
    ) -> tuple[Room, bool]:
        async with self._engine.transaction() as tx:
            if pair_key is not None:
                existing = await _room_by_pair(tx, pair_key)
                if existing is not None:
                    return existing, False
            room_id = new_id()
            inserted = await tx.execute(
                "INSERT INTO rooms (id, school_id, kind, name, created_ms, pair_key, opener_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                room_id, school_id, RoomKind.PRIVATE.value, name, now_ms, pair_key, opener_id,
            )
            if not inserted and pair_key is not None:  # opened at the same time elsewhere
                existing = await _room_by_pair(tx, pair_key)
                if existing is not None:
                    return existing, False
            await tx.executemany(
                "INSERT INTO room_members_explicit (room_id, person_id) VALUES ($1, $2)",
                [(room_id, person_id) for person_id in sorted(people)],
            )
        room = Room(room_id, school_id, RoomKind.PRIVATE, name, members=frozenset(people),
                    opener_id=opener_id)
        return room, True

    async def conversations_of(self, person_id: str) -> list[Room]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE id IN"
                " (SELECT room_id FROM room_members_explicit"
                "  WHERE person_id = $1 AND left_ms IS NULL)",
                person_id,
            )
            rooms = [await _with_members(tx, _room(r)) for r in rows]
        return sorted(rooms, key=lambda r: (r.name, r.id))

    async def conversations_in_school(self, school_id: str) -> list[Room]:
        async with self._engine.transaction(readonly=True, bulk=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE school_id = $1 AND kind = $2",
                school_id, RoomKind.PRIVATE.value,
            )
            members = await tx.fetch(
                "SELECT e.room_id, e.person_id FROM room_members_explicit e"
                " JOIN rooms r ON r.id = e.room_id"
                " WHERE r.school_id = $1 AND r.kind = $2 AND e.left_ms IS NULL",
                school_id, RoomKind.PRIVATE.value,
            )
        by_room: dict[str, set[str]] = {}
        for m in members:
            by_room.setdefault(str(m["room_id"]), set()).add(str(m["person_id"]))
        return [
            dataclasses.replace(_room(r), members=frozenset(by_room.get(str(r["id"]), ())))
            for r in rows
        ]

    async def close_conversation(
        self, room_id: str, reason: str, readers: frozenset[str], now_ms: int
    ) -> bool:
        async with self._engine.transaction() as tx:
            closed = await tx.execute(
                "UPDATE rooms SET closed_ms = $2, closed_reason = $3, pair_key = NULL"
                " WHERE id = $1 AND kind = $4 AND closed_ms IS NULL",
                room_id, now_ms, reason, RoomKind.PRIVATE.value,
            )
            if closed:  # what waited for quiet hours is never delivered now
                await tx.execute(
                    "DELETE FROM scheduled_messages WHERE room_id = $1 AND seq IS NULL", room_id
                )
            rows = await tx.fetch(
                "SELECT person_id FROM room_members_explicit"
                " WHERE room_id = $1 AND left_ms IS NULL",
                room_id,
            )
            leaving = sorted(str(r["person_id"]) for r in rows)
            leaving = [p for p in leaving if p not in readers]
            if leaving:
                await tx.executemany(
                    "UPDATE room_members_explicit SET left_ms = $3"
                    " WHERE room_id = $1 AND person_id = $2 AND left_ms IS NULL",
                    [(room_id, p, now_ms) for p in leaving],
                )
        return bool(closed) or bool(leaving)

    async def ensure_parents_room(
        self, school_id: str, class_id: str | None, now_ms: int
    ) -> tuple[Room, bool]:
        async with self._engine.transaction() as tx:
            if class_id is None:
                name = "Parents de l'établissement"
            else:
                class_name = await tx.fetchval(
                    "SELECT name FROM classes WHERE id = $1 AND school_id = $2",
                    class_id, school_id,
                )
                if class_name is None:
                    raise LookupError(class_id)
                name = f"Parents {class_name}"
            inserted = await tx.execute(
                "INSERT INTO rooms (id, school_id, kind, name, class_id, created_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                new_id(), school_id, RoomKind.PARENTS.value, name, class_id, now_ms,
            )
            if inserted:  # the cached directories reload and list it
                await _bump_directory(tx, school_id)
            if class_id is None:
                row = await tx.fetchrow(
                    f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE school_id = $1 AND kind = $2"
                    " AND class_id IS NULL",
                    school_id, RoomKind.PARENTS.value,
                )
            else:
                row = await tx.fetchrow(
                    f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE class_id = $1 AND kind = $2",
                    class_id, RoomKind.PARENTS.value,
                )
        assert row is not None
        return _room(row), bool(inserted)

    async def school_settings(self, school_id: str) -> School:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_SCHOOL_COLUMNS} FROM schools WHERE id = $1", school_id
            )
        if row is None:
            raise LookupError(school_id)
        return _school(row)

    async def set_school_settings(
        self,
        school_id: str,
        actor_id: str | None,
        now_ms: int,
        *,
        quiet_hours: str | None = None,
        parents_may_message: bool | None = None,
    ) -> School:
        """Change a school's settings (``None``: unchanged), audited, and bump
        the directory version so every node reloads them."""
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE schools SET quiet_hours = COALESCE($2, quiet_hours),"
                " parents_may_message = COALESCE($3, parents_may_message),"
                " directory_version = directory_version + 1 WHERE id = $1"
                f" RETURNING {_SCHOOL_COLUMNS}",
                school_id, quiet_hours,
                None if parents_may_message is None else int(parents_may_message),
            )
            if row is None:
                raise LookupError(school_id)
            details: dict[str, Any] = {}
            if quiet_hours is not None:
                details["quiet_hours"] = quiet_hours
            if parents_may_message is not None:
                details["parents_may_message"] = parents_may_message
            if actor_id is not None:
                await _audit(tx, school_id, None, actor_id, AuditAction.SCHOOL_SETTINGS,
                             now_ms, details=details)
        return _school(row)

    async def room_head(self, room_id: str) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            value = await tx.fetchval("SELECT last_seq FROM rooms WHERE id = $1", room_id)
        return 0 if value is None else int(value)

    async def append_message(
        self, room_id: str, sender_id: str, txn: str, body: str, message_id: str, now_ms: int
    ) -> tuple[Message, bool]:
        """Raises ``LookupError`` for an unknown room."""
        async with self._engine.transaction() as tx:
            # Bump the counter first: on PostgreSQL this takes the room's row
            # lock until commit, so senders to one room queue here, seqs commit
            # in order (no gaps visible), and the duplicate check below cannot
            # race with a concurrent insert of the same txn.
            seq = await tx.fetchval(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
                room_id,
            )
            if seq is None:
                raise LookupError(f"no room {room_id!r}")
            message = Message(room_id, int(seq), message_id, sender_id, txn, body, now_ms)
            # The unique (room, sender, txn) index is the duplicate check: no
            # extra SELECT on the common path, where the txn is new.
            if not await _insert_message(tx, message):
                existing = await _message_by_txn(tx, room_id, sender_id, txn)
                await tx.rollback()  # give the seq back: a retry allocates nothing
                assert existing is not None
                return existing, False
        return message, True

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[Message]:
        if limit <= 0:  # SQLite reads a negative LIMIT as "no limit"
            return []
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq > $2"
                " ORDER BY seq LIMIT $3",
                room_id,
                after_seq,
                limit,
            )
        return [_message(r) for r in rows]

    async def messages_before(self, room_id: str, before_seq: int, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq < $2"
                " ORDER BY seq DESC LIMIT $3",
                room_id,
                before_seq,
                limit,
            )
        return [_message(r) for r in reversed(rows)]

    # -- moderation ----------------------------------------------------------

    async def room_state(self, room_id: str, person_id: str) -> tuple[RoomPolicy, MemberState]:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(f"SELECT {_POLICY_COLUMNS} FROM rooms WHERE id = $1", room_id)
            if row is None:
                raise LookupError(f"no room {room_id!r}")
            member = await _member_state(tx, room_id, person_id)
        return _policy(row), member

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
        """Raises ``LookupError`` for an unknown room.

        The hot path (an open room, a member in good standing) is three
        statements: allocate the seq and read the policy in one UPDATE, read
        the member's state (skipped for moderators, whom nothing restricts),
        insert. The member's state is read by a statement of its own after
        the room's row lock is taken, so on PostgreSQL it sees whatever a
        concurrent post of the same member committed (slow mode holds).
        """
        options = options or _AT_ONCE
        async with self._engine.transaction() as tx:
            # The school's kill switch first: nothing else matters while it is on
            # for this profile (one indexed look-up; no row when it is off).
            # The person's own pause (a burst to many rooms) in the same look-up.
            stopped = await tx.fetchval(
                "SELECT 'school' FROM messaging_suspensions s JOIN rooms r"
                " ON r.school_id = s.school_id WHERE r.id = $1 AND s.profile = $2"
                " UNION ALL SELECT 'account' FROM paused_accounts WHERE person_id = $3",
                room_id,
                author.profile.value,
                author.id,
            )
            if stopped:
                await tx.rollback()
                return PostResult(refusal=Refusal(
                    ErrorCode.SUSPENDED,
                    "messaging is suspended in this school for now" if stopped == "school"
                    else "your account is paused: the school's administrators were alerted",
                ))
            row = await tx.fetchrow(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1"
                f" RETURNING last_seq, id, school_id, kind, closed_ms, {_POLICY_COLUMNS}",
                room_id,
            )
            if row is None:
                raise LookupError(f"no room {room_id!r}")
            if row["closed_ms"] is not None:
                # A conversation closed when a relation it needed ended: checked
                # here too, under the transaction, whatever a node's cache says.
                await tx.rollback()
                return PostResult(refusal=Refusal(
                    ErrorCode.CLOSED, "this conversation is closed: it is read-only now"
                ))
            policy = _policy(row)
            member = (
                MemberState() if author.moderator
                else await _member_state(tx, room_id, author.id)
            )
            state = RoomState(policy, member)
            role = effective_role(
                RoomRole.MODERATOR if author.moderator else RoomRole.MEMBER, state
            )
            decision = decide_post(role, author.profile, state, now_ms)
            # The school's word filter, for members only (one indexed read,
            # under the same transaction as the decision it changes).
            alert: FilterMatch | None = None
            if not author.moderator and decision.action is not PostAction.REFUSE:
                found = wordfilter.match(
                    await _word_lists(tx, str(row["school_id"])), body
                )
                # A private conversation has no moderator to review a held
                # message, and refusing it would silence a child writing to a
                # trusted adult ("suicide" is on the hold list): there it is
                # posted, and alerted (audit only, without the text).
                if (
                    found is not None
                    and found.action is FilterAction.HOLD
                    and row["kind"] == RoomKind.PRIVATE.value
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
                earlier = await _earlier_post(tx, room_id, author.id, txn)
                await tx.rollback()
                return earlier or PostResult(refusal=decision.refusal)

            if decision.action is PostAction.HOLD:
                posted = await _message_by_txn(tx, room_id, author.id, txn)
                if posted is not None:
                    await tx.rollback()
                    return PostResult(message=posted)
                held = HeldMessage(held_id, room_id, author.id, txn, body, now_ms)
                inserted = await tx.execute(
                    "INSERT INTO held_messages (id, room_id, sender_id, txn, body, created_ms)"
                    " VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (room_id, sender_id, txn) DO NOTHING",
                    held.id, held.room_id, held.sender_id, held.txn, held.body, held.created_ms,
                )
                if inserted == 0:
                    earlier_held = await _held_by_txn(tx, room_id, author.id, txn)
                    await tx.rollback()
                    assert earlier_held is not None
                    return PostResult(held=earlier_held)
                # A held message has no seq yet: give the number back. Nobody
                # else can have seen it, the row lock is ours until commit.
                await tx.execute(
                    "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id
                )
                if counts_for_slow_mode(role, policy):
                    await _record_post(tx, room_id, author.id, now_ms)
                return PostResult(held=held, created=True)

            release_ms = await _quiet_release(tx, row, author.id, options, now_ms)
            if release_ms is not None and not options.urgent:
                return await _schedule(tx, row, author, txn, body, options, release_ms,
                                       role, policy, now_ms)
            message = Message(room_id, int(row["last_seq"]), message_id, author.id, txn, body,
                              now_ms, ack_required=options.ack_required)
            if not await _insert_message(tx, message):
                existing = await _message_by_txn(tx, room_id, author.id, txn)
                await tx.rollback()
                assert existing is not None
                return PostResult(message=existing)
            if counts_for_slow_mode(role, policy):
                await _record_post(tx, room_id, author.id, now_ms)
            if alert is not None:
                await _audit(
                    tx, str(row["school_id"]), room_id, author.id,
                    AuditAction.WORD_FILTER_ALERT, now_ms,
                    target_person_id=author.id, target_seq=message.seq,
                    details={"words": list(alert.words)},
                )
            if release_ms is not None:  # urgent, through quiet hours: accountable
                await _audit(
                    tx, str(row["school_id"]), room_id, author.id,
                    AuditAction.URGENT_MESSAGE, now_ms, target_seq=message.seq,
                )
        return PostResult(message=message, created=True, alert=alert)

    async def held_messages(
        self,
        room_id: str,
        *,
        sender_id: str | None = None,
        statuses: Sequence[HeldStatus] = (HeldStatus.PENDING,),
        limit: int = 100,
    ) -> list[HeldMessage]:
        if limit <= 0 or not statuses:
            return []
        args: list[Any] = [room_id, limit]
        marks = []
        for status in statuses:
            args.append(status.value)
            marks.append(f"${len(args)}")
        sql = (
            f"SELECT {_HELD_COLUMNS} FROM held_messages WHERE room_id = $1"
            f" AND status IN ({', '.join(marks)})"
        )
        if sender_id is not None:
            args.append(sender_id)
            sql += f" AND sender_id = ${len(args)}"
        sql += " ORDER BY created_ms, id LIMIT $2"
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql, *args)
        return [_held(r) for r in rows]

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
            # Locks in the order post_message takes them (room, then held
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
                f" RETURNING {_HELD_COLUMNS}",
                held_id, room_id, status.value, actor_id, now_ms, reason,
            )
            if row is None:  # unknown, or decided before: change nothing
                earlier = await tx.fetchrow(
                    f"SELECT {_HELD_COLUMNS} FROM held_messages WHERE id = $1 AND room_id = $2",
                    held_id, room_id,
                )
                posted = None
                if earlier is not None and earlier["seq"] is not None:
                    posted = await _message_at(tx, room_id, int(earlier["seq"]))
                await tx.rollback()
                if earlier is None:
                    raise LookupError(f"no held message {held_id!r} in room {room_id!r}")
                return DecideResult(_held(earlier), posted, changed=False)
            held = _held(row)
            message: Message | None = None
            scheduled: ScheduledMessage | None = None
            release_ms = None
            if approve and options is not None and not options.urgent:
                release_ms = await _quiet_release(tx, room, held.sender_id, options, now_ms)
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
            elif approve:
                message = Message(room_id, int(room["last_seq"]), message_id, held.sender_id,
                                  held.txn, held.body, now_ms)
                if not await _insert_message(tx, message):
                    # The author's retry was posted directly meanwhile (the
                    # policy changed): that post stands, this seq goes back.
                    message = await _message_by_txn(tx, room_id, held.sender_id, held.txn)
                    assert message is not None
                    await tx.execute(
                        "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id
                    )
                await tx.execute(
                    "UPDATE held_messages SET seq = $2 WHERE id = $1", held.id, message.seq
                )
                held = dataclasses.replace(held, seq=message.seq)
            await _audit(
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
                f" RETURNING last_seq, school_id, {_POLICY_COLUMNS}",
                room_id,
            )
            if room is None:
                raise LookupError(f"no room {room_id!r}")
            target = await _message_at(tx, room_id, seq)
            if target is None or target.kind is not MessageKind.MESSAGE:
                await tx.rollback()
                return RedactResult(refusal=Refusal(ErrorCode.NOT_FOUND, "no such message"))
            if target.redacted:  # redacted before: that redaction stands
                redaction_seq = await tx.fetchval(
                    "SELECT redacted_seq FROM messages WHERE room_id = $1 AND seq = $2",
                    room_id, seq,
                )
                earlier = await _message_at(tx, room_id, int(redaction_seq))
                await tx.rollback()
                return RedactResult(event=earlier)
            policy = _policy(room)
            member = MemberState() if moderator else await _member_state(tx, room_id, actor_id)
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
            await _audit(
                tx, room["school_id"], room_id, actor_id,
                AuditAction.MESSAGE_DELETE if moderator else AuditAction.MESSAGE_RECALL, now_ms,
                target_person_id=target.sender_id, target_seq=seq, reason=reason,
            )
        return RedactResult(event=event, created=True)

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
            current = await _member_state(tx, room_id, target_id)
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
            await _audit(tx, school_id, room_id, actor_id, action, now_ms,
                         target_person_id=target_id, reason=reason, details=details)
        return MemberChange(new, changed=True)

    async def member_states(self, room_id: str) -> dict[str, MemberState]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, muted_until_ms, removed, last_post_ms FROM room_members"
                " WHERE room_id = $1",
                room_id,
            )
        return {r["person_id"]: _member_state_of(r) for r in rows}

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
                f" RETURNING school_id, {_POLICY_COLUMNS}",
                room_id,
            )
            if row is None:
                raise LookupError(f"no room {room_id!r}")
            old = _policy(row)
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
            await _audit(tx, row["school_id"], room_id, actor_id, AuditAction.POLICY_CHANGE,
                         now_ms, reason=reason, details=details)
        return new, True

    async def audit_entries(self, school_id: str, query: AuditQuery) -> list[AuditEntry]:
        if query.limit <= 0:
            return []
        args: list[Any] = [school_id, query.limit]
        where = ["a.school_id = $1"]
        for column, value in (
            ("a.room_id", query.room_id),
            ("a.actor_id", query.actor_id),
            ("a.target_person_id", query.target_person_id),
            ("a.action", None if query.action is None else query.action.value),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if query.before is not None:
            args.append(query.before)
            where.append(f"a.seq < ${len(args)}")
        sql = (
            "SELECT a.id, a.school_id, a.seq, a.room_id, a.actor_id, a.action,"
            " a.target_person_id,"
            " a.target_seq, a.target_held_id, a.reason, a.details, a.created_ms,"
            # A private conversation's text never reaches the audit log's
            # readers (docs/conversations.md): they are not its members.
            " CASE WHEN rm.kind = 'private' THEN NULL"
            "  ELSE COALESCE(r.body, h.body) END AS content"
            " FROM audit_log a"
            " LEFT JOIN rooms rm ON rm.id = a.room_id"
            " LEFT JOIN redacted_messages r ON r.room_id = a.room_id AND r.seq = a.target_seq"
            "  AND a.action IN ('message.delete', 'message.recall')"
            " LEFT JOIN held_messages h ON h.id = a.target_held_id"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY a.seq DESC LIMIT $2"
        )
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql, *args)
        return [
            AuditEntry(
                id=r["id"],
                school_id=r["school_id"],
                seq=int(r["seq"]),
                room_id=_opt_str(r["room_id"]),
                actor_id=r["actor_id"],
                action=AuditAction(r["action"]),
                target_person_id=_opt_str(r["target_person_id"]),
                target_seq=_opt_int(r["target_seq"]),
                target_held_id=_opt_str(r["target_held_id"]),
                reason=_opt_str(r["reason"]),
                details=orjson.loads(r["details"]),
                created_ms=int(r["created_ms"]),
                content=_opt_str(r["content"]),
            )
            for r in rows
        ]

    async def purge_moderation_records(self, before_ms: int) -> int:
        async with self._engine.transaction() as tx:
            return (
                await tx.execute("DELETE FROM audit_log WHERE created_ms < $1", before_ms)
                + await tx.execute(
                    "DELETE FROM redacted_messages WHERE redacted_ms < $1", before_ms
                )
                + await tx.execute(
                    "DELETE FROM held_messages WHERE status <> 'pending' AND decided_ms < $1",
                    before_ms,
                )
                + await tx.execute(
                    "DELETE FROM reports WHERE status <> 'open' AND resolved_ms < $1", before_ms
                )
            )


# -- helpers used inside transactions ----------------------------------------


    async def set_messaging_suspension(
        self,
        school_id: str,
        profiles: Sequence[Profile],
        suspended: bool,
        actor_id: str,
        reason: str | None,
        now_ms: int,
    ) -> list[Profile]:
        async with self._engine.transaction() as tx:
            changed: list[str] = []
            for profile in sorted(set(profiles)):
                if suspended:
                    count = await tx.execute(
                        "INSERT INTO messaging_suspensions"
                        " (school_id, profile, actor_id, reason, created_ms)"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (school_id, profile) DO NOTHING",
                        school_id, profile.value, actor_id, reason, now_ms,
                    )
                else:
                    count = await tx.execute(
                        "DELETE FROM messaging_suspensions WHERE school_id = $1 AND profile = $2",
                        school_id, profile.value,
                    )
                if count:
                    changed.append(profile.value)
            if changed:
                await _audit(
                    tx, school_id, None, actor_id,
                    AuditAction.MESSAGING_SUSPEND if suspended else AuditAction.MESSAGING_RESUME,
                    now_ms, reason=reason, details={"profiles": changed},
                )
            rows = await tx.fetch(
                "SELECT profile FROM messaging_suspensions WHERE school_id = $1 ORDER BY profile",
                school_id,
            )
        return [Profile(r["profile"]) for r in rows]

    async def pause_account(
        self, person_id: str, school_id: str, reason: str, details: dict[str, Any], now_ms: int
    ) -> bool:
        async with self._engine.transaction() as tx:
            inserted = await tx.execute(
                "INSERT INTO paused_accounts (person_id, school_id, paused_ms, reason, details)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (person_id) DO NOTHING",
                person_id, school_id, now_ms, reason, orjson.dumps(details).decode(),
            )
            if inserted:
                await _audit(tx, school_id, None, person_id, AuditAction.ACCOUNT_PAUSE, now_ms,
                             target_person_id=person_id, reason=reason, details=details)
        return bool(inserted)

    async def resume_account(
        self, person_id: str, school_id: str, actor_id: str, reason: str | None, now_ms: int
    ) -> bool:
        async with self._engine.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM paused_accounts WHERE person_id = $1 AND school_id = $2",
                person_id, school_id,
            )
            if deleted:
                await _audit(tx, school_id, None, actor_id, AuditAction.ACCOUNT_RESUME, now_ms,
                             target_person_id=person_id, reason=reason)
        return bool(deleted)

    async def paused_accounts(self, school_id: str) -> list[PausedAccount]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, paused_ms, reason, details FROM paused_accounts"
                " WHERE school_id = $1 ORDER BY paused_ms, person_id",
                school_id,
            )
        return [PausedAccount(str(r["person_id"]), int(r["paused_ms"]), str(r["reason"]),
                              orjson.loads(r["details"])) for r in rows]

    async def messaging_suspensions(self, school_id: str) -> list[Profile]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT profile FROM messaging_suspensions WHERE school_id = $1 ORDER BY profile",
                school_id,
            )
        return [Profile(r["profile"]) for r in rows]

    # -- word filter ----------------------------------------------------------
    async def word_lists(self, school_id: str) -> WordLists:
        async with self._engine.transaction(readonly=True) as tx:
            return await _word_lists(tx, school_id)

    async def set_word_lists(
        self, school_id: str, lists: WordLists, actor_id: str, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            for action in FilterAction:
                words = orjson.dumps(list(lists.entries(action))).decode()
                await tx.execute(
                    "INSERT INTO word_filters (school_id, action, words, updated_by, updated_ms)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (school_id, action) DO UPDATE"
                    " SET words = excluded.words, updated_by = excluded.updated_by,"
                    " updated_ms = excluded.updated_ms",
                    school_id, action.value, words, actor_id, now_ms,
                )
            await _audit(
                tx, school_id, None, actor_id, AuditAction.WORD_FILTER_CHANGE, now_ms,
                details={a.value: len(lists.entries(a)) for a in FilterAction},
            )

    # -- reports -----------------------------------------------------------------
    async def create_report(
        self, report_id: str, room_id: str, seq: int, reporter_id: str, reason: str | None,
        now_ms: int,
    ) -> tuple[Report, bool] | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT r.school_id, r.last_seq FROM messages m JOIN rooms r ON r.id = m.room_id"
                " WHERE m.room_id = $1 AND m.seq = $2 AND m.kind = 'message'",
                room_id, seq,
            )
            if row is None:
                return None
            # The context stops at what the room held now: the reporter's view.
            inserted = await tx.execute(
                "INSERT INTO reports (id, school_id, room_id, seq, reporter_id, reason, created_ms,"
                " context_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (room_id, seq, reporter_id) DO NOTHING",
                report_id, str(row["school_id"]), room_id, seq, reporter_id, reason, now_ms,
                int(row["last_seq"]),
            )
            found = await tx.fetchrow(
                f"SELECT {_REPORT_COLUMNS} FROM reports"
                " WHERE room_id = $1 AND seq = $2 AND reporter_id = $3",
                room_id, seq, reporter_id,
            )
        assert found is not None
        return _report(found), bool(inserted)

    async def reports(
        self, school_id: str, status: ReportStatus = ReportStatus.OPEN, limit: int = 100
    ) -> list[Report]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE school_id = $1 AND status = $2"
                " ORDER BY created_ms, id LIMIT $3",
                school_id, status.value, limit,
            )
        return [_report(r) for r in rows]

    async def report(self, report_id: str) -> Report | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = $1", report_id
            )
        return None if row is None else _report(row)

    async def resolve_report(
        self, report_id: str, actor_id: str, status: ReportStatus, now_ms: int
    ) -> list[Report]:
        assert status is not ReportStatus.OPEN
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = $1", report_id
            )
            if row is None:
                raise LookupError(f"no report {report_id!r}")
            report = _report(row)
            rows = await tx.fetch(
                "UPDATE reports SET status = $3, resolved_by = $4, resolved_ms = $5"
                " WHERE room_id = $1 AND seq = $2 AND status = 'open'"
                f" RETURNING {_REPORT_COLUMNS}",
                report.room_id, report.seq, status.value, actor_id, now_ms,
            )
            resolved = sorted((_report(r) for r in rows), key=lambda r: (r.created_ms, r.id))
            for done in resolved:
                await _audit(
                    tx, done.school_id, done.room_id, actor_id, AuditAction.REPORT_RESOLVE,
                    now_ms, target_person_id=done.reporter_id, target_seq=done.seq,
                    details={"report": done.id, "outcome": status.value},
                )
        return resolved

    async def reports_by(self, reporter_id: str, limit: int = 100) -> list[Report]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_REPORT_COLUMNS} FROM reports WHERE reporter_id = $1"
                " ORDER BY created_ms DESC, id LIMIT $2",
                reporter_id, limit,
            )
        return [_report(r) for r in rows]

    # -- quiet hours ---------------------------------------------------------

    async def scheduled_messages(
        self, room_id: str, sender_id: str | None = None, limit: int = 100
    ) -> list[ScheduledMessage]:
        sql = (f"SELECT {_SCHEDULED_COLUMNS} FROM scheduled_messages"
               " WHERE room_id = $1 AND seq IS NULL")
        args: list[Any] = [room_id, limit]
        if sender_id is not None:
            args.append(sender_id)
            sql += " AND sender_id = $3"
        sql += " ORDER BY created_ms, id LIMIT $2"
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(sql, *args)
        return [_scheduled(r) for r in rows]

    async def release_scheduled(
        self, now_ms: int, limit: int, new_message_id: Callable[[], str]
    ) -> list[Message]:
        async with self._engine.transaction(readonly=True) as tx:
            due = await tx.fetch(
                "SELECT id, room_id FROM scheduled_messages WHERE seq IS NULL"
                " AND release_ms <= $1 ORDER BY release_ms, created_ms, id LIMIT $2",
                now_ms, limit,
            )
        released = []
        for row in due:
            message = await self._release_one(str(row["id"]), str(row["room_id"]),
                                              new_message_id())
            if message is not None:
                released.append(message)
        return released

    async def _release_one(self, scheduled_id: str, room_id: str, message_id: str
                           ) -> Message | None:
        """Post one scheduled message, once: of nodes releasing at the same
        time, the one whose UPDATE claims the row posts it; the others roll back."""
        async with self._engine.transaction() as tx:
            # The room's row first, as post_message locks it: no deadlock.
            # (A closed conversation takes nothing more; closing it withdrew
            # what was waiting, in the same transaction.)
            room = await tx.fetchrow(
                "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 AND closed_ms IS NULL"
                " RETURNING last_seq",
                room_id,
            )
            row = await tx.fetchrow(
                "UPDATE scheduled_messages SET seq = $2 WHERE id = $1 AND seq IS NULL"
                f" RETURNING {_SCHEDULED_COLUMNS}",
                scheduled_id, None if room is None else int(room["last_seq"]),
            )
            if room is None or row is None:
                await tx.rollback()
                return None
            waiting = _scheduled(row)
            message = Message(room_id, int(room["last_seq"]), message_id, waiting.sender_id,
                              waiting.txn, waiting.body, waiting.created_ms,
                              ack_required=waiting.ack_required)
            if not await _insert_message(tx, message):
                # The author's retry was posted directly after the window
                # opened: that post stands, and this seq goes back.
                existing = await _message_by_txn(tx, room_id, waiting.sender_id, waiting.txn)
                assert existing is not None
                await tx.execute(
                    "UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id
                )
                await tx.execute(
                    "UPDATE scheduled_messages SET seq = $2 WHERE id = $1",
                    scheduled_id, existing.seq,
                )
                return None
        return message

    # -- acknowledgements and read markers -----------------------------------

    async def acknowledge(
        self, room_id: str, seq: int, person_id: str, now_ms: int
    ) -> tuple[Message, int, bool] | None:
        async with self._engine.transaction() as tx:
            message = await _message_at(tx, room_id, seq)
            if (
                message is None or message.kind is not MessageKind.MESSAGE
                or message.redacted or not message.ack_required
                or message.sender_id == person_id
            ):
                await tx.rollback()
                return None
            inserted = await tx.execute(
                "INSERT INTO message_acks (room_id, seq, person_id, at_ms)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                room_id, seq, person_id, now_ms,
            )
            at = now_ms if inserted else int(await tx.fetchval(
                "SELECT at_ms FROM message_acks WHERE room_id = $1 AND seq = $2"
                " AND person_id = $3", room_id, seq, person_id,
            ))
        return message, at, bool(inserted)

    async def acknowledgements(self, room_id: str, seq: int) -> list[tuple[str, int]]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, at_ms FROM message_acks WHERE room_id = $1 AND seq = $2"
                " ORDER BY at_ms, person_id",
                room_id, seq,
            )
        return [(str(r["person_id"]), int(r["at_ms"])) for r in rows]

    async def acknowledged_by(self, room_id: str, person_id: str, limit: int) -> list[int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT seq FROM message_acks WHERE room_id = $1 AND person_id = $2"
                " ORDER BY seq DESC LIMIT $3",
                room_id, person_id, limit,
            )
        return sorted(int(r["seq"]) for r in rows)

    async def mark_read(self, room_id: str, person_id: str, seq: int, now_ms: int) -> int:
        async with self._engine.transaction() as tx:
            head = await tx.fetchval("SELECT last_seq FROM rooms WHERE id = $1", room_id)
            if head is None:
                raise LookupError(f"no room {room_id!r}")
            seq = min(seq, int(head))
            await tx.execute(
                "INSERT INTO read_markers (room_id, person_id, seq, at_ms)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, person_id) DO UPDATE"
                " SET seq = excluded.seq, at_ms = excluded.at_ms"
                " WHERE read_markers.seq < excluded.seq",
                room_id, person_id, seq, now_ms,
            )
            marker = await tx.fetchval(
                "SELECT seq FROM read_markers WHERE room_id = $1 AND person_id = $2",
                room_id, person_id,
            )
        return int(marker)

    async def read_markers(self, room_id: str) -> dict[str, int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, seq FROM read_markers WHERE room_id = $1", room_id
            )
        return {str(r["person_id"]): int(r["seq"]) for r in rows}

    async def unread_counts(self, person_id: str, room_ids: Sequence[str]) -> dict[str, int]:
        if not room_ids:
            return {}
        marks = ", ".join(f"${i + 2}" for i in range(len(room_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT m.room_id, COUNT(*) AS n FROM messages m"
                " LEFT JOIN read_markers r ON r.room_id = m.room_id AND r.person_id = $1"
                f" WHERE m.room_id IN ({marks}) AND m.seq > COALESCE(r.seq, 0)"
                " AND m.kind = 'message' AND m.redacted_seq IS NULL AND m.sender_id <> $1"
                " GROUP BY m.room_id",
                person_id, *room_ids,
            )
        counts = dict.fromkeys(room_ids, 0)
        counts.update({str(r["room_id"]): int(r["n"]) for r in rows})
        return counts


async def _with_members(tx: Transaction, room: Room) -> Room:
    """``room`` with its explicit members (private conversations only)."""
    if room.kind is not RoomKind.PRIVATE:
        return room
    rows = await tx.fetch(
        "SELECT person_id FROM room_members_explicit WHERE room_id = $1 AND left_ms IS NULL",
        room.id,
    )
    return dataclasses.replace(room, members=frozenset(r["person_id"] for r in rows))


async def _room_by_pair(tx: Transaction, pair_key: str) -> Room | None:
    row = await tx.fetchrow(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE pair_key = $1", pair_key)
    return None if row is None else await _with_members(tx, _room(row))


_REPORT_COLUMNS = (
    "id, school_id, room_id, seq, reporter_id, reason, created_ms, status, resolved_by,"
    " resolved_ms, context_to"
)


def _report(r: Row) -> Report:
    return Report(
        id=str(r["id"]), school_id=str(r["school_id"]), room_id=str(r["room_id"]),
        seq=int(r["seq"]), reporter_id=str(r["reporter_id"]), reason=r["reason"],
        created_ms=int(r["created_ms"]), status=ReportStatus(r["status"]),
        resolved_by=r["resolved_by"],
        resolved_ms=None if r["resolved_ms"] is None else int(r["resolved_ms"]),
        context_to=None if r["context_to"] is None else int(r["context_to"]),
    )


async def _word_lists(tx: Transaction, school_id: str) -> WordLists:
    """A school's lists; the defaults while it has none of its own."""
    rows = await tx.fetch(
        "SELECT action, words FROM word_filters WHERE school_id = $1", school_id
    )
    if not rows:
        return DEFAULT_LISTS
    lists = {str(r["action"]): tuple(orjson.loads(r["words"])) for r in rows}
    return WordLists(**lists)


async def _quiet_release(
    tx: Transaction, room: Row, sender_id: str, options: PostOptions, now_ms: int
) -> int | None:
    """When a post to ``room`` may be delivered: ``None`` for now; else the
    opening of the room's delivery window (server/directory/quiet_hours.py).

    Only messages that reach pupils or parents wait: class and parents' rooms
    always hold some, a conversation is checked (staff-to-staff is never held).
    """
    window = quiet_hours.effective_window(options.quiet_hours, str(room["quiet_hours"]))
    release = quiet_hours.release_time(now_ms, options.timezone, window)
    if release is None:
        return None
    if room["kind"] == RoomKind.PRIVATE.value and not await tx.fetchval(
        "SELECT 1 FROM room_members_explicit e JOIN people p ON p.id = e.person_id"
        " WHERE e.room_id = $1 AND e.person_id <> $2"
        " AND p.profile IN ('pupil', 'parent') LIMIT 1",
        str(room["id"]), sender_id,
    ):
        return None
    return release


async def _schedule(
    tx: Transaction,
    room: Row,
    author: Author,
    txn: str,
    body: str,
    options: PostOptions,
    release_ms: int,
    role: RoomRole,
    policy: RoomPolicy,
    now_ms: int,
) -> PostResult:
    """Commit a post for later delivery (quiet hours), idempotent by txn."""
    room_id = str(room["id"])
    posted = await _message_by_txn(tx, room_id, author.id, txn)
    if posted is not None:
        await tx.rollback()
        return PostResult(message=posted)
    scheduled = ScheduledMessage(options.scheduled_id, room_id, author.id, txn, body, now_ms,
                                 release_ms, options.ack_required)
    inserted = await tx.execute(
        "INSERT INTO scheduled_messages (id, room_id, sender_id, txn, body, ack_required,"
        " created_ms, release_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (room_id, sender_id, txn) DO NOTHING",
        scheduled.id, room_id, author.id, txn, body, int(options.ack_required), now_ms,
        release_ms,
    )
    if inserted == 0:
        earlier = await tx.fetchrow(
            f"SELECT {_SCHEDULED_COLUMNS} FROM scheduled_messages"
            " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
            room_id, author.id, txn,
        )
        await tx.rollback()
        assert earlier is not None
        return PostResult(scheduled=_scheduled(earlier))
    # No seq until delivered: give the number back (the row lock is ours).
    await tx.execute("UPDATE rooms SET last_seq = last_seq - 1 WHERE id = $1", room_id)
    if counts_for_slow_mode(role, policy):
        await _record_post(tx, room_id, author.id, now_ms)
    return PostResult(scheduled=scheduled, created=True)


def _scheduled(r: Row) -> ScheduledMessage:
    return ScheduledMessage(
        id=r["id"], room_id=r["room_id"], sender_id=r["sender_id"], txn=r["txn"],
        body=r["body"], created_ms=int(r["created_ms"]), release_ms=int(r["release_ms"]),
        ack_required=bool(r["ack_required"]), seq=_opt_int(r["seq"]),
    )


async def _bump_directory(tx: Transaction, school_id: str) -> None:
    await tx.execute(
        "UPDATE schools SET directory_version = directory_version + 1 WHERE id = $1", school_id
    )


async def _insert_message(tx: Transaction, message: Message) -> bool:
    """Insert a plain message; False if its ``(room, sender, txn)`` exists.

    The unique index is the duplicate check: no extra SELECT on the common
    path, where the txn is new."""
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
    )
    return inserted > 0


async def _message_by_txn(
    tx: Transaction, room_id: str, sender_id: str, txn: str
) -> Message | None:
    row = await tx.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
        room_id,
        sender_id,
        txn,
    )
    return None if row is None else _message(row)


async def _message_at(tx: Transaction, room_id: str, seq: int) -> Message | None:
    row = await tx.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2", room_id, seq
    )
    return None if row is None else _message(row)


async def _held_by_txn(
    tx: Transaction, room_id: str, sender_id: str, txn: str
) -> HeldMessage | None:
    row = await tx.fetchrow(
        f"SELECT {_HELD_COLUMNS} FROM held_messages"
        " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
        room_id,
        sender_id,
        txn,
    )
    return None if row is None else _held(row)


async def _earlier_post(
    tx: Transaction, room_id: str, sender_id: str, txn: str
) -> PostResult | None:
    """The first result of a txn seen before, posted or held."""
    message = await _message_by_txn(tx, room_id, sender_id, txn)
    if message is not None:
        return PostResult(message=message)
    held = await _held_by_txn(tx, room_id, sender_id, txn)
    return None if held is None else PostResult(held=held)


async def _member_state(tx: Transaction, room_id: str, person_id: str) -> MemberState:
    row = await tx.fetchrow(
        "SELECT muted_until_ms, removed, last_post_ms FROM room_members"
        " WHERE room_id = $1 AND person_id = $2",
        room_id,
        person_id,
    )
    return _member_state_of(row)


async def _record_post(tx: Transaction, room_id: str, person_id: str, now_ms: int) -> None:
    await tx.execute(
        "INSERT INTO room_members (room_id, person_id, last_post_ms) VALUES ($1, $2, $3)"
        " ON CONFLICT (room_id, person_id) DO UPDATE SET last_post_ms = excluded.last_post_ms",
        room_id,
        person_id,
        now_ms,
    )


async def _audit(
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


async def _insert_links(tx: Transaction, school_id: str, links: Iterable[Link]) -> None:
    await tx.executemany(
        "INSERT INTO comm_links (school_id, from_group, to_group) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        [(school_id, a, b) for a, b in links],
    )


async def _free_login(tx: Transaction, base: str) -> str:
    """``base``, else ``base2``, ``base3``… : the first not taken in the whole store.

    Exact look-ups on the unique index: usually one, a handful for common names.
    """
    candidate, n = base, 1
    while await tx.fetchval("SELECT 1 FROM people WHERE login = $1", candidate) is not None:
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _members(
    people: dict[str, Person], member_rows: list[Row], guardian_rows: list[Row]
) -> dict[str, Member]:
    """The circle-of-trust view of the (active) people of one school."""
    classes_of: dict[str, set[str]] = {}
    for r in member_rows:
        if r["person_id"] in people:
            classes_of.setdefault(r["person_id"], set()).add(r["class_id"])
    children_of: dict[str, set[str]] = {}
    guardians_of: dict[str, set[str]] = {}
    for r in guardian_rows:
        parent_id, child_id = r["parent_id"], r["child_id"]
        if parent_id in people and child_id in people:
            children_of.setdefault(parent_id, set()).add(child_id)
            guardians_of.setdefault(child_id, set()).add(parent_id)

    members: dict[str, Member] = {}
    for person in people.values():
        children = children_of.get(person.id, set())
        if person.profile in _CLASS_PROFILES:
            classes = classes_of.get(person.id, set())
        elif person.profile is Profile.PARENT:
            classes = {
                c
                for child in children
                if people[child].profile is Profile.PUPIL
                for c in classes_of.get(child, ())
            }
        else:
            classes = set()  # staff act school-wide
        members[person.id] = Member(
            id=person.id,
            school_id=person.school_id,
            profile=person.profile,
            display_name=person.display_name,
            classes=frozenset(classes),
            children=frozenset(children),
            guardians=frozenset(guardians_of.get(person.id, set())),
            is_admin=person.is_admin,
        )
    return members
