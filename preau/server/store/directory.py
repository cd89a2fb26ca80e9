"""The directory in SQL: schools and their settings, classes, people, the
communication rules, the whole-school load, imports; and the login generator.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Protocol

from preau.server.directory.model import (
    Member,
    Person,
    Profile,
    RoomKind,
    School,
    SchoolClass,
    profile_group,
)
from preau.server.directory.rules import CommunicationRules
from preau.server.store.engine import Row, SqlBase, Transaction, new_id
from preau.server.store.records import (
    AuditAction,
    CreatedAccount,
    ImportBatch,
    ImportResult,
    Link,
    PersonRow,
    SchoolView,
)
from preau.server.store.rows import ROOM_COLUMNS, SCHOOL_COLUMNS, audit, opt_str, to_room, to_school

log = logging.getLogger(__name__)


# A fixed key for Transaction.lock: one import at a time.
_IMPORT_LOCK = 0x7072_6561_7502


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

_CLASS_PROFILES = frozenset({Profile.PUPIL, Profile.TEACHER})


class DirectoryStore(Protocol):
    """Schools, classes, people and their communication rules; imports."""

    async def import_directory(self, batch: ImportBatch, now_ms: int) -> ImportResult: ...

    async def school_ids(self) -> list[str]: ...

    async def school_by_uai(self, uai: str) -> School | None: ...

    async def directory_versions(self) -> dict[str, int]:
        """Each school's directory version, increased by every import touching it."""

    async def load_school(self, school_id: str) -> SchoolView | None:
        """Everything the circle of trust needs about one school (active people only)."""

    async def person_school(self, person_id: str) -> str | None:
        """The school of an active person, or None."""

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
        reactions_in_announcements: bool | None = None,
        staff_presence_to_parents: bool | None = None,
        attachment_kinds: frozenset[str] | None = None,
    ) -> School:
        """Change a school's settings (``None``: unchanged, values checked by the
        caller), audited (unless ``actor_id`` is None: the deployment's defaults
        for a new school), directory version bumped so every node reloads."""


class DirectorySql(SqlBase, DirectoryStore):
    """The directory's SQL (one transaction per method)."""

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
        wanted: dict[str, str] = {}  # first-seen order, so ids are created predictably
        for row in batch.people:
            if row.profile in _CLASS_PROFILES:
                for name in row.class_names:
                    wanted.setdefault(name, "class")
                for name in row.group_names:
                    wanted.setdefault(name, "group")
        created = 0
        for name, kind in wanted.items():
            if name in class_ids:
                continue
            class_id = new_id()
            await tx.execute(
                "INSERT INTO classes (id, school_id, name, created_ms, kind)"
                " VALUES ($1, $2, $3, $4, $5)",
                class_id,
                school_id,
                name,
                now_ms,
                kind,
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
                for name in (*row.class_names, *row.group_names)
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
                f"SELECT {SCHOOL_COLUMNS} FROM schools WHERE uai = $1", uai
            )
        return None if row is None else to_school(row)

    async def load_school(self, school_id: str) -> SchoolView | None:
        async with self._engine.transaction(readonly=True, bulk=True) as tx:
            school_row = await tx.fetchrow(
                f"SELECT {SCHOOL_COLUMNS}, directory_version FROM schools WHERE id = $1",
                school_id,
            )
            if school_row is None:
                return None
            class_rows = await tx.fetch(
                "SELECT id, name, kind FROM classes WHERE school_id = $1", school_id
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
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE school_id = $1 AND kind <> $2",
                school_id,
                RoomKind.PRIVATE.value,
            )

        classes = {
            r["id"]: SchoolClass(id=r["id"], school_id=school_id, name=r["name"],
                                 kind=r["kind"])
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
        school = to_school(school_row)
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
            rooms={r["id"]: to_room(r) for r in room_rows},
        )

    async def person_school(self, person_id: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            value = await tx.fetchval(
                "SELECT school_id FROM people WHERE id = $1 AND active = 1", person_id
            )
        return opt_str(value)
    async def school_settings(self, school_id: str) -> School:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {SCHOOL_COLUMNS} FROM schools WHERE id = $1", school_id
            )
        if row is None:
            raise LookupError(school_id)
        return to_school(row)

    async def set_school_settings(
        self,
        school_id: str,
        actor_id: str | None,
        now_ms: int,
        *,
        quiet_hours: str | None = None,
        parents_may_message: bool | None = None,
        reactions_in_announcements: bool | None = None,
        staff_presence_to_parents: bool | None = None,
        attachment_kinds: frozenset[str] | None = None,
    ) -> School:
        """Change a school's settings (``None``: unchanged), audited, and bump
        the directory version so every node reloads them."""
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE schools SET quiet_hours = COALESCE($2, quiet_hours),"
                " parents_may_message = COALESCE($3, parents_may_message),"
                " reactions_in_announcements = COALESCE($4, reactions_in_announcements),"
                " staff_presence_to_parents = COALESCE($5, staff_presence_to_parents),"
                " attachment_kinds = COALESCE($6, attachment_kinds),"
                " directory_version = directory_version + 1 WHERE id = $1"
                f" RETURNING {SCHOOL_COLUMNS}",
                school_id, quiet_hours,
                None if parents_may_message is None else int(parents_may_message),
                None if reactions_in_announcements is None else int(reactions_in_announcements),
                None if staff_presence_to_parents is None else int(staff_presence_to_parents),
                None if attachment_kinds is None else ",".join(sorted(attachment_kinds)),
            )
            if row is None:
                raise LookupError(school_id)
            details: dict[str, Any] = {}
            if quiet_hours is not None:
                details["quiet_hours"] = quiet_hours
            if parents_may_message is not None:
                details["parents_may_message"] = parents_may_message
            if reactions_in_announcements is not None:
                details["reactions_in_announcements"] = reactions_in_announcements
            if staff_presence_to_parents is not None:
                details["staff_presence_to_parents"] = staff_presence_to_parents
            if attachment_kinds is not None:
                details["attachment_kinds"] = sorted(attachment_kinds)
            if actor_id is not None:
                await audit(tx, school_id, None, actor_id, AuditAction.SCHOOL_SETTINGS,
                             now_ms, details=details)
        return to_school(row)


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
