"""Micro-benchmark: the CPU cost of committing one chat message in the SQLite store.

    python -m loadtests.store_append [--messages 4000]

Compares, on the same fresh database, sequentially:

1. ``SqlStore.append_message`` as the server calls it (aiosqlite: each
   statement and cursor close is a round trip to aiosqlite's thread);
2. the same statements as one function run on a database thread (one
   hand-off per transaction);
3. the same statements with ``sqlite3`` on the calling thread.

It measures the store's cost per message, not the server's; the chat fan-out
benchmark (``loadtests/chat_fanout.py``) measures the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from loadtests.school import build
from preau.server.store.factory import open_store

_MESSAGE_COLUMNS = "room_id, seq, id, sender_id, txn, body, created_ms"


def _append_sync(conn: sqlite3.Connection, room: str, sender: str, txn: str, body: str) -> None:
    """What ``SqlStore.append_message`` does, written against sqlite3 directly."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        seq = conn.execute(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq", (room,)
        ).fetchone()[0]
        existing = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages"
            " WHERE room_id = ?1 AND sender_id = ?2 AND txn = ?3",
            (room, sender, txn),
        ).fetchone()
        if existing is None:
            conn.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                (room, seq, "m_" + secrets.token_urlsafe(12), sender, txn, body, 1),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def _measure(
    label: str, n: int, append: Callable[[str], Awaitable[None]]
) -> tuple[str, float, float]:
    for i in range(min(200, n)):  # warm-up
        await append(f"{label}-warm-{i}")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        await append(f"{label}-{i}")
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return label, (cpu1 - cpu0) / n * 1e6, (wall1 - wall0) / n * 1e6


async def run(n: int) -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory(prefix="preau-store-") as tmp:
        data_dir = Path(tmp)
        manifest = await build(data_dir, 1)
        room = manifest.rooms[0].room
        sender = manifest.rooms[0].members[0].person
        body = "Bonjour la classe, " * 3
        results = []

        store = await open_store(f"sqlite:///{data_dir / 'preau.db'}")
        try:
            async def via_store(txn: str) -> None:
                await store.append_message(
                    room, sender, txn, body, "m_" + secrets.token_urlsafe(12), 1
                )

            results.append(await _measure("SqlStore.append_message (aiosqlite)", n, via_store))
        finally:
            await store.close()

        conn = sqlite3.connect(data_dir / "preau.db", isolation_level=None,
                               check_same_thread=False)
        try:
            for pragma in ("PRAGMA busy_timeout = 10000", "PRAGMA journal_mode = WAL",
                           "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"):
                conn.execute(pragma)
            loop = asyncio.get_running_loop()
            with concurrent.futures.ThreadPoolExecutor(1) as thread:
                async def one_hand_off(txn: str) -> None:
                    await loop.run_in_executor(thread, _append_sync, conn, room, sender, txn,
                                               body)

                results.append(await _measure("one call on a database thread", n,
                                              one_hand_off))

            async def inline(txn: str) -> None:
                _append_sync(conn, room, sender, txn, body)

            results.append(await _measure("sqlite3 on the event-loop thread", n, inline))
        finally:
            conn.close()
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.store_append",
                                     description="CPU per committed chat message in SQLite.")
    parser.add_argument("--messages", type=int, default=4000)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        results = asyncio.run(run(args.messages))
    else:
        results = uvloop.run(run(args.messages))
    print(f"{'how':<40} {'CPU µs/message':>15} {'wall µs/message':>16}")
    for label, cpu, wall in results:
        print(f"{label:<40} {cpu:>15.0f} {wall:>16.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
