"""Blobs as files under a directory (the embedded default): see ``BlobStore``."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from preau.server.blobs import CHUNK, BlobMissing
from preau.server.stale_files import remove_stale
from preau.server.store.engine import Transaction


def _valid(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("a blob is named by a lower-case hex SHA-256")
    return sha256


class FileBlobStore:
    """One file per blob, ``<root>/ab/cd/<sha256>``, readable by the server only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / "tmp"
        self._staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, sha256: str) -> Path:
        sha256 = _valid(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, tx: Transaction, sha256: str, source: Path) -> None:
        target = self.path(sha256)
        if target.exists():
            return
        await asyncio.to_thread(self._copy, source, target)

    def _copy(self, source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Copied beside, then renamed: a reader never sees half a file.
        fd, temp = tempfile.mkstemp(dir=self._staging)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    async def remove(self, tx: Transaction, sha256: str) -> None:
        # Once the rows are gone for good: a rollback keeps rows that name it.
        path = self.path(sha256)
        tx.after_commit(lambda: path.unlink(missing_ok=True))

    async def read(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(self.path(sha256).open, "rb")
        except FileNotFoundError:
            raise BlobMissing(sha256) from None
        try:
            await asyncio.to_thread(f.seek, start)
            left = None if end is None else end - start
            while left is None or left > 0:
                size = CHUNK if left is None else min(CHUNK, left)
                chunk = await asyncio.to_thread(f.read, size)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def forget_stale(self, before_s: float) -> int:
        return await asyncio.to_thread(remove_stale, self._staging, before_s)

    async def close(self) -> None:
        return None

