"""Where attachments' bytes live: the ``BlobStore`` interface.

A blob is named by the SHA-256 of its bytes. Which blobs exist and how many
attachment rows name each is the database's (table ``blobs``, kept by
preau/server/store/attachments.py in the transaction that adds or deletes a
row); a ``BlobStore`` only keeps bytes. It is asked to ``put`` a blob when its
first reference is recorded and to ``remove`` it when its last one goes, both
inside that transaction, which holds the blob's lock: two uploads of the same
file, or an upload racing the deletion of its twin, can never leave a
reference without bytes nor bytes without a reference.

Reads stream: ``read`` yields chunks, so serving a 20 MB video holds one
chunk in memory per request, never the file.

Two implementations, chosen from a URL (``factory.py``):

- ``FileBlobStore`` (``file:///path``, the embedded default under the data
  directory): one file per blob, ``ab/cd/<sha256>``, written by a rename so a
  reader never sees half a file.
- ``DatabaseBlobStore`` (``store:``, the default with PostgreSQL): 1 MiB
  chunks in ``blob_chunks``, so every node that reaches the database reaches
  the bytes (docs/decisions.md, "Attachments").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from preau.server.store.engine import Transaction

CHUNK = 1024 * 1024  # bytes per chunk read or written


class BlobMissing(LookupError):
    """A blob with a reference has no bytes (lost storage): an operator's problem."""


class BlobStore(Protocol):
    """Bytes by SHA-256 (see the module docstring for who calls what, when)."""

    async def put(self, tx: Transaction, sha256: str, source: Path) -> None:
        """Keep the bytes of ``source`` as blob ``sha256`` (the caller computed
        the hash). Called in the transaction recording the blob's first
        reference, under its lock; idempotent (bytes already there are kept)."""

    async def remove(self, tx: Transaction, sha256: str) -> None:
        """Forget the blob's bytes: called in the transaction that deleted its
        last reference, under its lock. Unknown blobs are ignored."""

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start`` to ``end`` (exclusive; None: to the end), in
        chunks of at most ``CHUNK``. Raises ``BlobMissing`` if there are none."""

    async def forget_stale(self, before_s: float) -> int:
        """Delete what copies that never finished (a node killed mid-copy)
        left, last written before ``before_s`` (epoch seconds); how many."""

    async def close(self) -> None: ...


def blob_lock(sha256: str) -> int:
    """The transaction lock of one blob (a signed 64-bit key from its hash)."""
    return int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
