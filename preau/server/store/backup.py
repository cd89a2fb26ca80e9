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


async def backup(url: str, dest: Path) -> Done:
    """Write a backup of the store at ``url`` to ``dest`` (replaced only when complete)."""
    return await asyncio.to_thread(_backup, _kind(url), url, dest)


def _backup(kind: str, url: str, dest: Path) -> Done:
    partial = dest.with_name(dest.name + ".partial")
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        else:
            _pg_dump(url, partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return Done(dest, dest.stat().st_size, kind)


async def restore(url: str, source: Path) -> Done:
    """Replace the store at ``url`` by the backup ``source``, then migrate it and
    end every session. The nodes must be stopped (docs/operations.md)."""
    done = await asyncio.to_thread(_restore, _kind(url), url, source)
    await _after_restore(url)
    return done


def _restore(kind: str, url: str, source: Path) -> Done:
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    note = ""
    if kind == "sqlite":
        kept = _sqlite_restore(source, _sqlite_path(url))
        note = f"the replaced database is kept as {kept}" if kept else ""
    else:
        _pg_restore(url, source)
    return Done(source, source.stat().st_size, kind, note)


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
