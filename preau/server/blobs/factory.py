"""Pick the blob store from PREAU_ATTACHMENT_STORE (see ``preau.server.blobs``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from preau.server.blobs import BlobStore
from preau.server.store.engine import Engine


def open_blobs(url: str, engine: Engine, *, data_dir: Path, database_url: str) -> BlobStore:
    """``file:///path``: files under that directory; ``store:``: the database
    itself; empty: files under ``<data_dir>/blobs`` on SQLite, the database on
    PostgreSQL (every node must reach the bytes). Another scheme: ValueError."""
    if not url:
        url = "file:" if database_url.startswith("sqlite") else "store:"
    scheme = url.partition(":")[0].lower()
    if scheme == "file":
        path = unquote(urlsplit(url).path)
        root = Path(path) if path else data_dir / "blobs"
        from preau.server.blobs.files import FileBlobStore

        return FileBlobStore(root)
    if scheme == "store":
        from preau.server.blobs.database import DatabaseBlobStore

        return DatabaseBlobStore(engine)
    raise ValueError(f"unsupported attachment store URL scheme {scheme!r}: use file:///path "
                     "or store:")


def file_blob_root(url: str, *, data_dir: Path, database_url: str) -> Path | None:
    """Where ``open_blobs`` keeps the bytes as files, or None when they are in
    the database (what a backup must carry beside the database file)."""
    if not url:
        url = "file:" if database_url.startswith("sqlite") else "store:"
    if url.partition(":")[0].lower() != "file":
        return None
    path = unquote(urlsplit(url).path)
    return Path(path) if path else data_dir / "blobs"
