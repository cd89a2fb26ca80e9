"""The attachment store (preau/server/store/attachments.py) with both blob
stores (files, the database), on SQLite and on PostgreSQL: one blob per
content, deleted exactly with its last reference; quotas; a post and its
files committed together (held, approved, copied to a second room); pending
files claimed by one node; the sweep after deletion, redaction and retention."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from preau.server.blobs import BlobMissing, BlobStore
from preau.server.blobs.database import DatabaseBlobStore
from preau.server.blobs.files import FileBlobStore
from preau.server.chat.posting import post_message
from preau.server.errors import ErrorCode
from preau.server.moderation.rules import Premoderation
from preau.server.store import Author, PostOptions, Store
from preau.server.store.attachments import (
    AttachmentSql,
    NewFile,
    Quota,
    QuotaExceeded,
)
from preau.server.store.privacy import PrivacyStore
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures

ROOMY = Quota(10**9, 10**10)


@pytest.fixture(params=["files", "database"])
def blobs(request: pytest.FixtureRequest, store: Store, tmp_path: Path) -> BlobStore:
    if request.param == "files":
        return FileBlobStore(tmp_path / "blobs")
    return DatabaseBlobStore(store.engine)


def upload(tmp_path: Path, content: bytes, name: str = "file") -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def new_file(room: Room, author: Author, sha256: str, size: int, attachment_id: str,
             state: str = "ready") -> NewFile:
    return NewFile(attachment_id, room.school, author.id, f"{attachment_id}.pdf", "document",
                   "application/pdf", size, sha256, state, None, None, None, None)


async def read_all(blobs: BlobStore, sha256: str, start: int = 0, end: int | None = None
                   ) -> bytes:
    return b"".join([chunk async for chunk in blobs.read(sha256, start, end)])


async def test_one_blob_per_content_deleted_with_its_last_reference(
    room: Room, blobs: BlobStore, tmp_path: Path
) -> None:
    files = AttachmentSql(room.store.engine, blobs)
    content = b"%PDF-1.4 worksheet " * 100_000  # ~1.9 MB: two chunks
    path, sha = upload(tmp_path, content)
    first = await files.add(new_file(room, room.claire, sha, len(content), "a1"), path, ROOMY,
                            NOW)
    await files.add(new_file(room, room.lea, sha, len(content), "a2"), path, ROOMY, NOW)
    assert (first.id, first.bound, first.state) == ("a1", False, "ready")
    assert await files.blob_refs(sha) == 2
    assert await read_all(blobs, sha) == content
    # Ranges across the chunk boundary.
    assert await read_all(blobs, sha, 1024 * 1024 - 3, 1024 * 1024 + 5) == content[
        1024 * 1024 - 3:1024 * 1024 + 5]
    assert await read_all(blobs, sha, len(content) - 4) == content[-4:]
    # Only the author deletes an unsent upload; the bytes stay for the other.
    assert not await files.delete_unbound("a1", room.lea.id)
    assert await files.delete_unbound("a1", room.claire.id)
    assert await files.get("a1") is None
    assert await files.blob_refs(sha) == 1
    assert await read_all(blobs, sha, 0, 10) == content[:10]
    assert await files.delete_unbound("a2", room.lea.id)
    assert await files.blob_refs(sha) == 0
    with pytest.raises(BlobMissing):
        await read_all(blobs, sha)
    if isinstance(blobs, FileBlobStore):
        assert not blobs.path(sha).exists()


async def test_quotas_refuse_and_write_nothing(
    room: Room, blobs: BlobStore, tmp_path: Path
) -> None:
    files = AttachmentSql(room.store.engine, blobs)
    path, sha = upload(tmp_path, b"x" * 1000)
    await files.add(new_file(room, room.lea, sha, 1000, "a1"), path, Quota(1500, 10**6), NOW)
    other, other_sha = upload(tmp_path, b"y" * 1000, "other")
    with pytest.raises(QuotaExceeded) as person:
        await files.add(new_file(room, room.lea, other_sha, 1000, "a2"), other,
                        Quota(1500, 10**6), NOW)
    assert person.value.whose == "person"
    with pytest.raises(QuotaExceeded) as school:
        await files.add(new_file(room, room.hugo, other_sha, 1000, "a3"), other,
                        Quota(1500, 1500), NOW)
    assert school.value.whose == "school"
    assert await files.get("a2") is None
    assert await files.get("a3") is None
    assert await files.blob_refs(other_sha) == 0
    assert await files.usage(room.school, room.lea.id) == Quota(1000, 1000)


async def test_concurrent_uploads_never_pass_the_quota(
    room: Room, blobs: BlobStore, tmp_path: Path, other_node: Store
) -> None:
    """Uploads of one person, and of one school, racing on two nodes: the
    quota is checked and the file recorded as one step (each school's
    uploads are recorded one at a time), so exactly what fits is stored."""
    nodes = [AttachmentSql(room.store.engine, blobs), AttachmentSql(other_node.engine, blobs)]

    async def race(authors: list[Author], quota: Quota, prefix: str) -> list[str]:
        async def one(n: int) -> str | None:
            path, sha = upload(tmp_path, f"{prefix}{n:02d}".encode() * 100, f"{prefix}{n}")
            size = path.stat().st_size
            try:
                await nodes[n % 2].add(new_file(room, authors[n % len(authors)], sha, size,
                                                f"{prefix}{n}"), path, quota, NOW)
            except QuotaExceeded:
                return None
            return f"{prefix}{n}"
        done = await asyncio.gather(*(one(n) for n in range(12)))
        return [d for d in done if d is not None]

    # Lea's own quota: room for three files of 300 bytes.
    stored = await race([room.lea], Quota(900, 10**6), "p")
    assert len(stored) == 3, stored
    assert (await nodes[0].usage(room.school, room.lea.id)).person_bytes == 900
    # The school's: Hugo and Claire upload at once, room for two more.
    stored = await race([room.hugo, room.claire], Quota(10**6, 1500), "s")
    assert len(stored) == 2, stored
    assert (await nodes[1].usage(room.school, room.hugo.id)).school_bytes == 1500


async def test_a_post_and_its_files_commit_together(
    room: Room, blobs: BlobStore, tmp_path: Path, other_node: Store
) -> None:
    files = AttachmentSql(room.store.engine, blobs)
    path, sha = upload(tmp_path, b"%PDF worksheet")
    await files.add(new_file(room, room.claire, sha, 14, "a1"), path, ROOMY, NOW)
    await files.add(new_file(room, room.lea, sha, 14, "lea1"), path, ROOMY, NOW)

    async def post(author: Author, txn: str, ids: tuple[str, ...], body: str = "") -> object:
        return await post_message(room.store, room.id, author, txn, body, f"m-{txn}",
                                  f"h-{txn}", NOW, PostOptions(attachments=ids))

    # Someone else's upload: refused as unknown, nothing posted or bound.
    refused = await post(room.claire, "t0", ("lea1",))
    assert refused.refusal is not None  # type: ignore[attr-defined]
    assert refused.refusal.code is ErrorCode.NOT_FOUND  # type: ignore[attr-defined]
    assert await room.store.room_head(room.id) == 0
    assert not (await files.get("lea1")).bound  # type: ignore[union-attr]

    posted = await post(room.claire, "t1", ("a1",), "Pour demain")
    message = posted.message  # type: ignore[attr-defined]
    assert [a.id for a in message.attachments] == ["a1"]
    bound = await files.get("a1")
    assert bound is not None
    assert (bound.room_id, bound.seq) == (room.id, message.seq)
    # Every node's history and replay carry them, as frames show them.
    [stored] = await other_node.messages_after(room.id, 0, 10)
    assert stored.attachments == message.attachments
    assert stored.attachments[0].to_wire() == {
        "id": "a1", "name": "a1.pdf", "size": 14, "kind": "document",
        "mime": "application/pdf", "state": "ready", "thumbnail": False}
    # A retry of the txn: the first post, nothing bound twice.
    again = await post(room.claire, "t1", ("a1",))
    assert again.message == message  # type: ignore[attr-defined]
    # The same upload sent again: a copy (one more reference, same bytes).
    copied = await post(room.claire, "t2", ("a1",))
    copy_id = copied.message.attachments[0].id  # type: ignore[attr-defined]
    assert copy_id != "a1"
    assert await files.blob_refs(sha) == 3  # a1, its copy, Léa's own upload


async def test_held_files_wait_with_their_message(
    room: Room, blobs: BlobStore, tmp_path: Path
) -> None:
    files = AttachmentSql(room.store.engine, blobs)
    await room.policy(premoderation=Premoderation.PUPILS)
    path, sha = upload(tmp_path, b"photo bytes")
    await files.add(new_file(room, room.lea, sha, 11, "a1"), path, ROOMY, NOW)
    await files.add(new_file(room, room.lea, sha, 11, "a2"), path, ROOMY, NOW)
    held = await post_message(room.store, room.id, room.lea, "t1", "", "m1", "h1", NOW,
                              PostOptions(attachments=("a1",)))
    assert held.held is not None
    waiting = await files.get("a1")
    assert waiting is not None
    assert (waiting.held_id, waiting.seq) == ("h1", None)
    assert [a.id for a in await files.of_held("h1")] == ["a1"]
    link = await files.held_link("h1")
    assert link is not None
    assert (link.status, link.sender_id) == ("pending", room.lea.id)
    decided = await room.store.decide_held(room.id, "h1", room.claire.id, True, None, "m-ok",
                                           NOW)
    assert decided.message is not None
    assert [a.id for a in decided.message.attachments] == ["a1"]
    out = await files.get("a1")
    assert out is not None
    assert (out.room_id, out.seq) == (room.id, decided.message.seq)
    # A rejected one's files are nobody's.
    await post_message(room.store, room.id, room.lea, "t2", "", "m2", "h2", NOW,
                       PostOptions(attachments=("a2",)))
    await room.store.decide_held(room.id, "h2", room.claire.id, False, "non", "m-no", NOW)
    link = await files.held_link("h2")
    assert link is not None
    assert link.status == "rejected"


async def test_pending_files_are_claimed_by_one_node_and_released(
    room: Room, blobs: BlobStore, tmp_path: Path, other_node: Store
) -> None:
    files = AttachmentSql(room.store.engine, blobs)
    elsewhere = AttachmentSql(other_node.engine, blobs)
    path, sha = upload(tmp_path, b"unscanned")
    for n in range(4):
        await files.add(new_file(room, room.claire, sha, 9, f"p{n}", state="pending"), path,
                        ROOMY, NOW)
    await post_message(room.store, room.id, room.claire, "t1", "", "m1", "h1", NOW,
                       PostOptions(attachments=("p0",)))
    first, second = await asyncio.gather(
        files.claim_pending(NOW + 1, 60_000, 10), elsewhere.claim_pending(NOW + 1, 60_000, 10))
    claimed = [a.id for a in first] + [a.id for a in second]
    assert sorted(claimed) == ["p0", "p1", "p2", "p3"]  # each once
    assert await files.claim_pending(NOW + 2, 60_000, 10) == []  # leased
    assert sorted(a.id for a in await files.claim_pending(NOW + 60_001, 60_000, 10)) == [
        "p0", "p1", "p2", "p3"]  # the lease ended: tried again
    released = await files.release("p0")
    assert released is not None
    assert released.state == "ready"
    [message] = await room.store.messages_after(room.id, 0, 10)
    assert message.attachments[0].state == "ready"
    gone = await files.delete("p1")
    assert gone is not None
    assert await files.get("p1") is None
    assert await files.blob_refs(sha) == 3


async def test_the_sweep_follows_deletions(
    room: Room, blobs: BlobStore, tmp_path: Path
) -> None:
    files = AttachmentSql(room.store.engine, blobs)
    path, sha = upload(tmp_path, b"class outing photo")
    other, other_sha = upload(tmp_path, b"old worksheet", "old")
    await files.add(new_file(room, room.claire, sha, 18, "kept"), path, ROOMY, NOW)
    await files.add(new_file(room, room.claire, sha, 18, "redacted"), path, ROOMY, NOW)
    await files.add(new_file(room, room.claire, other_sha, 13, "old"), other, ROOMY, NOW - 10)
    await files.add(new_file(room, room.lea, sha, 18, "never-sent"), path, ROOMY, NOW)
    for txn, ids, at in (("t1", ("kept",), NOW), ("t2", ("redacted",), NOW),
                         ("t3", ("old",), NOW - 10)):
        await post_message(room.store, room.id, room.claire, txn, "", f"m-{txn}", f"h-{txn}",
                           at, PostOptions(attachments=ids))
    # A moderator deletes a message: nobody reads its files at once...
    redacted = await room.store.redact_message(room.id, 2, room.claire.id, True, "non", "r1",
                                               NOW)
    assert redacted.created
    assert await files.message_live(room.id, 2) is False
    [_, shown, _, _] = await room.store.messages_after(room.id, 0, 10)
    assert shown.redacted
    assert shown.attachments == ()
    # ...and the sweep keeps them while the audit log keeps the text.
    assert await files.sweep(NOW - 1) == 0
    assert await files.get("redacted") is not None
    # Uploads never sent go after their hour.
    assert await files.sweep(NOW + 1) == 1
    assert await files.get("never-sent") is None
    # The audit period ends: the original goes, the file with it.
    assert await room.store.purge_moderation_records(NOW + 1) > 0
    assert await files.sweep(NOW + 1) == 1
    assert await files.get("redacted") is None
    assert await files.blob_refs(sha) == 1  # "kept"
    # Retention deletes the old message: its file and its blob follow.
    assert await PrivacyStore(room.store.engine).purge_messages(NOW - 5) >= 1
    assert await files.sweep(NOW + 1) == 1
    assert await files.get("old") is None
    assert await files.blob_refs(other_sha) == 0
    with pytest.raises(BlobMissing):
        await read_all(blobs, other_sha)
    assert (await files.get("kept")) is not None
    assert await read_all(blobs, sha) == b"class outing photo"
