"""Pick the Store implementation from a URL.

``open_engine(url)`` opens the one engine of a database; ``open_store(url)``
composes the ``Store`` over it. The documents, calls and privacy stores are
built on that same engine (``store.engine``): one engine per database, opened
once, handed to every store module.
"""

from __future__ import annotations

from preau.server.store import Store, outage
from preau.server.store.engine import Engine
from preau.server.store.postgres import SCHEMES as POSTGRES_SCHEMES
from preau.server.store.postgres import PostgresEngine
from preau.server.store.sql import SqlStore

ACCEPTED = "sqlite:///path/to/file.db, sqlite:///:memory: or postgresql://user@host/database"


async def open_engine(url: str) -> Engine:
    """Open the database at ``url`` (see ``open_store`` for the URLs accepted)."""
    # An outage is logged once by the engine, never as a traceback per failed
    # attempt, whatever logged it (preau/server/store/outage.py).
    outage.install()
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        # Drivers are imported when chosen, never at import time.
        from preau.server.store.sqlite import SqliteEngine

        return await SqliteEngine.open(url)
    if scheme in POSTGRES_SCHEMES:
        return await PostgresEngine.open(url)
    # Only the scheme is echoed: the rest of a URL may hold a password.
    raise ValueError(f"unsupported store URL scheme {scheme!r}: use {ACCEPTED}")


async def open_store(url: str) -> Store:
    """Open the store at ``url``; it is NOT migrated: the caller calls ``migrate()``.

    ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` for the
    embedded SQLite file, ``postgresql://`` (or ``postgres://``) for
    PostgreSQL. Any other scheme raises ``ValueError``.
    """
    return SqlStore(await open_engine(url))
