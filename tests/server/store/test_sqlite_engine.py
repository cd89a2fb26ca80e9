"""The SQLite engine's checkpoint thread (preau/server/store/sqlite.py): its
connection is closed on its own thread, after a checkpoint still running."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from preau.server.store import sqlite


async def test_closing_mid_checkpoint_closes_its_connection_only_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing the engine while a checkpoint runs: before, the connection was
    closed from the event loop while the checkpoint thread still used it (a
    test worker died with a segmentation fault)."""
    events: list[tuple[str, str]] = []
    running = threading.Event()
    checkpoint, close_all = sqlite._checkpoint, sqlite._close_all

    def slow_checkpoint(held: list[sqlite3.Connection], path: str) -> None:
        events.append(("start", threading.current_thread().name))
        running.set()
        time.sleep(0.3)  # still running when close() is called
        checkpoint(held, path)
        events.append(("end", threading.current_thread().name))

    def recorded_close(held: list[sqlite3.Connection]) -> None:
        assert held, "the checkpoint's connection was opened"
        close_all(held)
        events.append(("closed", threading.current_thread().name))

    monkeypatch.setattr(sqlite, "CHECKPOINT_EVERY_S", 0.01)
    monkeypatch.setattr(sqlite, "_checkpoint", slow_checkpoint)
    monkeypatch.setattr(sqlite, "_close_all", recorded_close)
    engine = await sqlite.SqliteEngine.open(f"sqlite:///{tmp_path / 'preau.db'}")
    await engine.call("CREATE TABLE t (x INTEGER)")
    await engine.call("INSERT INTO t VALUES (1)")
    assert await asyncio.to_thread(running.wait, 10)
    await engine.close()
    assert [what for what, _ in events] == ["start", "end", "closed"]
    assert len({thread for _, thread in events}) == 1  # all on the checkpoint thread
    assert events[0][1].startswith("preau-sqlite-checkpoint")


async def test_checkpoints_copy_the_log_into_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "CHECKPOINT_EVERY_S", 0.01)
    path = tmp_path / "preau.db"
    engine = await sqlite.SqliteEngine.open(f"sqlite:///{path}")
    try:
        await engine.call("CREATE TABLE t (x INTEGER)")
        size = path.stat().st_size
        await engine.call("INSERT INTO t VALUES (zeroblob(200000))")
        deadline = time.monotonic() + 10
        while path.stat().st_size <= size + 100_000:  # the blob reached the database file
            assert time.monotonic() < deadline, "no checkpoint"
            await asyncio.sleep(0.02)
    finally:
        await engine.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT length(x) FROM t").fetchone() == (200000,)


async def test_a_new_database_is_readable_by_the_servers_account_only(tmp_path: Path) -> None:
    import os

    from preau.server.store.factory import open_store

    store = await open_store(f"sqlite:///{tmp_path / 'preau.db'}")
    try:
        async with store.engine.transaction() as tx:
            await tx.execute("SELECT 1")
    finally:
        await store.close()
    for name in ("preau.db", "preau.db-wal", "preau.db-shm"):
        path = tmp_path / name
        if path.exists():
            assert os.stat(path).st_mode & 0o077 == 0, name
