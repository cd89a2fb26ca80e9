"""The PostgreSQL engine (asyncpg): several nodes sharing one database.

A pool of connections; each transaction holds one connection. Writers run at
READ COMMITTED, where row locks do the serialising that matters (a room's
``last_seq``, see ``SqlStore.append_message``) and each statement sees what was
committed before it. Readers run at REPEATABLE READ, READ ONLY, so that a
multi-query read such as ``load_school`` sees one consistent snapshot.

asyncpg is imported lazily: it is the optional extra ``preau[postgres]``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from preau.server import metrics
from preau.server.store.engine import Row, run_committed
from preau.server.store.folding import postgres_fold
from preau.server.store.outage import OutageLog

SCHEMES = ("postgresql", "postgres")
# How long a transaction waits for a pooled connection (connecting included)
# before the store counts as unavailable.
ACQUIRE_TIMEOUT_S = 5.0


def _outage_errors() -> tuple[type[BaseException], ...]:
    """The driver's errors that mean "the database cannot be reached now" (a
    restart, a failover, the network), never "this statement is wrong"."""
    import asyncpg.exceptions as pg

    return (
        OSError,  # ConnectionRefusedError, ConnectionResetError, name resolution
        pg.PostgresConnectionError,  # class 08 (ConnectionDoesNotExistError…)
        pg.CannotConnectNowError,  # 57P03: starting up or shutting down
        pg.AdminShutdownError,  # 57P01: the server was stopped under us
        pg.CrashShutdownError,
        pg.TooManyConnectionsError,
    )


def _is_outage(exc: BaseException, known: tuple[type[BaseException], ...]) -> bool:
    if isinstance(exc, known):
        return True
    # Once the socket is gone asyncpg says "connection is closed" (or "was
    # closed in the middle of operation") with an InterfaceError.
    import asyncpg

    return (isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)) or _stuck(exc)


def _stuck(exc: BaseException) -> bool:
    """The connection's protocol is stuck mid-error: a server stopping sends
    each idle connection a FATAL error (57P01) before closing it, and a
    statement sent in between, before the close is read, finds the protocol
    still waiting for the end of that error ("cannot switch to state …;
    another operation (2) is in progress"). The database is going away: an
    outage, and that connection is never used again."""
    import asyncpg

    return isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc)


class _AcquireTimeout(Exception):
    """No pooled connection within ACQUIRE_TIMEOUT_S (connecting included)."""


def _rowcount(status: str) -> int:
    """Rows touched, from a command status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else 0


class _RollbackRequested(Exception):
    """Ends a block whose transaction called rollback(), so asyncpg rolls back."""


class PostgresTransaction:
    """A transaction on one pooled connection (see ``preau.server.store.engine.Transaction``)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.open = True
        self.rollback_requested = False
        self.committed_actions: list[Callable[[], None]] = []

    def _check(self) -> None:
        if not self.open:
            raise RuntimeError("this transaction is over")

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self._check()
        return list(await self._conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        self._check()
        row: Row | None = await self._conn.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self._check()
        return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        self._check()
        status: str = await self._conn.execute(sql, *args)
        return _rowcount(status)

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        self._check()
        params = list(args)
        if params:
            await self._conn.executemany(sql, params)

    async def rollback(self) -> None:
        """Nothing will be committed; the ROLLBACK itself runs when the block exits."""
        self._check()
        self.open = False
        self.rollback_requested = True

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed_actions.append(action)

    async def lock(self, key: int) -> None:
        self._check()
        # A transaction-level advisory lock: released by commit or rollback,
        # so a crashed holder can never leave it taken.
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", key)


async def _no_session_state(conn: Any) -> None:
    """The pool's reset (see ``PostgresEngine.open``): nothing to undo."""


class PostgresEngine:
    dialect = "postgres"

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        # One line when the database stops answering, one when it is back
        # (preau/server/store/outage.py); transactions meanwhile raise StoreUnavailable.
        self.outage = OutageLog("store (PostgreSQL)")
        self._outage_errors = _outage_errors()

    @classmethod
    async def open(cls, url: str, *, min_size: int = 0, max_size: int = 10) -> PostgresEngine:
        """Connect a pool to ``postgresql://user@host:port/database`` (or ``postgres://``)."""
        try:
            import asyncpg
        except ImportError as exc:
            raise ImportError(
                "PostgreSQL support needs asyncpg: install it with pip install 'preau[postgres]'"
            ) from exc
        # min_size 0: no background task keeps a floor of connections (it
        # would retry and log a traceback every few seconds of an outage);
        # the transactions connect, and notice the outage (outage.py).
        # reset: a connection comes back from every transaction in the state
        # it left in (asyncpg's own block committed or rolled it back), and
        # nothing here keeps session state (no LISTEN, no cursor, no SET, only
        # transaction-level advisory locks): asyncpg's default reset (advisory
        # unlock, CLOSE ALL, UNLISTEN, RESET ALL) would be one more round trip
        # and a query for the server on every transaction, a post included.
        # asyncpg still rolls back a transaction left open (a cancelled one).
        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                         reset=_no_session_state)
        return cls(pool)

    async def forget_deleted(self) -> None:
        """Nothing here: autovacuum reclaims deleted rows, and WAL segments
        are recycled (docs/data-protection.md)."""

    async def close(self) -> None:
        await self._pool.close()

    def fold(self, expression: str) -> str:
        return postgres_fold(expression)

    async def call(self, sql: str, *args: Any) -> Any:
        """One statement, its own transaction: one round trip (``Engine.call``)."""
        started = time.monotonic()
        try:
            with metrics.timed_transaction(False, False):
                async with self._lent() as conn:
                    value = await conn.fetchval(sql, *args)
        except Exception as exc:
            if isinstance(exc, _AcquireTimeout) or _is_outage(exc, self._outage_errors):
                raise self.outage.failed(exc) from exc
            raise
        if self.outage.down:
            self.outage.succeeded(started)
        return value

    @asynccontextmanager
    async def _lent(self) -> AsyncIterator[Any]:
        """A pooled connection for the block, given back after it; one whose
        protocol is stuck mid-error (``_stuck``) is terminated instead."""
        conn = await self._acquire()
        try:
            yield conn
        except Exception as exc:
            if _stuck(exc):
                conn.terminate()
            raise
        finally:
            await self._pool.release(conn)

    async def _acquire(self) -> Any:
        pool = self._pool
        if pool.get_idle_size():
            # One is free: taken at once. Without a timeout, asyncpg's acquire
            # makes no task and no timer (a sixth of a post's CPU here).
            return await pool.acquire()
        try:
            return await pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
        except TimeoutError as exc:
            raise _AcquireTimeout from exc

    @asynccontextmanager
    async def transaction(
        self, *, readonly: bool = False, bulk: bool = False
    ) -> AsyncIterator[PostgresTransaction]:
        """``bulk`` changes nothing here: asyncpg never blocks the event loop.

        The database unreachable — before, during or at the commit of the
        block — raises ``StoreUnavailable`` (``unavailable``, retryable)."""
        started = time.monotonic()
        try:
            # Outages count among the metrics' transaction errors: what
            # reaches the timer is still the driver's error.
            with metrics.timed_transaction(readonly, bulk):
                async with self._transaction(readonly) as tx:
                    yield tx
        except Exception as exc:
            if isinstance(exc, _AcquireTimeout) or _is_outage(exc, self._outage_errors):
                raise self.outage.failed(exc) from exc
            raise
        if self.outage.down:
            self.outage.succeeded(started)

    @asynccontextmanager
    async def _transaction(self, readonly: bool) -> AsyncIterator[PostgresTransaction]:
        async with self._lent() as conn:
            tx = PostgresTransaction(conn)
            try:
                # asyncpg's own block: it commits or rolls back, and if we are
                # cancelled half-way (a client hanging up) the pool's reset
                # rolls back quietly when the connection comes back.
                async with conn.transaction(
                    isolation="repeatable_read" if readonly else "read_committed",
                    readonly=readonly,
                ):
                    try:
                        yield tx
                    finally:
                        tx.open = False
                    if tx.rollback_requested:
                        raise _RollbackRequested
                run_committed(tx.committed_actions)  # committed: nothing ran since
            except _RollbackRequested:
                pass
