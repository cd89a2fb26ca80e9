"""The charter of use in SQL: each school's versions and who accepted which.

Version numbers are per school, from 1, gapless: publishing takes the next one
in the transaction that writes it (the primary key refuses a second writer of
the same number, who retries). An acceptance is one row per person and
version, written once (idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from preau.server.store.engine import Row, SqlBase
from preau.server.store.records import AuditAction
from preau.server.store.rows import audit, opt_str


@dataclass(frozen=True, slots=True)
class Charter:
    school_id: str
    version: int
    body: str  # Markdown, French
    body_en: str | None  # its English translation, if the school gave one
    published_ms: int
    published_by: str | None  # None: Préau's default text


@dataclass(frozen=True, slots=True)
class Acceptance:
    person_id: str
    version: int
    accepted_ms: int


_COLUMNS = "school_id, version, body, body_en, published_ms, published_by"


def _charter(r: Row) -> Charter:
    return Charter(school_id=r["school_id"], version=int(r["version"]), body=r["body"],
                   body_en=opt_str(r["body_en"]), published_ms=int(r["published_ms"]),
                   published_by=opt_str(r["published_by"]))


class CharterStore(Protocol):
    """Charter versions and acceptances."""

    async def current_charter(self, school_id: str) -> Charter | None:
        """The school's latest version, or None before its first."""

    async def publish_charter(
        self, school_id: str, body: str, body_en: str | None, by: str | None, now_ms: int,
        *, only_if_none: bool = False,
    ) -> Charter:
        """Write the next version (``by`` None: the default text, not audited;
        otherwise audited as ``charter.publish``). ``only_if_none``: write
        version 1 only if the school has none, and return the current one."""

    async def accept_charter(
        self, school_id: str, person_ids: Sequence[str], version: int, now_ms: int
    ) -> int:
        """Record that these people accepted ``version`` (again: nothing);
        return how many rows were new."""

    async def accepted_version(self, person_id: str) -> int:
        """The latest version the person accepted, 0 if none."""

    async def charter_acceptances(self, school_id: str, version: int) -> list[Acceptance]:
        """Who accepted ``version`` of the school's charter, in order."""

    async def person_acceptances(self, person_id: str) -> list[Acceptance]:
        """Every version a person accepted, oldest first (their export)."""


class CharterSql(SqlBase, CharterStore):
    async def current_charter(self, school_id: str) -> Charter | None:
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(
                f"SELECT {_COLUMNS} FROM charters WHERE school_id = $1"
                " ORDER BY version DESC LIMIT 1", school_id)
        return None if r is None else _charter(r)

    async def publish_charter(
        self, school_id: str, body: str, body_en: str | None, by: str | None, now_ms: int,
        *, only_if_none: bool = False,
    ) -> Charter:
        for _ in range(5):  # two admins at once: the primary key decides, the other retries
            async with self._engine.transaction() as tx:
                last = await tx.fetchval(
                    "SELECT MAX(version) FROM charters WHERE school_id = $1", school_id)
                if only_if_none and last is not None:
                    r = await tx.fetchrow(
                        f"SELECT {_COLUMNS} FROM charters WHERE school_id = $1 AND version = $2",
                        school_id, int(last))
                    assert r is not None
                    return _charter(r)
                version = int(last or 0) + 1
                written = await tx.execute(
                    f"INSERT INTO charters ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (school_id, version) DO NOTHING",
                    school_id, version, body, body_en, now_ms, by)
                if not written:
                    continue
                if by is not None:
                    await audit(tx, school_id, None, by, AuditAction.CHARTER_PUBLISH, now_ms,
                                details={"version": version})
                return Charter(school_id, version, body, body_en, now_ms, by)
        raise RuntimeError("could not publish the charter: too many concurrent versions")

    async def accept_charter(
        self, school_id: str, person_ids: Sequence[str], version: int, now_ms: int
    ) -> int:
        written = 0
        async with self._engine.transaction() as tx:
            for person_id in person_ids:
                written += await tx.execute(
                    "INSERT INTO charter_acceptances (person_id, school_id, version, accepted_ms)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (person_id, version) DO NOTHING",
                    person_id, school_id, version, now_ms)
        return written

    async def accepted_version(self, person_id: str) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            found = await tx.fetchval(
                "SELECT MAX(version) FROM charter_acceptances WHERE person_id = $1", person_id)
        return int(found or 0)

    async def charter_acceptances(self, school_id: str, version: int) -> list[Acceptance]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, version, accepted_ms FROM charter_acceptances"
                " WHERE school_id = $1 AND version = $2 ORDER BY accepted_ms, person_id",
                school_id, version)
        return [Acceptance(r["person_id"], int(r["version"]), int(r["accepted_ms"]))
                for r in rows]

    async def person_acceptances(self, person_id: str) -> list[Acceptance]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, version, accepted_ms FROM charter_acceptances"
                " WHERE person_id = $1 ORDER BY version", person_id)
        return [Acceptance(r["person_id"], int(r["version"]), int(r["accepted_ms"]))
                for r in rows]
