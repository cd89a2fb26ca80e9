"""Shared documents in SQL (migration 0007): metadata, rights, the update log, versions.

It implements ``preau.collab.ports.DocumentStore`` over the Engine of
``preau/server/store/sql.py``, plus what the document service needs. Same SQL on
SQLite and PostgreSQL; the contract suite runs both
(tests/server/documents/test_store_contract.py).

The log's guarantees, and how the SQL gives them:

- gapless seqs: an append bumps ``documents.head_seq`` and inserts the row in
  one transaction (shared by the appends of a short window: group commit);
  a rollback undoes both. On PostgreSQL the UPDATE takes the
  document's row lock, so appends to one document are serialised and commit
  in seq order;
- compaction never loses a racing update: ``replace_log`` deletes only
  ``seq <= upto_seq`` (what it merged), under a per-document advisory lock and
  only if ``snapshot_seq`` is still the ``base_seq`` it read;
- ``load_log`` reads the snapshot and the updates in one read-only
  transaction (one consistent snapshot of the database), so a compaction
  committing in between cannot make it miss updates;
- ``delete_document`` takes the document's row first (PostgreSQL: ``FOR
  UPDATE``; SQLite: the writer lock), so an append, a version or a refused
  client being written waits for it and then finds no document, instead of
  leaving a row that names one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from preau.collab.ports import StoredLog
from preau.server import metrics
from preau.server.documents.model import DocumentEdit, DocumentInfo, DocumentKind, DocumentVersion
from preau.server.store.engine import Engine, Row, Transaction

# A person's edits closer together than this are one row of the edit history.
EDIT_GRANULARITY_MS = 60_000
# Group commit of the log's appends (``append_update``): the appends made in
# the same event-loop turn, or while the previous group was committing, share
# one transaction (at most MAX_GROUP). No timer: a keystroke is never held
# back to wait for company (a 1, 2 or 5 ms window bought no CPU we could tell
# from the noise on the shared benchmark machine, and cost its latency:
# docs/benchmarks.md, "Documents: before and after").
GROUP_WINDOW_S = 0.0
MAX_GROUP = 64
# PostgreSQL: the seq bump and the row in one statement (one round trip).
_APPEND_PG = (
    "WITH bumped AS (UPDATE documents SET head_seq = head_seq + 1 WHERE id = $1"
    " RETURNING head_seq)"
    " INSERT INTO document_updates (document_id, seq, data)"
    " SELECT $1, head_seq, $2 FROM bumped RETURNING seq"
)


@dataclass(slots=True)
class _Append:
    document_id: str
    update: bytes
    person_id: str
    at_ms: int
    done: asyncio.Future[int]


def _compaction_lock(document_id: str) -> int:
    digest = hashlib.blake2b(b"preau-doc:" + document_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Every table holding a row of a document, children first (their foreign keys).
DOCUMENT_TABLES = (
    "document_updates", "document_versions", "document_edits", "document_people",
    "document_refused_clients", "document_clients", "document_refused_copies",
)


class DocumentFiles(Protocol):
    """The files bound to documents (``AttachmentSql``, preau/server/store/attachments.py)."""

    async def delete_of_document(self, tx: Transaction, document_id: str) -> int:
        """Delete the document's attachments in ``tx``, and the bytes of the
        blobs no other row names; how many rows went."""


_DOC_COLUMNS = (
    "id, school_id, class_id, title, kind, created_by, created_ms, restricted, locked"
)


class SqlDocumentStore:
    def __init__(self, engine: Engine, group_window_s: float = GROUP_WINDOW_S) -> None:
        self.engine = engine
        self.group_window_s = group_window_s
        self._appends: deque[_Append] = deque()
        self._flusher: asyncio.Task[None] | None = None
        # (document, person) -> the edit-history row this process last saw
        # for them, so a burst of keystrokes costs no history query.
        self._edit_rows: dict[tuple[str, str], int] = {}

    # -- metadata ------------------------------------------------------------
    async def create_document(self, info: DocumentInfo) -> None:
        async with self.engine.transaction() as tx:
            await tx.execute(
                f"INSERT INTO documents ({_DOC_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                info.id, info.school_id, info.class_id, info.title, info.kind.value,
                info.created_by,
                info.created_ms, int(info.restricted), int(info.locked),
            )
            await _write_people(tx, info.id, info.editors, info.readers)

    async def document(self, document_id: str) -> DocumentInfo | None:
        async with self.engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = $1", document_id
            )
            if row is None:
                return None
            people = await tx.fetch(
                "SELECT document_id, person_id, role FROM document_people"
                " WHERE document_id = $1", document_id,
            )
        return _info(row, people)

    async def documents_of_classes(self, class_ids: Iterable[str]) -> list[DocumentInfo]:
        ids = sorted(set(class_ids))
        if not ids:
            return []
        marks = ", ".join(f"${i + 1}" for i in range(len(ids)))
        async with self.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE class_id IN ({marks})"
                " ORDER BY created_ms, id", *ids,
            )
            people = await tx.fetch(
                "SELECT p.document_id, p.person_id, p.role FROM document_people p"
                f" JOIN documents d ON d.id = p.document_id WHERE d.class_id IN ({marks})",
                *ids,
            )
        return [_info(row, [p for p in people if p["document_id"] == row["id"]])
                for row in rows]

    async def documents_naming(self, person_id: str) -> list[DocumentInfo]:
        """Documents that list the person as an editor or a reader."""
        async with self.engine.transaction(readonly=True) as tx:
            ids = [r["document_id"] for r in await tx.fetch(
                "SELECT document_id FROM document_people WHERE person_id = $1"
                " ORDER BY document_id", person_id,
            )]
        found = [await self.document(i) for i in ids]
        return [d for d in found if d is not None]

    async def set_locked(self, document_id: str, locked: bool) -> bool:
        async with self.engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE documents SET locked = $2 WHERE id = $1", document_id, int(locked)
            )
        return changed > 0

    async def set_people(
        self, document_id: str, restricted: bool, editors: Iterable[str], readers: Iterable[str]
    ) -> bool:
        async with self.engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE documents SET restricted = $2 WHERE id = $1", document_id,
                int(restricted),
            )
            if not changed:
                return False
            await tx.execute("DELETE FROM document_people WHERE document_id = $1", document_id)
            await _write_people(tx, document_id, editors, readers)
        return True

    async def delete_document(self, document_id: str, files: DocumentFiles | None) -> bool:
        """Delete the document and every row of it (content, log, versions,
        edit history, people, refused clients) and, through ``files``, its
        attachments and their blobs' bytes: one transaction. False if there
        was no such document (deleted already)."""
        lock = " FOR UPDATE" if self.engine.dialect == "postgres" else ""
        async with self.engine.transaction() as tx:
            if await tx.fetchval(f"SELECT id FROM documents WHERE id = $1{lock}",
                                 document_id) is None:
                return False
            for table in DOCUMENT_TABLES:
                await tx.execute(f"DELETE FROM {table} WHERE document_id = $1", document_id)
            await tx.execute("DELETE FROM documents WHERE id = $1", document_id)
            # Last: the file blob store unlinks bytes at once, not at commit.
            if files is not None:
                await files.delete_of_document(tx, document_id)
        for key in [k for k in self._edit_rows if k[0] == document_id]:
            del self._edit_rows[key]
        return True

    # -- the log (collab.ports.DocumentStore) --------------------------------
    async def append_update(
        self, document_id: str, update: bytes, person_id: str, at_ms: int
    ) -> int:
        """Store ``update`` and return its seq, once committed.

        Group commit: the appends made in the same loop turn (plus
        ``group_window_s``, none by default), or while the previous group was
        committing, share one transaction, in arrival order (every document
        of the node); each caller gets its seq after that commit, so an
        update is still relayed only once stored. A failed transaction fails
        every append of the group (each room refuses its update: "retry").
        """
        loop = asyncio.get_running_loop()
        pending = _Append(document_id, update, person_id, at_ms, loop.create_future())
        self._appends.append(pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_appends())
        return await pending.done

    async def _flush_appends(self) -> None:
        try:
            await asyncio.sleep(self.group_window_s)
            while self._appends:
                batch: list[_Append] = []
                while self._appends and len(batch) < MAX_GROUP:
                    pending = self._appends.popleft()
                    if not pending.done.done():  # its caller gave up: not stored
                        batch.append(pending)
                if not batch:
                    continue
                try:
                    seqs = await self._append_group(batch)
                except Exception as exc:
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_exception(exc)
                    continue
                for pending, seq in zip(batch, seqs, strict=True):
                    if pending.done.done():
                        continue
                    if seq is None:
                        pending.done.set_exception(
                            LookupError(f"unknown document {pending.document_id!r}"))
                    else:
                        pending.done.set_result(seq)
        except BaseException:
            while self._appends:
                pending = self._appends.popleft()
                if not pending.done.done():
                    pending.done.cancel()
            raise

    async def _append_group(self, batch: list[_Append]) -> list[int | None]:
        seqs: list[int | None] = []
        postgres = self.engine.dialect == "postgres"
        recorded_now: dict[tuple[str, str], int] = {}
        async with self.engine.transaction() as tx:
            for pending in batch:
                document_id, at_ms = pending.document_id, pending.at_ms
                if postgres:  # one round trip
                    seq = await tx.fetchval(_APPEND_PG, document_id, pending.update)
                else:  # two statements, no round trip (SQLite has no UPDATE in WITH)
                    seq = await tx.fetchval(
                        "UPDATE documents SET head_seq = head_seq + 1 WHERE id = $1"
                        " RETURNING head_seq", document_id,
                    )
                    if seq is not None:
                        await tx.execute(
                            "INSERT INTO document_updates (document_id, seq, data)"
                            " VALUES ($1, $2, $3)", document_id, seq, pending.update,
                        )
                seqs.append(None if seq is None else int(seq))
                if seq is None:
                    continue
                key = (document_id, pending.person_id)
                recorded = recorded_now.get(key, self._edit_rows.get(key))
                if recorded is None or at_ms - recorded >= EDIT_GRANULARITY_MS:
                    # Not known to be recorded within the minute by this process:
                    # ask the table (another node may have written the row).
                    last = await tx.fetchval(
                        "SELECT MAX(at_ms) FROM document_edits WHERE person_id = $1"
                        " AND document_id = $2", pending.person_id, document_id,
                    )
                    if last is None or at_ms - int(last) >= EDIT_GRANULARITY_MS:
                        await tx.execute(
                            "INSERT INTO document_edits (document_id, person_id, at_ms)"
                            " VALUES ($1, $2, $3)", document_id, pending.person_id, at_ms,
                        )
                        last = at_ms
                    recorded = int(last)
                recorded_now[key] = recorded
        # Remembered only once committed; bounded: cleared when it grows large.
        if len(self._edit_rows) > 10_000:
            self._edit_rows.clear()
        self._edit_rows.update(recorded_now)
        stored = [p.update for p, seq in zip(batch, seqs, strict=True) if seq is not None]
        metrics.DOCUMENT_UPDATES.inc(len(stored))
        metrics.DOCUMENT_UPDATE_BYTES.inc(sum(len(u) for u in stored))
        return seqs

    async def load_log(self, document_id: str, after: int = 0) -> StoredLog:
        async with self.engine.transaction(readonly=True) as tx:
            snapshot_seq = await tx.fetchval(
                "SELECT snapshot_seq FROM documents WHERE id = $1", document_id
            )
            if snapshot_seq is None:
                return StoredLog(None, 0, ())
            snapshot = None
            if after < int(snapshot_seq):
                raw = await tx.fetchval(
                    "SELECT snapshot FROM documents WHERE id = $1", document_id
                )
                snapshot = None if raw is None else bytes(raw)
            rows = await tx.fetch(
                "SELECT seq, data FROM document_updates WHERE document_id = $1 AND seq > $2"
                " ORDER BY seq", document_id, max(after, int(snapshot_seq)),
            )
        return StoredLog(
            snapshot, int(snapshot_seq), tuple((int(r["seq"]), bytes(r["data"])) for r in rows)
        )

    async def replace_log(
        self, document_id: str, base_seq: int, upto_seq: int, snapshot: bytes
    ) -> bool:
        async with self.engine.transaction() as tx:
            await tx.lock(_compaction_lock(document_id))
            row = await tx.fetchrow(
                "SELECT snapshot_seq, head_seq FROM documents WHERE id = $1", document_id
            )
            if (row is None or int(row["snapshot_seq"]) != base_seq
                    or not base_seq < upto_seq <= int(row["head_seq"])):
                return False
            await tx.execute(
                "UPDATE documents SET snapshot = $2, snapshot_seq = $3 WHERE id = $1",
                document_id, snapshot, upto_seq,
            )
            await tx.execute(
                "DELETE FROM document_updates WHERE document_id = $1 AND seq <= $2",
                document_id, upto_seq,
            )
        metrics.DOCUMENT_COMPACTIONS.inc()
        metrics.DOCUMENT_SIZE.observe(len(snapshot))
        return True

    async def refuse_clients(
        self, document_id: str, clients: dict[int, int], at_ms: int
    ) -> None:
        if not clients:
            return
        async with self.engine.transaction() as tx:
            await tx.executemany(
                "INSERT INTO document_refused_clients"
                " (document_id, client_id, from_clock, refused_ms) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (document_id, client_id) DO UPDATE"
                " SET from_clock = excluded.from_clock, refused_ms = excluded.refused_ms"
                " WHERE excluded.from_clock < document_refused_clients.from_clock",
                [(document_id, client, clock, at_ms)
                 for client, clock in sorted(clients.items())],
            )

    async def refused_clients(self, document_id: str) -> dict[int, int]:
        async with self.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT client_id, from_clock FROM document_refused_clients"
                " WHERE document_id = $1", document_id,
            )
        return {int(r["client_id"]): int(r["from_clock"]) for r in rows}

    async def refuse_copies(
        self, document_id: str, person_id: str, clients: dict[int, int], at_ms: int
    ) -> None:
        if not clients:
            return
        async with self.engine.transaction() as tx:
            await tx.executemany(
                "INSERT INTO document_refused_copies"
                " (document_id, person_id, client_id, from_clock, refused_ms)"
                " VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (document_id, person_id, client_id) DO UPDATE"
                " SET from_clock = excluded.from_clock, refused_ms = excluded.refused_ms"
                " WHERE excluded.from_clock < document_refused_copies.from_clock",
                [(document_id, person_id, client, clock, at_ms)
                 for client, clock in sorted(clients.items())],
            )

    async def refused_copies(self, document_id: str, person_id: str) -> dict[int, int]:
        async with self.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT client_id, from_clock FROM document_refused_copies"
                " WHERE document_id = $1 AND person_id = $2", document_id, person_id)
        return {int(r["client_id"]): int(r["from_clock"]) for r in rows}

    async def bind_clients(
        self, document_id: str, clients: Collection[int], person_id: str, at_ms: int
    ) -> dict[int, str]:
        wanted = sorted(set(clients))
        if not wanted:
            return {}
        async with self.engine.transaction() as tx:
            await tx.executemany(
                "INSERT INTO document_clients (document_id, client_id, person_id, bound_ms)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (document_id, client_id) DO NOTHING",
                [(document_id, client, person_id, at_ms) for client in wanted],
            )
            return await _owners(tx, document_id, wanted)

    async def client_owners(
        self, document_id: str, clients: Collection[int] | None = None
    ) -> dict[int, str]:
        async with self.engine.transaction(readonly=True) as tx:
            return await _owners(tx, document_id, None if clients is None else sorted(clients))

    # -- class-room removals (moderation's room_members) ----------------------
    async def removed_from(self, person_id: str, room_ids: Iterable[str]) -> set[str]:
        """The rooms among ``room_ids`` a moderator removed the person from
        (``room_members.removed``, written by preau/server/moderation): a pupil
        removed from a class room loses the class's documents."""
        ids = sorted(set(room_ids))
        if not ids:
            return set()
        marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
        async with self.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT room_id FROM room_members WHERE person_id = $1 AND removed = 1"
                f" AND room_id IN ({marks})", person_id, *ids,
            )
        return {r["room_id"] for r in rows}

    # -- versions and history ------------------------------------------------
    async def add_version(self, version: DocumentVersion, state: bytes) -> None:
        async with self.engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO document_versions (id, document_id, name, state, created_by,"
                " created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                version.id, version.document_id, version.name, state, version.created_by,
                version.created_ms,
            )

    async def versions(self, document_id: str) -> list[DocumentVersion]:
        async with self.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT id, document_id, name, created_by, created_ms FROM document_versions"
                " WHERE document_id = $1 ORDER BY created_ms, id", document_id,
            )
        return [DocumentVersion(r["id"], r["document_id"], r["name"], r["created_by"],
                                int(r["created_ms"])) for r in rows]

    async def version_state(self, document_id: str, version_id: str) -> bytes | None:
        async with self.engine.transaction(readonly=True) as tx:
            raw = await tx.fetchval(
                "SELECT state FROM document_versions WHERE document_id = $1 AND id = $2",
                document_id, version_id,
            )
        return None if raw is None else bytes(raw)

    async def edits(self, document_id: str, limit: int = 500) -> list[DocumentEdit]:
        """The edit history, newest first."""
        async with self.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, at_ms FROM document_edits WHERE document_id = $1"
                " ORDER BY at_ms DESC LIMIT $2", document_id, limit,
            )
        return [DocumentEdit(r["person_id"], int(r["at_ms"])) for r in rows]


async def _write_people(
    tx: Transaction, document_id: str, editors: Iterable[str], readers: Iterable[str]
) -> None:
    rows = [(document_id, p, "editor") for p in sorted(set(editors))]
    rows += [(document_id, p, "reader") for p in sorted(set(readers) - set(editors))]
    if rows:
        await tx.executemany(
            "INSERT INTO document_people (document_id, person_id, role) VALUES ($1, $2, $3)",
            rows,
        )


def _info(row: Row, people: Iterable[Row]) -> DocumentInfo:
    people = list(people)
    return DocumentInfo(
        id=row["id"], school_id=row["school_id"], class_id=row["class_id"],
        title=row["title"], kind=DocumentKind(row["kind"]), created_by=row["created_by"],
        created_ms=int(row["created_ms"]),
        restricted=bool(row["restricted"]), locked=bool(row["locked"]),
        editors=frozenset(p["person_id"] for p in people if p["role"] == "editor"),
        readers=frozenset(p["person_id"] for p in people if p["role"] == "reader"),
    )


async def _owners(
    tx: Transaction, document_id: str, clients: list[int] | None
) -> dict[int, str]:
    if clients is None:
        rows = await tx.fetch(
            "SELECT client_id, person_id FROM document_clients WHERE document_id = $1",
            document_id)
        return {int(r["client_id"]): str(r["person_id"]) for r in rows}
    found: dict[int, str] = {}
    for start in range(0, len(clients), 500):  # (a statement's parameters)
        part = clients[start:start + 500]
        marks = ", ".join(f"${i}" for i in range(2, len(part) + 2))
        rows = await tx.fetch(
            "SELECT client_id, person_id FROM document_clients"
            f" WHERE document_id = $1 AND client_id IN ({marks})", document_id, *part)
        found.update({int(r["client_id"]): str(r["person_id"]) for r in rows})
    return found
