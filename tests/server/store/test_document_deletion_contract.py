"""Deleting a document (``SqlDocumentStore.delete_document``) on SQLite and
PostgreSQL, with both blob stores: every row of it goes in one transaction —
content, log, versions, edit history, people, refused clients, its files and
the bytes no other file names — and nothing of another document; appends
racing the deletion on another node leave no row behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from preau.server.blobs import BlobMissing, BlobStore
from preau.server.blobs.database import DatabaseBlobStore
from preau.server.blobs.files import FileBlobStore
from preau.server.documents.model import DocumentInfo, DocumentKind, DocumentVersion
from preau.server.store import Store
from preau.server.store.attachments import AttachmentSql, NewFile
from preau.server.store.documents import DOCUMENT_TABLES, SqlDocumentStore
from tests.server.store.contract import (
    NOW,
    by_external_id,
    class_id,
    import_and_load,
    make_batch,
    other_node,
    pupil,
    teacher,
)
from tests.server.store.test_attachments_contract import ROOMY, read_all, upload

__all__ = ["other_node"]  # fixture


@pytest.fixture(params=["files", "database"])
def blobs(request: pytest.FixtureRequest, store: Store, tmp_path: Path) -> BlobStore:
    if request.param == "files":
        return FileBlobStore(tmp_path / "blobs")
    return DatabaseBlobStore(store.engine)


def typed(text: str) -> list[bytes]:
    """One Yjs update per character."""
    doc: Doc[Any] = Doc()
    content = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for ch in text:
        content += ch
    return updates


class School:
    def __init__(self, store: Store, blobs: BlobStore, school: str, klass: str,
                 ids: dict[str, str]) -> None:
        self.store = store
        self.documents = SqlDocumentStore(store.engine)
        self.files = AttachmentSql(store.engine, blobs)
        self.blobs = blobs
        self.school, self.klass, self.ids = school, klass, ids

    async def document(self, document_id: str) -> DocumentInfo:
        info = DocumentInfo(document_id, self.school, self.klass, "Journal", DocumentKind.TEXT,
                            self.ids["t1"], NOW, restricted=True,
                            editors=frozenset({self.ids["p1"]}),
                            readers=frozenset({self.ids["p2"]}))
        await self.documents.create_document(info)
        for n, update in enumerate(typed("Bonjour")):
            await self.documents.append_update(document_id, update, self.ids["p1"], NOW + n)
        await self.documents.append_update(document_id, typed("!")[0], self.ids["t1"], NOW)
        await self.documents.add_version(
            DocumentVersion(f"ver-{document_id}", document_id, "v1", self.ids["t1"], NOW),
            b"\x00\x00")
        await self.documents.refuse_clients(document_id, {4242: 3}, NOW)
        await self.documents.bind_clients(document_id, [4243], self.ids["p1"], NOW)
        await self.documents.refuse_copies(document_id, self.ids["p1"], {4244: 0}, NOW)
        return info

    async def attach(self, tmp_path: Path, document_id: str, attachment_id: str,
                     content: bytes) -> str:
        path, sha = upload(tmp_path, content, attachment_id)
        await self.files.add(NewFile(
            attachment_id, self.school, self.ids["p1"], f"{attachment_id}.pdf", "document",
            "application/pdf", len(content), sha, "ready", None, None, None, None,
        ), path, ROOMY, NOW)
        bound = await self.files.bind_document([attachment_id], self.ids["p1"], document_id,
                                               NOW)
        assert bound is not None
        assert [a.id for a in bound] == [attachment_id]
        return sha

    async def rows(self, document_id: str) -> dict[str, int]:
        """The rows naming ``document_id``, per table."""
        counts = {}
        async with self.store.engine.transaction(readonly=True) as tx:
            for table in (*DOCUMENT_TABLES, "attachments"):
                counts[table] = int(await tx.fetchval(
                    f"SELECT COUNT(*) FROM {table} WHERE document_id = $1", document_id))
            counts["documents"] = int(await tx.fetchval(
                "SELECT COUNT(*) FROM documents WHERE id = $1", document_id))
        return counts


@pytest.fixture
async def school(store: Store, blobs: BlobStore) -> School:
    _, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "6A"),
        pupil("p2", "Hugo", "Bernard", "6A"),
        teacher("t1", "Claire", "Lefèvre", "6A"),
    ))
    return School(store, blobs, view.school.id, class_id(view, "6A"), by_external_id(view))


async def test_every_row_of_the_document_and_its_own_bytes_go(
    school: School, tmp_path: Path
) -> None:
    await school.document("doc-gone")
    await school.document("doc-kept")
    own = await school.attach(tmp_path, "doc-gone", "a-own", b"%PDF-1.4 only here " * 1000)
    shared = await school.attach(tmp_path, "doc-gone", "a-shared", b"%PDF-1.4 in both " * 1000)
    await school.attach(tmp_path, "doc-kept", "b-shared", b"%PDF-1.4 in both " * 1000)
    before = await school.rows("doc-gone")
    assert all(before.values()), before  # every table holds something of it
    kept_before = await school.rows("doc-kept")

    assert await school.documents.delete_document("doc-gone", school.files)

    assert set((await school.rows("doc-gone")).values()) == {0}
    assert await school.documents.document("doc-gone") is None
    assert (await school.documents.load_log("doc-gone")).updates == ()
    assert await school.documents.versions("doc-gone") == []
    assert await school.documents.edits("doc-gone") == []
    assert await school.documents.refused_clients("doc-gone") == {}
    assert await school.documents.documents_naming(school.ids["p2"]) == [
        await school.documents.document("doc-kept")]
    # Its own file's bytes are gone; a blob another document's file names stays.
    assert await school.files.get("a-own") is None
    assert await school.files.blob_refs(own) == 0
    with pytest.raises(BlobMissing):
        await read_all(school.blobs, own)
    if isinstance(school.blobs, FileBlobStore):
        assert not school.blobs.path(own).exists()
    assert await school.files.blob_refs(shared) == 1
    assert await read_all(school.blobs, shared, 0, 8) == b"%PDF-1.4"
    # The other document is untouched.
    assert await school.rows("doc-kept") == kept_before
    assert (await school.documents.load_log("doc-kept")).updates

    # A second deletion finds nothing.
    assert not await school.documents.delete_document("doc-gone", school.files)


async def test_without_files_the_sweep_takes_them_later(school: School, tmp_path: Path) -> None:
    """The rows go with the document; files then name no document, which is
    what the attachments' sweep deletes."""
    await school.document("doc-gone")
    sha = await school.attach(tmp_path, "doc-gone", "a1", b"%PDF-1.4 sheet " * 100)
    assert await school.documents.delete_document("doc-gone", None)
    assert await school.files.blob_refs(sha) == 1
    assert await school.files.sweep(0) == 1
    assert await school.files.blob_refs(sha) == 0


async def test_appends_racing_the_deletion_on_another_node_leave_nothing(
    school: School, other_node: Store,
) -> None:
    """Writers append on this node until refused while another node deletes:
    whatever was stored before went with the document, nothing after it."""
    await school.document("doc-race")
    deleter = SqlDocumentStore(other_node.engine)

    async def writer(k: int) -> int:
        for n in range(100_000):
            try:
                # A minute apart: every append writes an edit-history row too.
                await school.documents.append_update(
                    "doc-race", b"u%d-%d" % (k, n), school.ids["p1"], NOW + n * 61_000)
            except LookupError:
                return n  # the document is gone
            await asyncio.sleep(0)
        raise AssertionError("never refused")

    writers = [asyncio.create_task(writer(k)) for k in range(4)]
    await asyncio.sleep(0.05)
    assert await deleter.delete_document("doc-race",
                                         AttachmentSql(other_node.engine, school.blobs))
    stored = await asyncio.gather(*writers)
    assert sum(stored) > 0
    assert set((await school.rows("doc-race")).values()) == {0}
