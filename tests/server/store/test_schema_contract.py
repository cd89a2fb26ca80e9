"""The Store's schema contract (migrations, ping), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from preau.server.store import Store
from preau.server.store.factory import open_store
from preau.server.store.schema import load_migrations

MIGRATIONS = Path(__file__).parents[3] / "preau" / "server" / "store" / "migrations"


async def applied_versions(store: Store) -> list[tuple[int, int]]:
    async with store.engine.transaction(readonly=True) as tx:
        rows = await tx.fetch("SELECT version, applied_ms FROM schema_migrations ORDER BY 1")
    return [(int(r["version"]), int(r["applied_ms"])) for r in rows]


# -- migrations --------------------------------------------------------------


def migration_files() -> list[int]:
    """Versions shipped: ``NNNN_name.sql``, or one engine's own variant
    (``NNNN_name.postgres.sql``), recorded as applied on every engine."""
    names = sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert names, "no migration shipped"
    for name in names:
        assert re.fullmatch(r"\d{4}_\w+?(\.postgres|\.sqlite)?\.sql", name), name
    return sorted({int(name[:4]) for name in names})


async def test_migrations_are_numbered_from_one_and_all_applied(store: Store) -> None:
    # Gaps are allowed: work landing in parallel takes numbers from reserved
    # ranges, and the runner applies every version it has not applied yet.
    versions = migration_files()
    assert versions[0] == 1
    assert versions == sorted(set(versions))
    assert [v for v, _ in await applied_versions(store)] == versions


async def test_migrate_is_idempotent(store: Store) -> None:
    before = await applied_versions(store)
    assert await store.migrate() == migration_files()[-1]
    assert await store.migrate() == migration_files()[-1]
    assert await applied_versions(store) == before  # nothing re-applied, nothing re-stamped


async def test_concurrent_migrations_apply_once(store_url: str) -> None:
    # Two nodes starting together on an empty database.
    first, second = await open_store(store_url), await open_store(store_url)
    try:
        versions = await asyncio.gather(first.migrate(), second.migrate())
        assert list(versions) == [migration_files()[-1]] * 2
        assert [v for v, _ in await applied_versions(first)] == migration_files()
    finally:
        await first.close()
        await second.close()


async def test_ping(store: Store) -> None:
    await store.ping()


def test_a_dialect_migration_runs_on_its_engine_only() -> None:
    [plain] = [m for m in load_migrations() if m.name == "post_plain"]
    assert plain.statements == ()  # nothing shared
    assert plain.for_dialect("sqlite") == ()
    [script] = plain.for_dialect("postgres")  # one script: its function body holds semicolons
    assert "CREATE OR REPLACE FUNCTION preau_post_plain" in script
