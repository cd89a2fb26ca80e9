"""The engine abstraction every store module is written over.

As in Synapse, the SQL is shared and an *engine* knows its database's
differences: the SQL uses ``$1``-style placeholders and portable statements
(``ON CONFLICT DO NOTHING``, ``UPDATE ... RETURNING``), the SQLite engine
(``sqlite.py``) rewrites the placeholders, and each engine runs one
transaction per ``async with engine.transaction() as tx:`` block.

One engine is opened per database (``preau.server.store.factory.open_engine``) and
handed to every store module: the composed ``SqlStore`` (``sql.py``) and the
documents, calls and privacy stores all run on it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Row(Protocol):
    """A result row, indexable by column name (or position)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Transaction(Protocol):
    """One open transaction. SQL uses ``$1``, ``$2``… placeholders."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None: ...

    async def rollback(self) -> None:
        """Undo the transaction: nothing of it is committed and no statement may
        follow (the engine rolls back at once, or when the block exits)."""

    async def lock(self, key: int) -> None:
        """Hold an exclusive lock named ``key`` (a signed 64-bit int) until the end
        of the transaction, so that writers taking it run one at a time even
        across nodes."""

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the transaction has committed, never if it rolls
        back: what is undone outside the database (a file's bytes) must not
        go while rows that name it may come back."""


class Engine(Protocol):
    # "postgres" or "sqlite": which dialect-only migrations apply, and which
    # statements a store may send beyond the shared SQL (a stored function).
    dialect: str

    async def close(self) -> None: ...

    async def forget_deleted(self) -> None:
        """After an erasure or a retention pass: leave no copy of the deleted
        rows in the database's files beyond its tables (SQLite's write-ahead
        log keeps the pages as they were; PostgreSQL's autovacuum and WAL
        recycling do that job there)."""

    def fold(self, expression: str) -> str:
        """SQL folding ``expression`` for searches as ``folding.fold`` folds
        Python text (preau/server/store/folding.py)."""

    async def call(self, sql: str, *args: Any) -> Any:
        """Run one statement as a transaction of its own and return the first
        column of its first row (None without one). On PostgreSQL that is one
        round trip: no BEGIN, no COMMIT (the post path's stored function)."""

    def transaction(
        self, *, readonly: bool = False, bulk: bool = False
    ) -> AbstractAsyncContextManager[Transaction]:
        """Open a transaction: committed when the block exits normally, rolled back
        when it raises. ``readonly`` transactions see one consistent snapshot.
        ``bulk`` announces many statements (an engine may run them off the event
        loop); ordinary transactions are a few indexed statements."""


class SqlBase:
    """What every per-domain SQL store shares: the engine it was handed (as
    Synapse's ``SQLBaseStore`` holds its database pool). The domain classes
    are mixins over it, composed into ``SqlStore`` (``sql.py``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine underneath, the one the other store modules are given."""
        return self._engine


def new_id() -> str:
    """A short random id (12 URL-safe characters, never a '/')."""
    return secrets.token_urlsafe(9)


def run_committed(actions: list[Callable[[], None]]) -> None:
    """A committed transaction's ``after_commit`` actions, each on its own:
    one failing does not keep the others from running."""
    for action in actions:
        try:
            action()
        except Exception:
            log.exception("an action after a commit failed")
