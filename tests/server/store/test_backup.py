"""``preau backup`` / ``preau restore`` round trips on SQLite and PostgreSQL
(issue 16, item 6): what a person's export shows is the same, byte for byte,
before the backup and after the restore; what was written after the backup is
gone; every session is ended by the restore."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson
import pytest

from preau.server.store.backup import BackupError, backup, restore
from tests.server.privacy.school import export_json, populate, restarted, small_school


async def _export(school: object, person: str) -> bytes:
    _, raw = await export_json(school, "Anne", person)  # type: ignore[arg-type]
    return raw


async def test_backup_and_restore_round_trip(store_url: str, tmp_path: Path) -> None:
    file = tmp_path / "preau.backup"
    async with small_school(store_url, tmp_path) as school:
        scene = await populate(school)
        # Chloé's session ended before the backup: her export is unchanged by
        # the restore, byte for byte. Léa's was live: the restore ends it.
        async with school.services.store.engine.transaction() as tx:
            await tx.execute("UPDATE sessions SET revoked = 1 WHERE person_id = $1",
                             school.ids["Chloé"])
        chloe, lea = school.ids["Chloé"], school.ids["Léa"]
        chloe_before = await _export(school, chloe)
        lea_before = orjson.loads(await _export(school, lea))
        assert chloe_before == await _export(school, chloe), "the export is not stable"
        # Online: the node is running.
        done = await backup(store_url, file)
        assert done.bytes > 0
        assert file.stat().st_size == done.bytes
        # Written after the backup: lost by the restore.
        await school.say("Chloé", scene.room, "après la sauvegarde")
        await school.say("Chloé", scene.chloe_hugo, "encore après")
    assert chloe_before != b""

    restored = await restore(store_url, file)
    assert restored.kind == ("sqlite" if store_url.startswith("sqlite") else "postgresql")

    async with restarted(school, store_url, tmp_path) as again:
        assert await _export(again, chloe) == chloe_before
        lea_after = orjson.loads(await _export(again, lea))
        sessions_before = lea_before["memberships"].pop("sessions")
        sessions_after = lea_after["memberships"].pop("sessions")
        assert [s["revoked"] for s in sessions_before] == [False]
        assert sessions_after == [{**s, "revoked": True} for s in sessions_before]
        assert lea_after == lea_before
        bodies = [r["body"] for r in await again.rows(
            "SELECT body FROM messages WHERE room_id = $1", scene.room)]
        assert "après la sauvegarde" not in bodies


async def test_a_bad_file_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'preau.db'}"
    async with small_school(url, tmp_path):
        pass
    before = (tmp_path / "preau.db").read_bytes()
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises((BackupError, sqlite3.DatabaseError)):
        await restore(url, junk)
    with pytest.raises(BackupError, match="no backup file"):
        await restore(url, tmp_path / "missing.backup")
    assert (tmp_path / "preau.db").read_bytes() == before


@pytest.mark.slow
def test_the_commands(tmp_path: Path) -> None:
    """``preau backup`` and ``preau restore`` as an operator runs them (SQLite)."""
    from preau.server.directory.demo import demo_csv
    from tests.server.privacy.test_cli import preau

    school = tmp_path / "school.csv"
    school.write_text(demo_csv(), encoding="utf-8")
    assert preau(tmp_path, "import", str(school), "--school", "0000002X",
                 "--name", "Collège").returncode == 0
    before = preau(tmp_path, "export", "lea.martin")
    assert before.returncode == 0, before.stderr
    made = preau(tmp_path, "backup", str(tmp_path / "b.sqlite"))
    assert made.returncode == 0, made.stderr
    assert "sqlite backup written" in made.stdout
    assert preau(tmp_path, "erase", "lea.martin").returncode == 0
    refused = preau(tmp_path, "restore", str(tmp_path / "b.sqlite"))
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    # A node that heartbeat lately is running: refused unless forced.
    import time

    with sqlite3.connect(tmp_path / "data" / "preau.db") as conn:
        conn.execute("INSERT INTO call_nodes (node_id, seen_ms) VALUES ('node-7', ?)",
                     (int(time.time() * 1000),))
    running = preau(tmp_path, "restore", str(tmp_path / "b.sqlite"), "--yes")
    assert running.returncode == 2
    assert "node-7" in running.stderr
    assert "stop every node" in running.stderr
    done = preau(tmp_path, "restore", str(tmp_path / "b.sqlite"), "--yes", "--force")
    assert done.returncode == 0, done.stderr
    assert "every session ended" in done.stdout
    after = preau(tmp_path, "export", "lea.martin")
    assert after.returncode == 0, after.stderr
    # Byte for byte, but for the moment the export was made.
    moment = re.compile(r'"generated":\d+')
    assert moment.sub("", after.stdout) == moment.sub("", before.stdout)


async def test_a_sqlite_backup_carries_the_attachment_files(tmp_path: Path) -> None:
    """On SQLite the attachments' bytes are files under <data dir>/blobs: a
    backup left them out, and a restore on a new machine answered every
    download 503 for good (an outside probe). The backup carries them in its
    one file; the restore writes them back where that deployment keeps them."""
    import hashlib
    import os
    import secrets

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    url = f"sqlite:///{old / 'preau.db'}"
    content = secrets.token_bytes(2 * 1024 * 1024 + 123)  # three chunks of the store's
    sha = hashlib.sha256(content).hexdigest()
    async with small_school(url, old) as school, \
            school.services.store.engine.transaction() as tx:
        await tx.execute("INSERT INTO blobs (sha256, size, refs, stored_ms)"
                         " VALUES ($1, $2, 1, 0)", sha, len(content))
    (old / "blobs" / sha[:2] / sha[2:4]).mkdir(parents=True)
    (old / "blobs" / sha[:2] / sha[2:4] / sha).write_bytes(content)

    file = tmp_path / "preau.backup"
    done = await backup(url, file, blob_files=old / "blobs")
    assert "1 attachment files" in done.note
    assert os.stat(file).st_mode & 0o077 == 0  # the school's data: the server's account only

    new.mkdir()
    restored_url = f"sqlite:///{new / 'preau.db'}"
    await restore(restored_url, file, blob_files=new / "blobs")
    assert (new / "blobs" / sha[:2] / sha[2:4] / sha).read_bytes() == content
    with sqlite3.connect(new / "preau.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM blob_chunks").fetchone() == (0,)
    # A deployment that keeps bytes in the database keeps them there.
    other = tmp_path / "in-db"
    other.mkdir()
    await restore(f"sqlite:///{other / 'preau.db'}", file)
    with sqlite3.connect(other / "preau.db") as conn:
        chunks = conn.execute("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY n",
                              (sha,)).fetchall()
    assert b"".join(c[0] for c in chunks) == content
