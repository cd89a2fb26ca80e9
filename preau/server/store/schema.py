"""The database itself: its engine (``SchemaStore.engine``), the migration
runner (numbered ``migrations/NNNN_name.sql`` files, applied in order in one
transaction and recorded in ``schema_migrations``), ping and close.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Protocol

from preau.server.store.engine import Engine, SqlBase

log = logging.getLogger(__name__)


# -- migrations -------------------------------------------------------------

_MIGRATION_FILE = re.compile(r"(\d{4})_(\w+?)(?:\.(postgres|sqlite))?\.sql")
DIALECTS = ("postgres", "sqlite")
# An arbitrary fixed key for Transaction.lock (PostgreSQL advisory locks);
# directory.py's import lock is the next one.
_MIGRATION_LOCK = 0x7072_6561_7501


@dataclass(frozen=True, slots=True)
class Migration:
    """One version of the schema: ``NNNN_name.sql`` (the same SQL on every
    engine, split into statements), or ``NNNN_name.postgres.sql`` /
    ``NNNN_name.sqlite.sql`` for what only one database has (a stored
    function): run as one script on that engine, and recorded with nothing
    to run on the other, so every engine reaches the same version."""

    version: int
    name: str
    statements: tuple[str, ...]
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dialect: script

    def for_dialect(self, dialect: str) -> tuple[str, ...]:
        return self.statements + self.only.get(dialect, ())


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
    folder = resources.files("preau.server.store").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version, name, dialect = int(match[1]), match[2], match[3]
        text = entry.read_text(encoding="utf-8")
        known = found.get(version)
        if known is not None and (known.name != name or dialect is None
                                  or dialect in known.only or known.statements):
            raise ValueError(f"two migrations have version {version}")
        if dialect is None:
            found[version] = Migration(version, name, tuple(split_statements(text)))
        else:  # one script (a function body holds semicolons), for that engine only
            only = {**(known.only if known else {}), dialect: (text.strip(),)}
            found[version] = Migration(version, name, (), only)
    return tuple(found[v] for v in sorted(found))


_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    applied_ms  BIGINT NOT NULL
)"""


def _wall_clock_ms() -> int:
    # The one place the store reads the clock: migrate() has no now_ms and
    # applied_ms is bookkeeping for operators, never used by the code.
    return time.time_ns() // 1_000_000


class SchemaStore(Protocol):
    """The database itself: its engine, its migrations, its liveness."""

    @property
    def engine(self) -> Engine:
        """The one engine of this database, opened once: the documents, calls
        and privacy stores are built on it (``CallStore(store.engine)``)."""

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version now in force."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the database cannot be reached (used by /api/health)."""


class SchemaSql(SqlBase, SchemaStore):
    """Migrations, ping and close."""

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
                for statement in migration.for_dialect(self._engine.dialect):
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
