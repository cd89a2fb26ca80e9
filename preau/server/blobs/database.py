"""Blobs in the database (``blob_chunks``): what every node reaches.

PostgreSQL large objects would do too, but they live outside the tables
(``pg_dump`` needs ``--blobs``, a row deleted leaves an orphan unless
``lo_unlink`` is called) and SQLite has none: plain rows of 1 MiB chunks are
portable, dumped and restored with everything else, and read one chunk per
statement (docs/decisions.md, "Attachments").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from preau.server.blobs import CHUNK, BlobMissing
from preau.server.store.engine import Engine, Transaction


class DatabaseBlobStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def put(self, tx: Transaction, sha256: str, source: Path) -> None:
        if await tx.fetchval("SELECT 1 FROM blob_chunks WHERE sha256 = $1 AND n = 0", sha256):
            return
        with source.open("rb") as f:
            n = 0
            while True:
                chunk = await asyncio.to_thread(f.read, CHUNK)
                if not chunk and n > 0:
                    break
                await tx.execute(
                    "INSERT INTO blob_chunks (sha256, n, data) VALUES ($1, $2, $3)",
                    sha256, n, chunk,
                )
                n += 1
                if len(chunk) < CHUNK:
                    break

    async def remove(self, tx: Transaction, sha256: str) -> None:
        await tx.execute("DELETE FROM blob_chunks WHERE sha256 = $1", sha256)

    async def read(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        n, offset = divmod(start, CHUNK)
        position = start
        while end is None or position < end:
            async with self._engine.transaction(readonly=True) as tx:
                data = await tx.fetchval(
                    "SELECT data FROM blob_chunks WHERE sha256 = $1 AND n = $2", sha256, n)
            if data is None:
                if n == 0:
                    raise BlobMissing(sha256)
                break
            chunk = bytes(data)[offset:]
            if end is not None:
                chunk = chunk[: end - position]
            if not chunk:
                break
            yield chunk
            position += len(chunk)
            n, offset = n + 1, 0
            if len(data) < CHUNK:
                break

    async def forget_stale(self, before_s: float) -> int:
        return 0  # a blob is written in its transaction: nothing is left half-way

    async def close(self) -> None:
        return None
