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

import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

from server.directory.model import Member, Person, Profile, Room, RoomKind, School, SchoolClass
from server.directory.rules import CommunicationRules
from server.store import (
    CreatedAccount,
    Credentials,
    ImportBatch,
    ImportResult,
    Link,
    Message,
    PersonRow,
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

_MESSAGE_COLUMNS = "room_id, seq, id, sender_id, txn, body, created_ms"
_SESSION_COLUMNS = "token_hash, person_id, kind, created_ms, last_seen_ms, expires_ms, revoked"
_ROOM_COLUMNS = "id, school_id, kind, name, class_id"
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
    )


def _school(r: Row) -> School:
    return School(id=r["id"], uai=r["uai"], name=r["name"], timezone=r["timezone"])


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
                "SELECT id, uai, name, timezone FROM schools WHERE uai = $1", uai
            )
        return None if row is None else _school(row)

    async def load_school(self, school_id: str) -> SchoolView | None:
        async with self._engine.transaction(readonly=True, bulk=True) as tx:
            school_row = await tx.fetchrow(
                "SELECT id, uai, name, timezone, directory_version FROM schools WHERE id = $1",
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
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE school_id = $1", school_id
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
        return SchoolView(
            version=int(school_row["directory_version"]),
            school=_school(school_row),
            classes=classes,
            people=people,
            members=_members(people, member_rows, guardian_rows),
            rules=CommunicationRules(
                # Self-links express "members may talk with each other", so
                # ``internal`` stays empty.
                links=frozenset((r["from_group"], r["to_group"]) for r in link_rows),
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
        return None if row is None else _room(row)

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
            inserted = await tx.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (room_id, sender_id, txn) DO NOTHING",
                message.room_id,
                message.seq,
                message.id,
                message.sender_id,
                message.txn,
                message.body,
                message.created_ms,
            )
            if inserted == 0:
                existing = await tx.fetchrow(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                    " WHERE room_id = $1 AND sender_id = $2 AND txn = $3",
                    room_id,
                    sender_id,
                    txn,
                )
                await tx.rollback()  # give the seq back: a retry allocates nothing
                assert existing is not None
                return _message(existing), False
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


# -- helpers used inside transactions ----------------------------------------


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
