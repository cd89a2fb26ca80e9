"""The SQLite engine (aiosqlite): the embedded default.

One connection per store, and one transaction at a time on it (an
``asyncio.Lock``): SQLite has a single writer anyway, and sharing one
connection between interleaved transactions would mix them. Write
transactions start with ``BEGIN IMMEDIATE`` so they take the write lock up
front, instead of failing with "database is locked" when a read turns into a
write while another process (a CLI, a second store) writes; ``busy_timeout``
makes them wait for it. WAL lets readers of other connections go on meanwhile.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiosqlite

from server.store.sql import Row

URL_PREFIX = "sqlite:///"
MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 10_000
# RETURNING (3.35) is used by the shared SQL; ON CONFLICT DO NOTHING needs 3.24.
MIN_VERSION = (3, 35, 0)

_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def to_sqlite(sql: str) -> str:
    """Rewrite ``$n`` placeholders as SQLite's numbered ``?n`` (which, like
    ``$n``, may appear several times for one argument)."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def path_from_url(url: str) -> str:
    """``sqlite:///data/preau.db`` → ``data/preau.db`` (relative to the working
    directory); ``sqlite:////var/lib/preau.db`` → ``/var/lib/preau.db``;
    ``sqlite:///:memory:`` → a private in-memory database."""
    if not url.startswith(URL_PREFIX) or len(url) == len(URL_PREFIX):
        raise ValueError(
            "a SQLite URL looks like sqlite:///relative/path.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    return url[len(URL_PREFIX) :]


def _ensure_parent(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)


class SqliteTransaction:
    """A transaction on the engine's connection (see ``server.store.sql.Transaction``)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.open = True

    def _sql(self, sql: str) -> str:
        if not self.open:
            # Without this guard a statement after rollback() would silently
            # run in autocommit mode.
            raise RuntimeError("this transaction is over")
        return to_sqlite(sql)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.execute_fetchall(self._sql(sql), args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self._conn.execute(self._sql(sql), args)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        params = list(args)
        if params:
            cursor = await self._conn.executemany(self._sql(sql), params)
            await cursor.close()

    async def rollback(self) -> None:
        self._sql("")  # raises if already over
        self.open = False
        await self._conn.rollback()

    async def lock(self, key: int) -> None:
        """Nothing to do: a write transaction (BEGIN IMMEDIATE) already excludes
        every other writer, in this process and in others."""
        self._sql("")


class SqliteEngine:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> SqliteEngine:
        """Open (creating the file and its directory if missing) a database."""
        if sqlite3.sqlite_version_info < MIN_VERSION:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old: Préau needs "
                f"{'.'.join(map(str, MIN_VERSION))} or later"
            )
        path = path_from_url(url)
        if path != MEMORY:
            _ensure_parent(path)
        # isolation_level=None: no implicit BEGIN, transactions are ours.
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            # busy_timeout first: switching to WAL may wait for another connection.
            for pragma in (
                f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
                *(["PRAGMA journal_mode = WAL"] if path != MEMORY else []),
                # NORMAL is durable across application crashes in WAL mode and
                # loses at most the last commits on power loss: right for chat.
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
            ):
                cursor = await conn.execute(pragma)
                await cursor.close()
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[SqliteTransaction]:
        async with self._lock:
            tx = SqliteTransaction(self._conn)
            try:
                # A deferred BEGIN for readers: they take no write lock, and
                # their first read fixes their snapshot.
                cursor = await self._conn.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
                await cursor.close()
                yield tx
                if tx.open:
                    tx.open = False
                    await self._conn.commit()
            except BaseException:
                tx.open = False
                # sqlite3's rollback() runs on aiosqlite's worker thread after
                # every statement already queued, and does nothing outside a
                # transaction: so it is right even when we were cancelled
                # while BEGIN or a statement was still pending.
                await self._conn.rollback()
                raise
