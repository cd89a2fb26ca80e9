"""What every engine promises its stores beyond SQL, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.blobs.files import FileBlobStore
from preau.server.store import Store


async def test_actions_after_commit_run_once_committed_and_never_after_a_rollback(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """``after_commit``: a file's bytes go only once the rows naming it are
    gone for good (the file blob store; a rollback keeps the rows)."""
    engine, ran = store.engine, []
    async with engine.transaction() as tx:
        tx.after_commit(lambda: ran.append("first"))
        tx.after_commit(lambda: 1 / 0)  # one failing keeps none of the others from running
        tx.after_commit(lambda: ran.append("second"))
        assert ran == []  # not before the commit
    assert ran == ["first", "second"]
    assert "an action after a commit failed" in caplog.text

    async with engine.transaction() as tx:
        tx.after_commit(lambda: ran.append("rolled back"))
        await tx.rollback()

    async def failing_block() -> None:
        async with engine.transaction() as tx:
            tx.after_commit(lambda: ran.append("raised"))
            raise RuntimeError("the block failed")

    with pytest.raises(RuntimeError):
        await failing_block()
    assert ran == ["first", "second"]


async def test_a_file_blobs_bytes_stay_when_its_deletion_rolls_back(
    store: Store, tmp_path: Path
) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"une photo de classe")
    sha = "ab" * 32
    async with store.engine.transaction() as tx:
        await blobs.put(tx, sha, source)

    async def failing_deletion() -> None:
        async with store.engine.transaction() as tx:
            await blobs.remove(tx, sha)
            raise RuntimeError("a later statement failed")

    with pytest.raises(RuntimeError):
        await failing_deletion()
    assert blobs.path(sha).read_bytes() == b"une photo de classe"
    async with store.engine.transaction() as tx:
        await blobs.remove(tx, sha)
        assert blobs.path(sha).exists()  # the rows may still come back
    assert not blobs.path(sha).exists()
