"""The SQLite engine: the embedded default.

One connection, one transaction at a time on it (an ``asyncio.Lock``): SQLite
has a single writer anyway, and interleaved transactions on one connection
would mix.

Where statements run. An indexed statement on a local SQLite file takes a few
microseconds, while handing it to a database thread and back costs tens (a
future, a cross-thread wake-up of the event loop, a lock handoff): measured
with ``loadtests/store_append.py``, committing a chat message cost about
500 µs of CPU through one thread round trip per statement and about 55 µs on
the loop thread. So ordinary transactions run **inline**, on the event-loop
thread. Three things could stall the loop, and each is kept off it:

- *bulk* transactions (a school import, loading a whole school) run each
  statement on the engine's database thread (``transaction(bulk=True)``);
- *waiting for the write lock* held by another process (a ``preau import``
  beside the server): the connection has no busy timeout, so an inline
  ``BEGIN IMMEDIATE`` that finds the database locked fails at once, and the
  transaction is retried on the database thread, which waits for the lock;
- *checkpoints* (copying the WAL into the database, with an fsync): automatic
  checkpoints are off on this connection; a background task checkpoints from a
  second connection, only ever used on a thread of its own, every
  ``CHECKPOINT_EVERY_S``.

Write transactions start with ``BEGIN IMMEDIATE`` so they take the write lock
up front instead of failing when a read turns into a write.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from preau.server import metrics
from preau.server.store.engine import Row, run_committed
from preau.server.store.folding import fold
from preau.server.store.outage import OutageLog

log = logging.getLogger(__name__)

URL_PREFIX = "sqlite:///"
MEMORY = ":memory:"
LOCK_WAIT_S = 10.0  # how long a transaction waits for another process's write lock
CHECKPOINT_EVERY_S = 1.0
# RETURNING (3.35) is used by the shared SQL; ON CONFLICT DO NOTHING needs 3.24.
MIN_VERSION = (3, 35, 0)

_PLACEHOLDER = re.compile(r"\$(\d+)")
T = TypeVar("T")


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


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class SqliteTransaction:
    """A transaction on the engine's connection (see ``preau.server.store.engine.Transaction``).

    ``run`` executes a function against the connection either inline or on the
    database thread, as the engine decided for this transaction.
    """

    def __init__(self, conn: sqlite3.Connection, run: Callable[..., Any]) -> None:
        self._conn = conn
        self._run = run
        self.open = True
        self.committed_actions: list[Callable[[], None]] = []

    def _sql(self, sql: str) -> str:
        if not self.open:
            # Without this guard a statement after rollback() would silently
            # run in autocommit mode.
            raise RuntimeError("this transaction is over")
        return to_sqlite(sql)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        query = self._sql(sql)
        rows: list[Row] = await self._run(lambda: self._conn.execute(query, args).fetchall())
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        query = self._sql(sql)
        row: Row | None = await self._run(lambda: self._conn.execute(query, args).fetchone())
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        query = self._sql(sql)
        count: int = await self._run(lambda: self._conn.execute(query, args).rowcount)
        return count

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        params = list(args)
        if params:
            query = self._sql(sql)
            await self._run(lambda: self._conn.executemany(query, params))

    async def rollback(self) -> None:
        self._sql("")  # raises if already over
        self.open = False
        await self._run(self._conn.rollback)

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed_actions.append(action)

    async def lock(self, key: int) -> None:
        """Nothing to do: a write transaction (BEGIN IMMEDIATE) already excludes
        every other writer, in this process and in others."""
        self._sql("")


class SqliteEngine:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._lock = asyncio.Lock()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "preau-sqlite")
        self._writes = 0  # commits since the last checkpoint
        self._checkpointer: asyncio.Task[None] | None = None
        # The checkpoint connection lives on a thread of its own: opened, used
        # and closed there, in that order (see ``_checkpoints``).
        self._checkpoint_thread: concurrent.futures.ThreadPoolExecutor | None = None
        # Another process holding the write lock past LOCK_WAIT_S (a stuck
        # import) is an outage: unavailable, retryable (preau/server/store/outage.py).
        self.outage = OutageLog("store (SQLite)")
        if path != MEMORY:
            self._checkpoint_thread = concurrent.futures.ThreadPoolExecutor(
                1, "preau-sqlite-checkpoint")
            self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoints())

    def fold(self, expression: str) -> str:
        return f"preau_fold({expression})"

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
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await asyncio.to_thread(_connect, path, LOCK_WAIT_S)
        try:
            # From now on never wait for a lock inline (see the module docstring).
            conn.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    async def call(self, sql: str, *args: Any) -> Any:
        """One statement in a transaction of its own (see ``Engine.call``)."""
        async with self.transaction() as tx:
            return await tx.fetchval(sql, *args)

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        if self._checkpoint_thread is not None:
            # Waits for a checkpoint still running, then its connection's close.
            await asyncio.to_thread(self._checkpoint_thread.shutdown, True)
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._conn.close)
        self._thread.shutdown(wait=True)

    async def forget_deleted(self) -> None:
        """Copy the log into the database and empty it: its frames are the
        pages as they were, deleted rows included (the database's own pages
        are zeroed where rows go: ``secure_delete``)."""
        if self._path == MEMORY:
            return
        async with self._lock:
            busy = await self._on_thread(
                lambda: self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
        if busy:
            log.warning("SQLite: the log could not be emptied now (a reader); the next"
                        " checkpoints will overwrite it")

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    @staticmethod
    async def _inline(fn: Callable[[], T]) -> T:
        return fn()

    @asynccontextmanager
    async def transaction(
        self, *, readonly: bool = False, bulk: bool = False
    ) -> AsyncIterator[SqliteTransaction]:
        """``bulk``: many statements (imports, a whole school): run them on the
        database thread so the event loop keeps serving meanwhile."""
        with metrics.timed_transaction(readonly, bulk):
            async with self._lock:
                begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"
                run = self._on_thread if bulk else self._inline
                try:
                    await run(lambda: self._conn.execute(begin))
                except sqlite3.OperationalError as exc:
                    if not _is_locked(exc):
                        raise
                    # Another process writes: wait for its lock on the thread.
                    run = self._on_thread
                    try:
                        await run(lambda: _begin_waiting(self._conn, begin, LOCK_WAIT_S))
                    except sqlite3.OperationalError as waited:
                        if not _is_locked(waited):
                            raise
                        raise self.outage.failed(waited) from waited
                if self.outage.down:
                    self.outage.succeeded()
                tx = SqliteTransaction(self._conn, run)
                try:
                    yield tx
                    committed = tx.open
                    if tx.open:
                        tx.open = False
                        await run(self._conn.commit)
                        if not readonly:
                            self._writes += 1
                except BaseException:
                    tx.open = False
                    # Inline statements cannot be left pending; on the thread they
                    # run in order, so this rollback comes after any of them.
                    await run(self._conn.rollback)
                    raise
            if committed:
                run_committed(tx.committed_actions)

    async def _checkpoints(self) -> None:
        """Copy the WAL into the database from a second connection, off the loop.

        The connection is only ever touched on the checkpoint thread. When
        ``close`` cancels this task mid-checkpoint, the thread is still
        running the checkpoint on it: its close is queued behind, never run
        beside (closing it from the loop then freed what the checkpoint was
        using; a test worker crashed with a segmentation fault so)."""
        assert self._checkpoint_thread is not None
        thread = self._checkpoint_thread
        held: list[sqlite3.Connection] = []  # the connection, once opened
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_EVERY_S)
                if self._writes == 0:
                    continue
                self._writes = 0
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        thread, _checkpoint, held, self._path)
                except sqlite3.Error:
                    log.warning("SQLite checkpoint failed; retrying later", exc_info=True)
        finally:
            thread.submit(_close_all, held)


def _checkpoint(held: list[sqlite3.Connection], path: str) -> None:
    """One passive checkpoint on the checkpoint thread (opening its connection first)."""
    if not held:
        held.append(_connect(path, 1.0))
    held[0].execute("PRAGMA wal_checkpoint(PASSIVE)")


def _close_all(held: list[sqlite3.Connection]) -> None:
    for conn in held:
        conn.close()
    held.clear()


def _connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    # A school's data, readable by the server's account only: SQLite creates
    # its -wal and -shm files with the database file's mode (under the usual
    # umask 022 all three were world-readable: an outside probe).
    if path != MEMORY and not Path(path).exists():
        Path(path).touch(mode=0o600)
    # isolation_level=None: no implicit BEGIN, transactions are ours.
    # check_same_thread=False: the engine's lock guarantees one user at a time,
    # on the loop thread or on the database thread.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
    )
    try:
        conn.row_factory = sqlite3.Row
        # Deleted rows are overwritten with zeros, not left in free space:
        # an erased pupil's messages must not be readable from the file.
        conn.execute("PRAGMA secure_delete = ON")
        if path != MEMORY:
            conn.execute("PRAGMA journal_mode = WAL")
            # The background task checkpoints (see the module docstring).
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        # NORMAL is durable across application crashes in WAL mode and loses at
        # most the last commits on power loss: right for chat.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Searches fold text as Python does (SQLite's LOWER is ASCII only).
        conn.create_function("preau_fold", 1, _fold_or_null, deterministic=True)
    except BaseException:
        conn.close()
        raise
    return conn


def _fold_or_null(text: str | None) -> str | None:
    return None if text is None else fold(text)


def _begin_waiting(conn: sqlite3.Connection, begin: str, wait_s: float) -> None:
    """BEGIN, retrying while another process holds the lock (on the database thread)."""
    deadline = time.monotonic() + wait_s
    pause = 0.002
    while True:
        try:
            conn.execute(begin)
            return
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

