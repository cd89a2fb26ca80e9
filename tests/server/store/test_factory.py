"""Choosing and opening a store from a URL, and the SQLite engine's specifics."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.store.factory import open_store
from preau.server.store.sql import SqlStore, login_base
from preau.server.store.sqlite import path_from_url, to_sqlite


@pytest.mark.parametrize(
    "url", ["mysql://root:s3cret@db/preau", "memory://", "/var/lib/preau.db", ""]
)
async def test_unknown_scheme_is_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///") as raised:
        await open_store(url)
    assert "postgresql://" in str(raised.value)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://relative.db"])
async def test_malformed_sqlite_url(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        await open_store(url)


def test_sqlite_paths() -> None:
    assert path_from_url("sqlite:///data/preau.db") == "data/preau.db"
    assert path_from_url("sqlite:////var/lib/preau.db") == "/var/lib/preau.db"
    assert path_from_url("sqlite:///:memory:") == ":memory:"


async def test_sqlite_creates_the_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "preau.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        assert await store.migrate() >= 1
        assert isinstance(store, SqlStore)
        async with store.engine.transaction(readonly=True) as tx:
            assert await tx.fetchval("PRAGMA journal_mode") == "wal"
            assert await tx.fetchval("PRAGMA foreign_keys") == 1
    finally:
        await store.close()
    assert path.is_file()


async def test_sqlite_in_memory() -> None:
    store = await open_store("sqlite:///:memory:")
    try:
        assert await store.migrate() >= 1
        await store.ping()
    finally:
        await store.close()


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'db'}")
    assert isinstance(store, SqlStore)
    try:
        await store.migrate()
        engine = store.engine

        async def insert_then_fail() -> None:
            async with engine.transaction() as tx:
                await tx.execute(
                    "INSERT INTO schools (id, uai, name, timezone, created_ms)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    *("s", "0751234A", "École", "Europe/Paris", 0),
                )
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await insert_then_fail()
        assert await store.school_ids() == []
        async with store.engine.transaction() as tx:
            await tx.rollback()
            with pytest.raises(RuntimeError, match="over"):
                await tx.execute("SELECT 1")
    finally:
        await store.close()


def test_placeholders_are_rewritten_for_sqlite() -> None:
    assert to_sqlite("SELECT $1, $2 WHERE a = $1 OR b = $10") == (
        "SELECT ?1, ?2 WHERE a = ?1 OR b = ?10"
    )


@pytest.mark.parametrize(
    ("first", "last", "login"),
    [
        ("Léa", "Martin", "lea.martin"),
        ("Jean Pierre", "Le Gall", "jean-pierre.le-gall"),
        ("J.-P.", "N'Diaye", "j-p.n-diaye"),
        ("Chloé", "Cœur", "chloe.coeur"),
        ("", "Martin", "martin"),
        ("李", "王", "user"),
    ],
)
def test_login_base(first: str, last: str, login: str) -> None:
    assert login_base(first, last) == login
