"""``preau backup`` and ``preau restore`` (docs/operations.md, "Backup and restore").

- SQLite (the embedded store): SQLite's online backup API copies the database
  while the node runs (one read snapshot: WAL readers never block writers),
  the copy is checked (``PRAGMA integrity_check``) and written as one
  self-contained file, renamed into place only when complete. A restore keeps
  the current file beside it (``….before-restore-<time>``) and copies the
  backup over it with the same API.
- PostgreSQL: ``pg_dump --format=custom`` (the client on PATH, of the server's
  major version or newer) and ``pg_restore --clean --single-transaction``.
  Point-in-time recovery (continuous WAL archiving) is PostgreSQL's own:
  the operations guide says how.

After a restore every session is ended (``revoked``): a logout, a password
change or a closed account that came after the backup must not come back to
life, so everybody logs in again, and clients start from the restored state.
The schema is then migrated (a backup made by an older version).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from preau.server.store.postgres import SCHEMES as POSTGRES_SCHEMES
from preau.server.store.sqlite import MEMORY, path_from_url


class BackupError(Exception):
    """What the operator must fix (a missing tool, a bad file); the message says it."""


@dataclass(frozen=True)
class Done:
    path: Path
    bytes: int
    kind: str  # "sqlite" | "postgresql"
    note: str = ""


def _kind(url: str) -> str:
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in POSTGRES_SCHEMES:
        return "postgresql"
    raise BackupError(f"cannot back up a store of scheme {scheme!r}")


async def backup(url: str, dest: Path, *, blob_files: Path | None = None) -> Done:
    """Write a backup of the store at ``url`` to ``dest`` (replaced only when
    complete). ``blob_files``: where attachments' bytes are kept as files
    (SQLite's default): a SQLite backup carries them in its ``blob_chunks``
    table, so the one file holds everything."""
    return await asyncio.to_thread(_backup, _kind(url), url, dest, blob_files)


def _backup(kind: str, url: str, dest: Path, blob_files: Path | None = None) -> Done:
    partial = dest.with_name(dest.name + ".partial")
    note = ""
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
            if blob_files is not None:
                carried = _carry_blob_files(partial, blob_files)
                note = f"with {carried} attachment files" if carried else ""
        else:
            _pg_dump(url, partial)
        os.chmod(partial, 0o600)  # a school's data: the server's account only
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return Done(dest, dest.stat().st_size, kind, note)


async def restore(url: str, source: Path, *, blob_files: Path | None = None) -> Done:
    """Replace the store at ``url`` by the backup ``source``, then migrate it and
    end every session. The nodes must be stopped (docs/operations.md).
    ``blob_files``: where this deployment keeps attachments' bytes as files;
    those the backup carries are written back there."""
    done = await asyncio.to_thread(_restore, _kind(url), url, source, blob_files)
    await _after_restore(url)
    return done


def _restore(kind: str, url: str, source: Path, blob_files: Path | None = None) -> Done:
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    note = ""
    if kind == "sqlite":
        target = _sqlite_path(url)
        kept = _sqlite_restore(source, target)
        note = f"the replaced database is kept as {kept}" if kept else ""
        if blob_files is not None:
            _release_blob_files(target, blob_files)
    else:
        _pg_restore(url, source)
    return Done(source, source.stat().st_size, kind, note)


def _carry_blob_files(copy: Path, root: Path) -> int:
    """Write into the backup ``copy`` the bytes of every blob it names that
    are kept as files under ``root``, in ``blob_chunks`` as the database blob
    store keeps them; the number of files carried. A blob whose file is gone
    already is left out (the live store answers for it as it does now)."""
    from preau.server.blobs import CHUNK  # the database blob store reads chunks of this size

    conn = sqlite3.connect(copy)
    try:
        carried = 0
        for (sha256,) in conn.execute("SELECT sha256 FROM blobs").fetchall():
            if conn.execute("SELECT 1 FROM blob_chunks WHERE sha256 = ?", (sha256,)).fetchone():
                continue
            path = root / sha256[:2] / sha256[2:4] / sha256
            try:
                f = path.open("rb")
            except FileNotFoundError:
                continue
            with f:
                n = 0
                while True:
                    chunk = f.read(CHUNK)
                    if chunk or n == 0:
                        conn.execute("INSERT INTO blob_chunks (sha256, n, data) VALUES (?, ?, ?)",
                                     (sha256, n, chunk))
                    n += 1
                    if len(chunk) < CHUNK:
                        break
            carried += 1
        conn.commit()
        conn.execute("VACUUM")  # the copy's pages in order, nothing left of the work
    finally:
        conn.close()
    return carried


def _release_blob_files(database: Path, root: Path) -> None:
    """The restored database's carried blobs written back as files under
    ``root`` (where this deployment keeps them), then taken out of it."""
    conn = sqlite3.connect(database, timeout=30)
    try:
        shas = [r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM blob_chunks")]
        for sha256 in shas:
            path = root / sha256[:2] / sha256[2:4] / sha256
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                partial = path.with_name(path.name + ".partial")
                with partial.open("wb") as out:
                    for (data,) in conn.execute(
                            "SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY n", (sha256,)):
                        out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(partial, 0o600)
                os.replace(partial, path)
            conn.execute("DELETE FROM blob_chunks WHERE sha256 = ?", (sha256,))
        conn.commit()
    finally:
        conn.close()


async def _after_restore(url: str) -> None:
    from preau.server.store.factory import open_store

    store = await open_store(url)
    try:
        await store.migrate()
        async with store.engine.transaction() as tx:
            await tx.execute("UPDATE sessions SET revoked = 1 WHERE revoked = 0")
    finally:
        await store.close()


# -- SQLite ------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    path = path_from_url(url)
    if path == MEMORY:
        raise BackupError("an in-memory SQLite store has nothing to back up")
    return Path(path)


def _sqlite_backup(source: Path, dest: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    try:
        out = sqlite3.connect(dest)
        try:
            # pages=-1: the whole database in one step, from one read snapshot
            # (a step-wise copy would restart whenever the node commits).
            src.backup(out, pages=-1)
            _check(out, dest)
            # One self-contained file, whatever the source's journal mode.
            out.execute("PRAGMA journal_mode = DELETE")
        finally:
            out.close()
    finally:
        src.close()
    with open(dest, "rb") as f:
        os.fsync(f.fileno())


def _check(conn: sqlite3.Connection, name: Path) -> None:
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{name} fails SQLite's integrity check: {result}")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_migrations" not in tables:
        raise BackupError(f"{name} is not a Préau database (no schema_migrations table)")


def _sqlite_restore(source: Path, target: Path) -> Path | None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _check(src, source)
        kept: Path | None = None
        if target.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kept = target.with_name(f"{target.name}.before-restore-{stamp}")
            _sqlite_backup(target, kept)
            os.chmod(kept, 0o600)
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst, pages=-1)  # holds the target's write lock while it copies
            dst.execute("PRAGMA journal_mode = WAL")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
        return kept
    finally:
        src.close()


# Days a restore keeps the database it replaced (``….before-restore-<time>``):
# the time to notice a bad restore. The retention pass deletes it then.
RESTORE_COPY_DAYS = 7


def purge_restore_copies(url: str, now_s: float, keep_s: float) -> int:
    """Delete the databases restores replaced, ``keep_s`` after they were
    set aside (SQLite; PostgreSQL's restore keeps none); how many."""
    try:
        if _kind(url) != "sqlite":
            return 0
        target = _sqlite_path(url)
    except BackupError:
        return 0  # in memory: nothing was set aside
    gone = 0
    for copy in target.parent.glob(f"{target.name}.before-restore-*"):
        try:
            if now_s - copy.stat().st_mtime >= keep_s:
                copy.unlink()
                gone += 1
        except FileNotFoundError:
            continue  # another node's pass took it
    return gone


# -- PostgreSQL --------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: install PostgreSQL's client tools (Debian: "
            f"postgresql-client, of the server's major version or newer)")
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (which would show in ``ps``), and the
    environment that carries it (PGPASSWORD)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        netloc = parts.hostname or ""
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts._replace(scheme="postgresql")), env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed ({done.returncode}): "
                          f"{done.stderr.strip()[-2000:]}")


def _pg_dump(url: str, dest: Path) -> None:
    dbname, env = _libpq(url)
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
          f"--file={dest}", f"--dbname={dbname}"], env)


def _pg_restore(url: str, source: Path) -> None:
    dbname, env = _libpq(url)
    listed = subprocess.run([_tool("pg_restore"), "--list", str(source)], capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0 or "schema_migrations" not in listed.stdout:
        raise BackupError(f"{source} is not a pg_dump (custom format) of a Préau database")
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", f"--dbname={dbname}", str(source)], env)
