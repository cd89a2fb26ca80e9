"""Document store contract: the update log on every implementation (memory, SQLite,
PostgreSQL), and the SQL store's metadata, versions and edit history (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from preau.collab.compaction import compact
from preau.collab.memory import MemoryDocumentStore
from preau.collab.ports import DocumentStore
from preau.server.directory.model import RoomKind
from preau.server.documents.model import DocumentInfo, DocumentKind, DocumentVersion
from preau.server.store import AuditAction, Store
from preau.server.store.documents import EDIT_GRANULARITY_MS, SqlDocumentStore
from preau.server.store.factory import open_store
from tests.server.store.contract import (
    by_external_id,
    class_id,
    import_and_load,
    make_batch,
    pupil,
    teacher,
)
from tests.services import fresh_database

DOC = "doc-contract"


async def _school(store: Store) -> tuple[str, str, dict[str, str]]:
    _, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "6A"),
        pupil("p2", "Hugo", "Bernard", "6A"),
        teacher("t1", "Claire", "Lefèvre", "6A"),
    ))
    return view.school.id, class_id(view, "6A"), by_external_id(view)


async def _sql_store(store: Store) -> tuple[SqlDocumentStore, DocumentInfo]:
    school, klass, ids = await _school(store)
    documents = SqlDocumentStore(store.engine)
    info = DocumentInfo(DOC, school, klass, "Journal", DocumentKind.TEXT, ids["t1"], 1)
    await documents.create_document(info)
    return documents, info


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def log_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    if request.param == "memory":
        yield MemoryDocumentStore()
        return
    if request.param == "sqlite":
        store = await open_store(f"sqlite:///{tmp_path / 'docs.sqlite3'}")
        try:
            await store.migrate()
            yield (await _sql_store(store))[0]
        finally:
            await store.close()
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    async with fresh_database(server_url) as url:
        store = await open_store(url)
        try:
            await store.migrate()
            yield (await _sql_store(store))[0]
        finally:
            await store.close()


def edits(text: str) -> list[bytes]:
    """One Yjs update per character typed."""
    doc: Doc[Any] = Doc()
    content = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for char in text:
        content.insert(len(content), char)
    return updates


def text_of(*updates: bytes) -> str:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("content", type=Text))


async def stored_text(store: DocumentStore) -> str:
    log = await store.load_log(DOC)
    return text_of(*([log.snapshot] if log.snapshot else []), *(u for _, u in log.updates))


# -- the log: every implementation ---------------------------------------------------


async def test_appends_get_gapless_increasing_seqs(log_store: DocumentStore) -> None:
    updates = edits("abc")
    seqs = [await log_store.append_update(DOC, u, "p", 10 + i) for i, u in enumerate(updates)]
    assert seqs == [1, 2, 3]
    log = await log_store.load_log(DOC)
    assert log.snapshot is None
    assert log.snapshot_seq == 0
    assert log.updates == ((1, updates[0]), (2, updates[1]), (3, updates[2]))
    assert log.head == 3
    assert (await log_store.load_log(DOC, after=2)).updates == ((3, updates[2]),)


async def test_concurrent_appends_never_share_a_seq(log_store: DocumentStore) -> None:
    updates = edits("concurrent")
    seqs = await asyncio.gather(*(log_store.append_update(DOC, u, "p", 1) for u in updates))
    assert sorted(seqs) == list(range(1, len(updates) + 1))
    assert await stored_text(log_store) == "concurrent"


async def test_unknown_document_has_an_empty_log(log_store: DocumentStore) -> None:
    log = await log_store.load_log("doc-nowhere")
    assert (log.snapshot, log.snapshot_seq, log.updates, log.head) == (None, 0, (), 0)


async def test_compaction_replaces_what_it_merged_and_keeps_later_updates(
    log_store: DocumentStore,
) -> None:
    updates = edits("abcdef")
    for update in updates[:4]:
        await log_store.append_update(DOC, update, "p", 1)
    result = await compact(log_store, DOC)
    assert result is not None
    assert result.upto_seq == 4
    assert result.merged_updates == 4
    for update in updates[4:]:
        await log_store.append_update(DOC, update, "p", 2)
    log = await log_store.load_log(DOC)
    assert log.snapshot is not None
    assert log.snapshot_seq == 4
    assert [seq for seq, _ in log.updates] == [5, 6]
    assert await stored_text(log_store) == "abcdef"
    # Reading after the snapshot's seq skips the snapshot.
    assert (await log_store.load_log(DOC, after=4)).snapshot is None
    assert (await log_store.load_log(DOC, after=3)).snapshot is not None


async def test_a_stale_compactor_loses_and_changes_nothing(log_store: DocumentStore) -> None:
    for update in edits("xyz"):
        await log_store.append_update(DOC, update, "p", 1)
    first = await log_store.load_log(DOC)
    assert await compact(log_store, DOC) is not None
    # A second compactor that read the log before the first one swapped it.
    assert not await log_store.replace_log(DOC, first.snapshot_seq, first.head, b"\x00\x00")
    assert not await log_store.replace_log(DOC, 3, 3, b"\x00\x00")  # nothing to merge
    assert not await log_store.replace_log(DOC, 3, 9, b"\x00\x00")  # beyond the head
    assert await stored_text(log_store) == "xyz"


async def test_compactions_racing_appends_lose_nothing(log_store: DocumentStore) -> None:
    updates = edits("the quick brown fox jumps")

    async def writer() -> None:
        for update in updates:
            await log_store.append_update(DOC, update, "p", 1)
            await asyncio.sleep(0)

    async def compactor() -> None:
        for _ in range(10):
            await compact(log_store, DOC)
            await asyncio.sleep(0)

    await asyncio.gather(writer(), compactor(), compactor())
    assert await stored_text(log_store) == "the quick brown fox jumps"


# -- metadata, versions and history: the SQL store -------------------------------------


async def test_documents_people_lock_and_versions(store: Store) -> None:
    documents, info = await _sql_store(store)
    klass = info.class_id
    assert await documents.document(DOC) == info
    assert await documents.document("doc-none") is None
    assert [d.id for d in await documents.documents_of_classes([klass])] == [DOC]
    assert await documents.documents_of_classes([]) == []

    assert await documents.set_people(DOC, True, ["e1", "e2"], ["r1", "e1"])
    changed = await documents.document(DOC)
    assert changed is not None
    assert changed.restricted
    assert changed.editors == {"e1", "e2"}
    assert changed.readers == {"r1"}  # an editor is not also a reader
    assert [d.id for d in await documents.documents_naming("r1")] == [DOC]
    assert await documents.documents_naming("nobody") == []
    assert not await documents.set_people("doc-none", False, [], [])

    assert await documents.set_locked(DOC, True)
    locked = await documents.document(DOC)
    assert locked is not None
    assert locked.locked
    assert not await documents.set_locked("doc-none", True)

    version = DocumentVersion("ver-1", DOC, "avant", info.created_by, 5)
    await documents.add_version(version, b"\x00\x00")
    assert await documents.versions(DOC) == [version]
    assert await documents.version_state(DOC, "ver-1") == b"\x00\x00"
    assert await documents.version_state(DOC, "ver-x") is None


async def test_edit_history_is_one_row_per_person_per_minute(store: Store) -> None:
    documents, _ = await _sql_store(store)
    start = 1_000_000
    for i, update in enumerate(edits("abcdef")):
        await documents.append_update(DOC, update, "lea", start + i * 1000)
    await documents.append_update(DOC, edits("g")[0], "hugo", start + 2000)
    await documents.append_update(DOC, edits("h")[0], "lea", start + EDIT_GRANULARITY_MS)
    history = await documents.edits(DOC)
    assert [(e.person_id, e.at_ms) for e in history] == [
        ("lea", start + EDIT_GRANULARITY_MS), ("hugo", start + 2000), ("lea", start),
    ]


async def test_append_to_an_unknown_document_fails_and_stores_nothing(store: Store) -> None:
    documents, _ = await _sql_store(store)
    with pytest.raises(LookupError):
        await documents.append_update("doc-none", b"\x00\x00", "p", 1)
    assert (await documents.load_log("doc-none")).updates == ()


async def test_concurrent_appends_fail_only_for_the_unknown_document(store: Store) -> None:
    documents, _ = await _sql_store(store)
    first, second = edits("ab")
    results = await asyncio.gather(
        documents.append_update(DOC, first, "lea", 1),
        documents.append_update("doc-none", first, "lea", 1),
        documents.append_update(DOC, second, "hugo", 2),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert isinstance(results[1], LookupError)
    assert results[2] == 2
    assert await stored_text(documents) == "ab"
    assert {e.person_id for e in await documents.edits(DOC)} == {"lea", "hugo"}


async def test_appends_of_one_window_share_a_commit_in_arrival_order(store: Store) -> None:
    """Group commit: appends made together get their seqs in the order they came."""
    documents, _ = await _sql_store(store)
    updates = edits("grouped")
    seqs = await asyncio.gather(*(documents.append_update(DOC, u, "lea", 1) for u in updates))
    assert seqs == list(range(1, len(updates) + 1))
    assert (await documents.load_log(DOC)).updates == tuple(zip(seqs, updates, strict=True))


async def test_a_failed_group_fails_every_append_of_it_and_stores_none(store: Store) -> None:
    """A row already at seq 2 makes the group's second append fail: the whole
    transaction rolls back, so the first one is not stored either, and each
    caller is told (nobody relays an update that is not stored)."""
    documents, _ = await _sql_store(store)
    async with store.engine.transaction() as tx:
        await tx.execute("INSERT INTO document_updates (document_id, seq, data)"
                         " VALUES ($1, 2, $2)", DOC, b"\x00\x00")
    first, second = edits("ab")
    results = await asyncio.gather(
        documents.append_update(DOC, first, "lea", 1),
        documents.append_update(DOC, second, "lea", 2),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results), results
    async with store.engine.transaction() as tx:
        assert await tx.fetchval("SELECT head_seq FROM documents WHERE id = $1", DOC) == 0
        await tx.execute("DELETE FROM document_updates WHERE document_id = $1", DOC)
    assert await documents.append_update(DOC, first, "lea", 3) == 1
    assert await stored_text(documents) == "a"


async def test_the_data_protection_export_reads_the_edit_history(store: Store) -> None:
    """document_edits is the table the data-protection tools read
    (preau/server/store/privacy.py)."""
    from preau.server.store.privacy import PrivacyStore

    documents, _ = await _sql_store(store)
    for i, update in enumerate(edits("abc")):
        await documents.append_update(DOC, update, "lea", 1_000 + i * EDIT_GRANULARITY_MS)
    rows = await PrivacyStore(store.engine).document_edits("lea")
    assert [(r["document_id"], int(r["first_ms"]), int(r["last_ms"]), int(r["edits"]))
            for r in rows] == [(DOC, 1_000, 1_000 + 2 * EDIT_GRANULARITY_MS, 3)]


# -- refused clients: every implementation ---------------------------------------------


async def test_refused_clients_are_kept_with_their_lowest_clock(log_store: DocumentStore) -> None:
    assert await log_store.refused_clients(DOC) == {}
    await log_store.refuse_clients(DOC, {7: 12, 2**40: 0}, 1)
    await log_store.refuse_clients(DOC, {7: 30, 9: 4}, 2)  # 7 stays refused from 12
    await log_store.refuse_clients(DOC, {}, 3)
    assert await log_store.refused_clients(DOC) == {7: 12, 2**40: 0, 9: 4}
    await log_store.refuse_clients(DOC, {7: 5}, 4)
    assert (await log_store.refused_clients(DOC))[7] == 5
    assert await log_store.refused_clients("doc-other") == {}


async def test_a_copy_is_bound_to_its_first_writer(log_store: DocumentStore) -> None:
    assert await log_store.client_owners(DOC) == {}
    assert await log_store.bind_clients(DOC, [7, 2**40], "lea", 1) == {7: "lea", 2**40: "lea"}
    # The first binding wins, whoever asks next (another node, another person).
    assert await log_store.bind_clients(DOC, [7, 9], "hugo", 2) == {7: "lea", 9: "hugo"}
    assert await log_store.bind_clients(DOC, [], "hugo", 3) == {}
    assert await log_store.client_owners(DOC) == {7: "lea", 2**40: "lea", 9: "hugo"}
    assert await log_store.client_owners(DOC, [9, 11]) == {9: "hugo"}
    assert await log_store.client_owners("doc-other") == {}


async def test_copies_refused_for_one_person_only(log_store: DocumentStore) -> None:
    await log_store.refuse_copies(DOC, "lea", {7: 12, 9: 0}, 1)
    await log_store.refuse_copies(DOC, "lea", {7: 30}, 2)  # 7 stays refused from 12
    await log_store.refuse_copies(DOC, "hugo", {7: 3}, 3)
    await log_store.refuse_copies(DOC, "hugo", {}, 4)
    assert await log_store.refused_copies(DOC, "lea") == {7: 12, 9: 0}
    assert await log_store.refused_copies(DOC, "hugo") == {7: 3}
    assert await log_store.refused_copies(DOC, "ines") == {}
    assert await log_store.refused_clients(DOC) == {}  # nobody else's


async def test_concurrent_bindings_of_one_copy_agree(log_store: DocumentStore) -> None:
    found = await asyncio.gather(*(log_store.bind_clients(DOC, [42], person, 1)
                                   for person in ("lea", "hugo", "ines")))
    [owner] = {answer[42] for answer in found}
    assert await log_store.client_owners(DOC) == {42: owner}


# -- removals from the class room (moderation's room_members): the SQL store -----------


async def test_removed_from_reads_moderation_removals(store: Store) -> None:
    _, view = await import_and_load(store, make_batch(
        pupil("p1", "Léa", "Martin", "6A"),
        pupil("p2", "Hugo", "Bernard", "6A"),
        teacher("t1", "Claire", "Lefèvre", "6A"),
    ))
    ids = by_external_id(view)
    room = next(r.id for r in view.rooms.values() if r.kind is RoomKind.CLASS)
    documents = SqlDocumentStore(store.engine)
    assert await documents.removed_from(ids["p1"], [room]) == set()
    await store.moderate_member(room, ids["t1"], ids["p1"], AuditAction.MEMBER_REMOVE,
                                None, None, 10)
    assert await documents.removed_from(ids["p1"], [room, "room-x"]) == {room}
    assert await documents.removed_from(ids["p2"], [room]) == set()
    assert await documents.removed_from(ids["p1"], []) == set()
    await store.moderate_member(room, ids["t1"], ids["p1"], AuditAction.MEMBER_READMIT,
                                None, None, 20)
    assert await documents.removed_from(ids["p1"], [room]) == set()
