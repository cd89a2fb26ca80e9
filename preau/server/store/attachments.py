"""Attachments' rows and their blobs' reference counts (migration 0040).

An attachment row names a blob (``sha256``); ``blobs.refs`` counts the rows
naming each blob and is changed in the transaction that adds or deletes a
row, under the blob's lock, where the blob store is asked to keep or forget
the bytes (preau/server/blobs/). Deletion is therefore exact: the bytes go
with the last row naming them, never before.

What a row is bound to decides who may read it (the service checks it on
every download, preau/server/attachments/service.py): nothing yet (its
author only), a message (``room_id``, ``seq``), a held message (``held_id``)
or a scheduled one (``scheduled_id``) until it is posted, a document. The
functions ``attach_to_post`` and ``follow_post`` run inside a post's
transaction (preau/server/store/posting.py, moderation.py, scheduling.py), so
a message and its files are committed together.

Rows whose message, held or scheduled message is gone (retention, erasure),
whose message was redacted once the audit period kept its original, and
uploads never sent are deleted by ``sweep``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from preau.server.blobs import BlobStore, blob_lock
from preau.server.directory.model import Profile
from preau.server.store.engine import Engine, Row, Transaction, new_id
from preau.server.store.records import AttachmentRef, AuditAction
from preau.server.store.rows import attachments_json, attachments_of_row, audit

ATTACHMENT_COLUMNS = (
    "id, school_id, author_id, name, kind, mime, size, sha256, width, height,"
    " thumbnail IS NOT NULL AS has_thumbnail, thumbnail_mime, state, created_ms, room_id, seq,"
    " held_id, scheduled_id, document_id, scan_attempts"
)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One stored file and what it is bound to (see the module docstring)."""

    id: str
    school_id: str
    author_id: str
    name: str
    kind: str
    mime: str
    size: int
    sha256: str
    state: str  # ready | pending
    created_ms: int
    width: int | None = None
    height: int | None = None
    has_thumbnail: bool = False
    thumbnail_mime: str | None = None
    room_id: str | None = None
    seq: int | None = None
    held_id: str | None = None
    scheduled_id: str | None = None
    document_id: str | None = None
    scan_attempts: int = 0

    @property
    def bound(self) -> bool:
        return (self.room_id is not None or self.held_id is not None
                or self.scheduled_id is not None or self.document_id is not None)

    def ref(self) -> AttachmentRef:
        return AttachmentRef(self.id, self.name, self.size, self.kind, self.mime, self.state,
                             self.has_thumbnail, self.width, self.height)


@dataclass(frozen=True, slots=True)
class NewFile:
    """An upload that passed the content checks, to be recorded."""

    id: str
    school_id: str
    author_id: str
    name: str
    kind: str
    mime: str
    size: int
    sha256: str
    state: str
    width: int | None
    height: int | None
    thumbnail: bytes | None
    thumbnail_mime: str | None


@dataclass(frozen=True, slots=True)
class Quota:
    person_bytes: int
    school_bytes: int


@dataclass(frozen=True, slots=True)
class PostLink:
    """A held or scheduled message an attachment waits with."""

    room_id: str
    sender_id: str
    seq: int | None  # posted: where
    status: str  # held: pending | approved | rejected; scheduled: waiting | posted


def quota_lock(school_id: str) -> int:
    """The transaction lock under which a school's uploads are recorded."""
    digest = hashlib.blake2b(b"preau-attachment-quota:" + school_id.encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class QuotaExceeded(Exception):
    def __init__(self, whose: str) -> None:
        super().__init__(whose)
        self.whose = whose  # "person" | "school"


def to_attachment(r: Row) -> Attachment:
    return Attachment(
        id=str(r["id"]), school_id=str(r["school_id"]), author_id=str(r["author_id"]),
        name=str(r["name"]), kind=str(r["kind"]), mime=str(r["mime"]), size=int(r["size"]),
        sha256=str(r["sha256"]), state=str(r["state"]), created_ms=int(r["created_ms"]),
        width=None if r["width"] is None else int(r["width"]),
        height=None if r["height"] is None else int(r["height"]),
        has_thumbnail=bool(r["has_thumbnail"]),
        thumbnail_mime=None if r["thumbnail_mime"] is None else str(r["thumbnail_mime"]),
        room_id=None if r["room_id"] is None else str(r["room_id"]),
        seq=None if r["seq"] is None else int(r["seq"]),
        held_id=None if r["held_id"] is None else str(r["held_id"]),
        scheduled_id=None if r["scheduled_id"] is None else str(r["scheduled_id"]),
        document_id=None if r["document_id"] is None else str(r["document_id"]),
        scan_attempts=int(r["scan_attempts"]),
    )


# -- inside a post's transaction ----------------------------------------------


async def attach_to_post(
    tx: Transaction,
    ids: Sequence[str],
    author_id: str,
    now_ms: int,
    *,
    room_id: str,
    seq: int | None = None,
    held_id: str | None = None,
    scheduled_id: str | None = None,
) -> tuple[AttachmentRef, ...] | None:
    """Bind the author's uploads ``ids`` to a post (a message at ``seq``, or a
    held or scheduled one), in the post's transaction; None if one of them is
    not the author's (or no longer exists): nothing is bound.

    An upload not bound yet is bound in place; one already sent elsewhere is
    copied (a new row naming the same blob, one more reference): the same
    worksheet posted to five classes is one blob and five attachments, each
    readable where its own message is."""
    refs: list[AttachmentRef] = []
    for attachment_id in ids:
        row = await tx.fetchrow(
            f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1 AND author_id = $2",
            attachment_id, author_id,
        )
        if row is None:
            return None
        found = to_attachment(row)
        if found.bound:
            if found.room_id is not None and found.seq is not None and not await _message_live(
                tx, found.room_id, found.seq
            ):
                return None  # its message was deleted: so was the file, for everyone
            copy_id = "a_" + new_id()
            await tx.execute(
                "INSERT INTO attachments (id, school_id, author_id, name, kind, mime, size,"
                " sha256, width, height, thumbnail, thumbnail_mime, state, created_ms,"
                " scan_after_ms, scan_attempts)"
                " SELECT $2, school_id, author_id, name, kind, mime, size, sha256, width,"
                " height, thumbnail, thumbnail_mime, state, $3, scan_after_ms, scan_attempts"
                " FROM attachments WHERE id = $1",
                found.id, copy_id, now_ms,
            )
            await tx.execute("UPDATE blobs SET refs = refs + 1 WHERE sha256 = $1", found.sha256)
            attachment_id = copy_id
        await tx.execute(
            "UPDATE attachments SET room_id = $2, seq = $3, held_id = $4, scheduled_id = $5,"
            " bound_ms = $6 WHERE id = $1",
            attachment_id, room_id, seq, held_id, scheduled_id, now_ms,
        )
        refs.append(AttachmentRef(attachment_id, found.name, found.size, found.kind, found.mime,
                                  found.state, found.has_thumbnail, found.width, found.height))
    return tuple(refs)


async def attachment_names(
    tx: Transaction, ids: Sequence[str], author_id: str
) -> tuple[str, ...] | None:
    """The names of the author's uploads ``ids``, in order; None: one is not theirs."""
    names = []
    for attachment_id in ids:
        name = await tx.fetchval(
            "SELECT name FROM attachments WHERE id = $1 AND author_id = $2",
            attachment_id, author_id)
        if name is None:
            return None
        names.append(str(name))
    return tuple(names)


async def follow_post(
    tx: Transaction,
    room_id: str,
    *,
    seq: int | None = None,
    held_id: str | None = None,
    scheduled_id: str | None = None,
    from_held: str | None = None,
) -> tuple[AttachmentRef, ...]:
    """A held message was approved or a scheduled one delivered: its files
    follow it to ``seq`` (or, approved during quiet hours, to ``scheduled_id``);
    their refs, for the message's frames. ``from_held``: the held message an
    approval during quiet hours schedules."""
    if from_held is not None:
        await tx.execute(
            "UPDATE attachments SET scheduled_id = $2 WHERE held_id = $1", from_held, scheduled_id)
        return ()
    if held_id is not None:
        where, key = "held_id = $1", held_id
    else:
        assert scheduled_id is not None
        where, key = "scheduled_id = $1", scheduled_id
    await tx.execute(
        f"UPDATE attachments SET room_id = $2, seq = $3 WHERE {where}", key, room_id, seq)
    rows = await tx.fetch(
        f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE {where} ORDER BY bound_ms, id", key)
    return tuple(to_attachment(r).ref() for r in rows)


async def _message_live(tx: Transaction, room_id: str, seq: int) -> bool:
    row = await tx.fetchrow(
        "SELECT redacted_seq FROM messages WHERE room_id = $1 AND seq = $2 AND kind = 'message'",
        room_id, seq,
    )
    return row is not None and row["redacted_seq"] is None


# -- the store -------------------------------------------------------------------


class AttachmentStore(Protocol):
    """Attachments' rows and their blobs (see the module docstring)."""

    @property
    def blobs(self) -> BlobStore: ...

    async def stopped(self, school_id: str, profile: Profile, person_id: str) -> str | None:
        """``'school'``: the school's kill switch is on for ``profile``;
        ``'account'``: the person is paused; else None."""

    async def add(self, new: NewFile, source: Path, quota: Quota, now_ms: int) -> Attachment:
        """Record an upload and its blob's bytes (kept once per hash), in one
        transaction; ``QuotaExceeded`` (nothing written) when the author's or
        the school's files would pass ``quota``."""

    async def get(self, attachment_id: str) -> Attachment | None: ...

    async def thumbnail(self, attachment_id: str) -> bytes | None: ...

    async def message_live(self, room_id: str, seq: int) -> bool | None:
        """Whether the message is on the timeline (True), redacted (False) or
        gone (None)."""

    async def held_link(self, held_id: str) -> PostLink | None: ...

    async def scheduled_link(self, scheduled_id: str) -> PostLink | None: ...

    async def delete_unbound(self, attachment_id: str, author_id: str) -> bool:
        """Its author deletes an upload not sent yet; False: none such."""

    async def bind_document(
        self, ids: Sequence[str], author_id: str, document_id: str, now_ms: int
    ) -> list[Attachment] | None:
        """Attach the author's unbound uploads to a document (None: one is not theirs)."""

    async def of_document(self, document_id: str) -> list[Attachment]: ...

    async def of_message(self, room_id: str, seq: int) -> list[Attachment]: ...

    async def of_held(self, held_id: str) -> list[Attachment]: ...

    async def of_author(self, author_id: str) -> list[Attachment]:
        """Every file of a person, bound or not (their export)."""

    async def detach_document(self, attachment_id: str, document_id: str) -> bool: ...

    async def delete_of_document(self, tx: Transaction, document_id: str) -> int:
        """In the document's deletion (``SqlDocumentStore.delete_document``):
        its files, and the bytes of blobs no other row names."""

    async def claim_pending(self, now_ms: int, lease_ms: int, limit: int) -> list[Attachment]:
        """Pending files due for a scan, each claimed for ``lease_ms`` (moved
        forward in the same statement): one node scans each."""

    async def release(self, attachment_id: str) -> Attachment | None:
        """A pending file passed the scanner: ready, and its message's frames
        say so; None: it is gone."""

    async def delete(self, attachment_id: str) -> Attachment | None:
        """Delete one file (refused by a scan) with its entry in its message."""

    async def sweep(self, unbound_before_ms: int) -> int:
        """Delete uploads never sent before ``unbound_before_ms`` and files
        whose message (held, scheduled) is gone, or redacted and its original
        purged after the audit period; the number of rows deleted."""

    async def report_infected(
        self, school_id: str, author_id: str, details: dict[str, Any], now_ms: int
    ) -> None:
        """Tell the school's admins (the audit log) that a file was refused as infected."""

    async def pending_count(self) -> int:
        """Files waiting for the antivirus."""

    async def blob_refs(self, sha256: str) -> int:
        """How many rows name the blob (0: none, and no bytes are kept)."""

    async def usage(self, school_id: str, person_id: str) -> Quota: ...


class AttachmentSql:
    """``AttachmentStore`` on an engine and a blob store."""

    def __init__(self, engine: Engine, blobs: BlobStore) -> None:
        self._engine = engine
        self._blobs = blobs

    @property
    def blobs(self) -> BlobStore:
        return self._blobs

    async def stopped(self, school_id: str, profile: Profile, person_id: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            found = await tx.fetchval(
                "SELECT 'school' FROM messaging_suspensions WHERE school_id = $1 AND profile = $2"
                " UNION ALL SELECT 'account' FROM paused_accounts WHERE person_id = $3",
                school_id, profile.value, person_id,
            )
        return None if found is None else str(found)

    async def add(self, new: NewFile, source: Path, quota: Quota, now_ms: int) -> Attachment:
        async with self._engine.transaction() as tx:
            # The quotas are read and the file recorded as one step: the
            # school's lock makes its uploads record one at a time (on every
            # node; the person's files are all in their school), else two
            # racing uploads each see the room for one and both go in.
            # SQLite's write transaction excludes other writers already.
            await tx.lock(quota_lock(new.school_id))
            used = await self._usage(tx, new.school_id, new.author_id)
            if used.person_bytes + new.size > quota.person_bytes:
                raise QuotaExceeded("person")
            if used.school_bytes + new.size > quota.school_bytes:
                raise QuotaExceeded("school")
            await tx.lock(blob_lock(new.sha256))
            refs = await tx.fetchval(
                "UPDATE blobs SET refs = refs + 1 WHERE sha256 = $1 RETURNING refs", new.sha256)
            if refs is None:
                await self._blobs.put(tx, new.sha256, source)
                await tx.execute(
                    "INSERT INTO blobs (sha256, size, refs, stored_ms) VALUES ($1, $2, 1, $3)",
                    new.sha256, new.size, now_ms,
                )
            await tx.execute(
                "INSERT INTO attachments (id, school_id, author_id, name, kind, mime, size,"
                " sha256, width, height, thumbnail, thumbnail_mime, state, created_ms,"
                " scan_after_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
                " $13, $14, $15)",
                new.id, new.school_id, new.author_id, new.name, new.kind, new.mime, new.size,
                new.sha256, new.width, new.height, new.thumbnail, new.thumbnail_mime, new.state,
                now_ms, now_ms if new.state == "pending" else None,
            )
            row = await tx.fetchrow(
                f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1", new.id)
        assert row is not None
        return to_attachment(row)

    async def get(self, attachment_id: str) -> Attachment | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1", attachment_id)
        return None if row is None else to_attachment(row)

    async def thumbnail(self, attachment_id: str) -> bytes | None:
        async with self._engine.transaction(readonly=True) as tx:
            data = await tx.fetchval(
                "SELECT thumbnail FROM attachments WHERE id = $1", attachment_id)
        return None if data is None else bytes(data)

    async def message_live(self, room_id: str, seq: int) -> bool | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                "SELECT redacted_seq FROM messages WHERE room_id = $1 AND seq = $2"
                " AND kind = 'message'", room_id, seq,
            )
        return None if row is None else row["redacted_seq"] is None

    async def held_link(self, held_id: str) -> PostLink | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                "SELECT room_id, sender_id, seq, status FROM held_messages WHERE id = $1",
                held_id)
        return None if row is None else PostLink(
            str(row["room_id"]), str(row["sender_id"]),
            None if row["seq"] is None else int(row["seq"]), str(row["status"]))

    async def scheduled_link(self, scheduled_id: str) -> PostLink | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                "SELECT room_id, sender_id, seq FROM scheduled_messages WHERE id = $1",
                scheduled_id)
        if row is None:
            return None
        seq = None if row["seq"] is None else int(row["seq"])
        return PostLink(str(row["room_id"]), str(row["sender_id"]), seq,
                        "waiting" if seq is None else "posted")

    async def delete_unbound(self, attachment_id: str, author_id: str) -> bool:
        async with self._engine.transaction() as tx:
            n = await self._delete_where(
                tx, "id = $1 AND author_id = $2 AND bound_ms IS NULL", attachment_id, author_id)
        return n > 0

    async def bind_document(
        self, ids: Sequence[str], author_id: str, document_id: str, now_ms: int
    ) -> list[Attachment] | None:
        async with self._engine.transaction() as tx:
            for attachment_id in ids:
                changed = await tx.execute(
                    "UPDATE attachments SET document_id = $3, bound_ms = $4"
                    " WHERE id = $1 AND author_id = $2 AND bound_ms IS NULL",
                    attachment_id, author_id, document_id, now_ms,
                )
                if not changed:
                    await tx.rollback()
                    return None
            rows = await tx.fetch(
                f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE document_id = $1"
                " AND bound_ms = $2 AND author_id = $3", document_id, now_ms, author_id)
        return [to_attachment(r) for r in rows if r["id"] in ids]

    async def _list(self, where: str, *args: Any) -> list[Attachment]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE {where}"
                " ORDER BY created_ms, id", *args)
        return [to_attachment(r) for r in rows]

    async def of_document(self, document_id: str) -> list[Attachment]:
        return await self._list("document_id = $1", document_id)

    async def of_message(self, room_id: str, seq: int) -> list[Attachment]:
        return await self._list("room_id = $1 AND seq = $2", room_id, seq)

    async def of_held(self, held_id: str) -> list[Attachment]:
        return await self._list("held_id = $1", held_id)

    async def of_author(self, author_id: str) -> list[Attachment]:
        return await self._list("author_id = $1", author_id)

    async def detach_document(self, attachment_id: str, document_id: str) -> bool:
        async with self._engine.transaction() as tx:
            n = await self._delete_where(
                tx, "id = $1 AND document_id = $2", attachment_id, document_id)
        return n > 0

    async def delete_of_document(self, tx: Transaction, document_id: str) -> int:
        return await self._delete_where(tx, "document_id = $1", document_id)

    async def claim_pending(self, now_ms: int, lease_ms: int, limit: int) -> list[Attachment]:
        claimed = []
        async with self._engine.transaction() as tx:
            rows = await tx.fetch(
                "SELECT id, scan_after_ms FROM attachments WHERE state = 'pending'"
                f" AND scan_after_ms <= $1 ORDER BY scan_after_ms, id LIMIT {int(limit)}", now_ms)
            for r in rows:
                # Claimed by moving it forward, if nobody did meanwhile.
                row = await tx.fetchrow(
                    "UPDATE attachments SET scan_after_ms = $3, scan_attempts = scan_attempts + 1"
                    f" WHERE id = $1 AND scan_after_ms = $2 RETURNING {ATTACHMENT_COLUMNS}",
                    r["id"], r["scan_after_ms"], now_ms + lease_ms,
                )
                if row is not None:
                    claimed.append(to_attachment(row))
        return claimed

    async def release(self, attachment_id: str) -> Attachment | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE attachments SET state = 'ready', scan_after_ms = NULL WHERE id = $1"
                f" RETURNING {ATTACHMENT_COLUMNS}", attachment_id)
            if row is None:
                return None
            found = to_attachment(row)
            if found.room_id is not None and found.seq is not None:
                await self._rewrite_message(tx, found.room_id, found.seq, found.id, found.ref())
        return found

    async def delete(self, attachment_id: str) -> Attachment | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1", attachment_id)
            if row is None:
                return None
            found = to_attachment(row)
            if found.room_id is not None and found.seq is not None:
                await self._rewrite_message(tx, found.room_id, found.seq, found.id, None)
            await self._delete_where(tx, "id = $1", attachment_id)
        return found

    async def _rewrite_message(
        self, tx: Transaction, room_id: str, seq: int, attachment_id: str,
        ref: AttachmentRef | None,
    ) -> None:
        """Replace (``ref``) or drop (None) one file in its message's list."""
        raw = await tx.fetchval(
            "SELECT attachments FROM messages WHERE room_id = $1 AND seq = $2", room_id, seq)
        listed = attachments_of_row(raw)
        changed = [ref if a.id == attachment_id else a for a in listed]
        kept = tuple(a for a in changed if a is not None)
        await tx.execute(
            "UPDATE messages SET attachments = $3 WHERE room_id = $1 AND seq = $2",
            room_id, seq, attachments_json(kept),
        )

    async def sweep(self, unbound_before_ms: int) -> int:
        gone = 0
        async with self._engine.transaction() as tx:
            # Held or scheduled messages posted: their files follow them
            # (done by the post's transaction; this catches nothing else but
            # keeps a link that would otherwise end with the held row).
            # Uploads never sent: once old enough, or at once when their
            # author was erased (re-attributed to a pseudonym, no one's).
            gone += await self._delete_where(
                tx, "bound_ms IS NULL AND (created_ms < $1"
                " OR author_id NOT IN (SELECT id FROM people))", unbound_before_ms)
            gone += await self._delete_where(
                tx, "seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages m"
                " WHERE m.room_id = attachments.room_id AND m.seq = attachments.seq)")
            # Redacted: kept while the audit log keeps the original's text.
            gone += await self._delete_where(
                tx, "seq IS NOT NULL AND EXISTS (SELECT 1 FROM messages m"
                " WHERE m.room_id = attachments.room_id AND m.seq = attachments.seq"
                " AND m.redacted_seq IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM"
                " redacted_messages r WHERE r.room_id = attachments.room_id"
                " AND r.seq = attachments.seq)")
            gone += await self._delete_where(
                tx, "seq IS NULL AND scheduled_id IS NULL AND held_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM held_messages h WHERE h.id = attachments.held_id)")
            gone += await self._delete_where(
                tx, "seq IS NULL AND scheduled_id IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM scheduled_messages s WHERE s.id = attachments.scheduled_id)")
            gone += await self._delete_where(
                tx, "document_id IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM documents d WHERE d.id = attachments.document_id)")
        return gone

    async def _delete_where(self, tx: Transaction, where: str, *args: Any) -> int:
        """Delete the rows matching ``where`` and drop one reference of each
        one's blob, forgetting the bytes of those left with none."""
        rows = await tx.fetch(f"SELECT id, sha256 FROM attachments WHERE {where}", *args)
        if not rows:
            return 0
        await tx.executemany("DELETE FROM attachments WHERE id = $1", [(r["id"],) for r in rows])
        counts: dict[str, int] = {}
        for r in rows:
            counts[str(r["sha256"])] = counts.get(str(r["sha256"]), 0) + 1
        for sha256 in sorted(counts):  # one order for every node's locks: no deadlock
            await tx.lock(blob_lock(sha256))
            left = await tx.fetchval(
                "UPDATE blobs SET refs = refs - $2 WHERE sha256 = $1 RETURNING refs",
                sha256, counts[sha256])
            if left is not None and int(left) <= 0:
                await tx.execute("DELETE FROM blobs WHERE sha256 = $1", sha256)
                await self._blobs.remove(tx, sha256)
        return len(rows)

    async def report_infected(
        self, school_id: str, author_id: str, details: dict[str, Any], now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            await audit(tx, school_id, None, author_id, AuditAction.ATTACHMENT_INFECTED, now_ms,
                        target_person_id=author_id, details=details)

    async def pending_count(self) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            return int(await tx.fetchval(
                "SELECT COUNT(*) FROM attachments WHERE state = 'pending'"))

    async def blob_refs(self, sha256: str) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            refs = await tx.fetchval("SELECT refs FROM blobs WHERE sha256 = $1", sha256)
        return 0 if refs is None else int(refs)

    async def usage(self, school_id: str, person_id: str) -> Quota:
        async with self._engine.transaction(readonly=True) as tx:
            return await self._usage(tx, school_id, person_id)

    @staticmethod
    async def _usage(tx: Transaction, school_id: str, person_id: str) -> Quota:
        person = await tx.fetchval(
            "SELECT COALESCE(SUM(size), 0) FROM attachments WHERE author_id = $1", person_id)
        school = await tx.fetchval(
            "SELECT COALESCE(SUM(size), 0) FROM attachments WHERE school_id = $1", school_id)
        return Quota(int(person), int(school))
