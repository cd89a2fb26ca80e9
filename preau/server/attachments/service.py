"""Attachments: upload, rights on every read, scans retried, files swept.

Upload: the body is streamed to a temporary file under the data directory
(never held whole in memory), checked against the size announced, then the
content checks run (``ContentChecks``: the type from the bytes, images
re-encoded without metadata, the antivirus; preau/server/attachments/checks.py
wires attach-checks' ``inspect_upload``), and the file is recorded with its
blob in one transaction under the quotas (preau/server/store/attachments.py).

Rights: a file is read by whoever may read what it is bound to, checked on
every download from the store and the directory as they are now, never from
a URL or a cache: a message's room (``ChatService.open_room``: the circle of
trust, removals) and the message itself (redacted: nobody), a held message
(its author and the room's moderators; rejected: nobody), a scheduled one
(its author and the moderators until it is posted), a document (its rights).
Out of reach answers ``not_found``, exactly as an unknown id.

Nobody gets the bytes of a file the scanner has not passed (``pending``):
the retry loop (``rescan_loop``) claims them one node each and releases or
deletes them, telling whoever sees them (``attachment.state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from preau.server.chat.service import MAX_ATTACHMENTS, ChatService
from preau.server.clock import Clock
from preau.server.directory.model import Member
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, bad_request, not_found
from preau.server.live.channels import Audience
from preau.server.live.events import encode
from preau.server.live.hub import Hub
from preau.server.log_records import RetryLog
from preau.server.moderation.rules import RoomRole
from preau.server.ratelimit import RateLimiter
from preau.server.settings import Settings
from preau.server.stale_files import remove_stale
from preau.server.store.attachments import (
    Attachment,
    AttachmentStore,
    NewFile,
    PostLink,
    Quota,
    QuotaExceeded,
)

log = logging.getLogger(__name__)

MAX_PER_MESSAGE = MAX_ATTACHMENTS
_WRITE_CHUNK = 256 * 1024
# Left on disk by a node killed mid-upload: removed once nothing was written
# there for this long (an upload in progress writes every few seconds).
STALE_UPLOAD_S = 3600


@dataclass(frozen=True, slots=True)
class Checked:
    """What the content checks made of an upload (``Inspected``, trimmed)."""

    kind: str
    mime: str
    content_path: Path  # the bytes to keep (an image re-encoded without metadata)
    size: int
    sha256: str
    thumbnail: bytes | None
    thumbnail_mime: str | None
    width: int | None
    height: int | None
    pending: bool  # no scanner answered: nobody gets the bytes until one does
    name: str  # the name as shown (safe_name)


class Refused(Exception):
    """The content checks refused a file: ``code`` is an ``attachment.*`` code."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


ScanOutcome = Literal["clean", "infected", "unavailable"]


class ContentChecks(Protocol):
    """The content checks (preau/server/attachments/checks.py)."""

    async def check(
        self, path: Path, *, name: str, declared_type: str | None, kinds: frozenset[str]
    ) -> Checked:
        """Check an upload; raise ``Refused``. Runs its CPU work off the event loop."""

    async def rescan(self, path: Path) -> tuple[ScanOutcome, str]:
        """Scan a pending file again: the outcome and the signature or reason."""

    async def scanner_up(self) -> bool | None:
        """Whether the antivirus answers now (None: none is configured)."""


def _room_error(exc: PreauError) -> bool:
    return exc.code in (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN)


class AttachmentService:
    def __init__(
        self,
        store: AttachmentStore,
        chat: ChatService,
        hub: Hub,
        settings: Settings,
        clock: Clock,
        checks: ContentChecks | None,
        document_access: Callable[[str, str], Awaitable[int]] | None = None,
        directory: Directory | None = None,
        uploads: RateLimiter | None = None,
    ) -> None:
        """``checks`` None: uploads are refused (``unavailable``) — nothing is
        ever stored unchecked. ``document_access(person, document)``: their
        rights on a document (0 none, 1 read, 2 write; preau/collab/ports.py)."""
        self.store = store
        self._chat = chat
        self._hub = hub
        self._settings = settings
        self._clock = clock
        self._checks = checks
        self.document_access = document_access
        # (member, report, room, seq, file): may member read the file of that
        # message to review that report? (ModerationService.may_review)
        self.review: Callable[[Member, str, str, int, str], Awaitable[bool]] | None = None
        self._directory = directory
        self._uploads_rate = uploads
        self._uploads = settings.data_dir / "uploads"
        self._inspecting = asyncio.Semaphore(max(1, os.cpu_count() or 1))

    # -- upload -------------------------------------------------------------------

    async def upload(
        self,
        member: Member,
        name: str,
        declared_type: str | None,
        length: int | None,
        body: AsyncIterator[bytes],
    ) -> Attachment:
        """Store an upload of ``length`` bytes streamed from ``body``: checked,
        then recorded unbound (its author only sees it until it is sent)."""
        limit = self._settings.attachment_max_bytes
        if length is None:
            raise PreauError(ErrorCode.ATTACHMENT_LENGTH_REQUIRED, "Content-Length is required")
        if length > limit:
            raise PreauError(ErrorCode.ATTACHMENT_TOO_LARGE, f"a file has at most {limit} bytes")
        if not 1 <= len(name) <= 1000:
            raise PreauError(ErrorCode.ATTACHMENT_NAME_INVALID, "a file needs a name")
        stopped = await self.store.stopped(member.school_id, member.profile, member.id)
        if stopped:
            raise PreauError(ErrorCode.SUSPENDED,
                             "messaging is suspended in this school for now" if stopped == "school"
                             else "your account is paused: the school's administrators were "
                             "alerted")
        if self._uploads_rate is not None:
            wait = await self._uploads_rate.take(member.id)
            if wait is not None:
                raise PreauError(ErrorCode.RATE_LIMITED, "too many files at once, wait",
                                 retry_after=wait)
        quota = self._quota()
        used = await self.store.usage(member.school_id, member.id)
        self._check_quota(used, quota, length)
        if self._checks is None:
            raise PreauError(ErrorCode.UNAVAILABLE, "file uploads are not available here")
        self._uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = Path(tempfile.mkdtemp(dir=self._uploads))
        try:
            path = folder / "upload"
            await self._receive(path, length, body)
            try:
                # One file checked per core at a time, first come first
                # served: a class uploading at once gets its first photos
                # through first (rather than all of them at the end of a
                # shared queue), and only that many decoded images in memory.
                async with self._inspecting:
                    checked = await self._checks.check(
                        path, name=name, declared_type=declared_type,
                        kinds=await self.kinds_of(member.school_id))
            except Refused as refused:
                if refused.code is ErrorCode.ATTACHMENT_INFECTED:
                    await self.store.report_infected(
                        member.school_id, member.id,
                        {"name": name[:255], "signature": refused.detail[:200]},
                        self._clock.now_ms())
                message = ("the antivirus found a virus in this file"
                           if refused.code is ErrorCode.ATTACHMENT_INFECTED else refused.detail)
                raise PreauError(refused.code, message) from None
            new = NewFile(
                "a_" + secrets.token_urlsafe(12), member.school_id, member.id, checked.name,
                checked.kind, checked.mime, checked.size, checked.sha256,
                "pending" if checked.pending else "ready", checked.width, checked.height,
                checked.thumbnail, checked.thumbnail_mime,
            )
            try:
                return await self.store.add(new, checked.content_path, quota,
                                            self._clock.now_ms())
            except QuotaExceeded as exc:
                raise self._quota_error(exc.whose) from None
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _receive(self, path: Path, length: int, body: AsyncIterator[bytes]) -> None:
        """Write the body to ``path`` chunk by chunk: more bytes than announced
        are refused as they come, fewer (the client went away) too."""
        seen = 0
        f = await asyncio.to_thread(path.open, "wb")
        try:
            pending = bytearray()
            async for chunk in body:
                seen += len(chunk)
                if seen > length:
                    raise PreauError(ErrorCode.ATTACHMENT_TOO_LARGE,
                                     "more bytes than Content-Length announced")
                pending += chunk
                if len(pending) >= _WRITE_CHUNK:
                    await asyncio.to_thread(f.write, bytes(pending))
                    pending.clear()
            if pending:
                await asyncio.to_thread(f.write, bytes(pending))
        finally:
            f.close()
        if seen < length:
            raise PreauError(ErrorCode.ATTACHMENT_TRUNCATED,
                             f"the upload ended after {seen} of {length} bytes")

    async def kinds_of(self, school_id: str) -> frozenset[str]:
        """The kinds of files a school accepts: its own choice within the
        deployment's (PREAU_ATTACHMENT_KINDS), or the deployment's."""
        view = None if self._directory is None else await self._directory.school(school_id)
        chosen = None if view is None else view.school.attachment_kinds
        allowed = self._settings.attachment_kinds
        return allowed if chosen is None else allowed & chosen

    def _quota(self) -> Quota:
        return Quota(self._settings.attachment_person_quota_bytes,
                     self._settings.attachment_school_quota_bytes)

    def _check_quota(self, used: Quota, quota: Quota, size: int) -> None:
        if used.person_bytes + size > quota.person_bytes:
            raise self._quota_error("person")
        if used.school_bytes + size > quota.school_bytes:
            raise self._quota_error("school")

    @staticmethod
    def _quota_error(whose: str) -> PreauError:
        return PreauError(ErrorCode.ATTACHMENT_QUOTA,
                          "your files take all the space you have: delete some first"
                          if whose == "person" else "the school's space for files is full")

    async def delete(self, member: Member, attachment_id: str) -> None:
        """Its author deletes an upload not sent yet (a sent one goes with its message)."""
        if not await self.store.delete_unbound(attachment_id, member.id):
            raise not_found("no such attachment")

    async def sent_names(self, member: Member, ids: list[str]) -> tuple[str, ...]:
        """The names of uploads ``member`` sends with a message (for the word
        filter), checking the count; ``not_found`` for one that is not theirs."""
        if len(ids) > MAX_PER_MESSAGE:
            raise bad_request(f"at most {MAX_PER_MESSAGE} attachments per message")
        if len(set(ids)) != len(ids):
            raise bad_request("an attachment is listed twice")
        names = []
        for attachment_id in ids:
            found = await self.store.get(attachment_id)
            if found is None or found.author_id != member.id:
                raise not_found("no such attachment")
            names.append(found.name)
        return tuple(names)

    # -- reading --------------------------------------------------------------------

    async def readable(
        self, member: Member, attachment_id: str, report: str | None = None
    ) -> Attachment:
        """The file, if ``member`` may read it now; ``not_found`` otherwise,
        exactly as for an unknown id (see the module docstring). With
        ``report``: also if the file belongs to the message that report is
        about, still in the room, and ``member`` reviews it (``review``:
        the report open, ``member`` among those who may resolve it; journaled)."""
        found = await self.store.get(attachment_id)
        if found is None or not (await self._may_read(member, found) or (
                report is not None and await self._reviewing(member, found, report))):
            raise not_found("no such attachment")
        return found

    async def _reviewing(self, member: Member, a: Attachment, report: str) -> bool:
        if self.review is None or a.document_id is not None:
            return False
        if a.room_id is not None and a.seq is not None:
            room_id, seq = a.room_id, a.seq
        else:
            link = (await self.store.held_link(a.held_id) if a.held_id is not None
                    else await self.store.scheduled_link(a.scheduled_id)
                    if a.scheduled_id is not None else None)
            if link is None or link.seq is None or link.status == "rejected":
                return False
            room_id, seq = link.room_id, link.seq
        if not await self.store.message_live(room_id, seq):
            return False  # deleted or recalled: out of everyone's reach, as its text
        return await self.review(member, report, room_id, seq, a.id)

    async def _may_read(self, member: Member, a: Attachment) -> bool:
        if not a.bound:
            return a.author_id == member.id
        if a.document_id is not None:
            if self.document_access is None:
                return False
            return await self.document_access(member.id, a.document_id) > 0
        if a.room_id is not None and a.seq is not None:
            return await self._message_readable(member, a.room_id, a.seq)
        link: PostLink | None
        if a.scheduled_id is not None:
            link = await self.store.scheduled_link(a.scheduled_id)
        elif a.held_id is not None:
            link = await self.store.held_link(a.held_id)
        else:
            return False
        if link is None or link.status == "rejected":
            return False
        if link.seq is not None:
            return await self._message_readable(member, link.room_id, link.seq)
        # Waiting (held, or for quiet hours to end): its author and the moderators.
        role = await self._role(member, link.room_id)
        return role is RoomRole.MODERATOR or (
            role is not None and member.id == link.sender_id)

    async def _message_readable(self, member: Member, room_id: str, seq: int) -> bool:
        if not await self.store.message_live(room_id, seq):
            return False  # redacted (a moderator's or its author's deletion), or purged
        return await self._role(member, room_id) is not None

    async def _role(self, member: Member, room_id: str) -> RoomRole | None:
        try:
            access = await self._chat.open_room(member, room_id)
        except PreauError as exc:
            if _room_error(exc):
                return None
            raise
        return access.role

    async def download(
        self, member: Member, attachment_id: str, report: str | None = None
    ) -> Attachment:
        """``readable``, and scanned: ``attachment.pending`` until then, for everyone."""
        found = await self.readable(member, attachment_id, report)
        if found.state != "ready":
            raise PreauError(ErrorCode.ATTACHMENT_PENDING,
                             "this file is waiting for the antivirus: try again later")
        return found

    async def thumbnail(
        self, member: Member, attachment_id: str, report: str | None = None
    ) -> tuple[bytes, str]:
        found = await self.download(member, attachment_id, report)
        data = await self.store.thumbnail(found.id) if found.has_thumbnail else None
        if data is None:
            raise not_found("this file has no thumbnail")
        return data, found.thumbnail_mime or "image/jpeg"

    def read(self, found: Attachment, start: int = 0, end: int | None = None
             ) -> AsyncIterator[bytes]:
        return self.store.blobs.read(found.sha256, start, end)

    # -- documents ------------------------------------------------------------------

    async def attach_to_document(
        self, member: Member, document_id: str, ids: list[str]
    ) -> list[Attachment]:
        """Attach the member's uploads to a document they may edit."""
        if not 1 <= len(ids) <= MAX_PER_MESSAGE:
            raise bad_request(f"1 to {MAX_PER_MESSAGE} attachments at a time")
        rights = 0 if self.document_access is None else await self.document_access(
            member.id, document_id)
        if rights == 0:
            raise not_found("no such document")
        if rights < 2:
            raise PreauError(ErrorCode.FORBIDDEN, "you may only read this document")
        bound = await self.store.bind_document(ids, member.id, document_id,
                                               self._clock.now_ms())
        if bound is None:
            raise not_found("no such attachment")
        return bound

    async def of_document(self, member: Member, document_id: str) -> list[Attachment]:
        rights = 0 if self.document_access is None else await self.document_access(
            member.id, document_id)
        if rights == 0:
            raise not_found("no such document")
        return await self.store.of_document(document_id)

    async def detach_from_document(
        self, member: Member, document_id: str, attachment_id: str
    ) -> None:
        rights = 0 if self.document_access is None else await self.document_access(
            member.id, document_id)
        if rights == 0:
            raise not_found("no such document")
        if rights < 2:
            raise PreauError(ErrorCode.FORBIDDEN, "you may only read this document")
        if not await self.store.detach_document(attachment_id, document_id):
            raise not_found("no such attachment")

    # -- background work ------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete uploads never sent and files whose message is gone (see
        ``AttachmentStore.sweep``), and what a node killed mid-upload left
        on disk; idempotent, safe on several nodes at once."""
        unbound_s = self._settings.attachment_unbound_s
        before = self._clock.now_ms() - unbound_s * 1000
        gone = await self.store.sweep(before)
        # Partial bodies (a crash in the middle of an upload or a copy): no row
        # names them, so nothing else would ever delete them.
        stale_s = time.time() - max(unbound_s, STALE_UPLOAD_S)
        await asyncio.to_thread(remove_stale, self._uploads, stale_s)
        await self.store.blobs.forget_stale(stale_s)
        return gone

    async def rescan_pending(self, limit: int = 20) -> int:
        """Scan again the pending files due, each claimed by this node only;
        the number decided (released or refused)."""
        if self._checks is None:
            return 0
        every_ms = int(self._settings.attachment_rescan_s * 1000)
        decided = 0
        for found in await self.store.claim_pending(self._clock.now_ms(), every_ms, limit):
            self._uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder = Path(tempfile.mkdtemp(dir=self._uploads))
            try:
                path = folder / "rescan"
                with path.open("wb") as f:
                    async for chunk in self.store.blobs.read(found.sha256):
                        await asyncio.to_thread(f.write, chunk)
                outcome, detail = await self._checks.rescan(path)
            finally:
                await asyncio.to_thread(shutil.rmtree, folder, True)
            if outcome == "clean":
                released = await self.store.release(found.id)
                if released is not None:
                    await self._tell_state(released, "ready")
                    decided += 1
            elif outcome == "infected":
                gone = await self.store.delete(found.id)
                if gone is not None:
                    await self.store.report_infected(
                        found.school_id, found.author_id,
                        {"name": found.name, "signature": detail[:200]}, self._clock.now_ms())
                    await self._tell_state(gone, "refused")
                    decided += 1
        return decided

    async def _tell_state(self, found: Attachment, state: str) -> None:
        """``attachment.state`` to whoever sees the file: its message's room,
        a held or scheduled message's author and moderators, its author."""
        frame = encode({"ev": "attachment.state", "id": found.id, "state": state})
        if found.room_id is not None and found.seq is not None:
            await self._hub.publish_ephemeral(found.room_id, frame)
        elif found.room_id is not None:
            await self._hub.publish_to(
                found.room_id, frame, Audience(frozenset({found.author_id}), moderators=True))
        else:
            await self._hub.tell_people([found.author_id], frame)

    async def run(self) -> None:
        """The background loop: pending scans retried, files swept, on every
        node (each pending file is claimed by one; the sweep is idempotent)."""
        retries = RetryLog(log, "attachments (scans, sweep)")
        every = self._settings.attachment_rescan_s
        while True:
            try:
                await self.rescan_pending()
                await self.sweep()
                retries.succeeded()
            except Exception as exc:
                retries.failed(exc)
            await asyncio.sleep(every)

    async def status(self) -> dict[str, object]:
        """For operators (``/api/health``): is the antivirus answering, how
        many files wait for it."""
        scanner = None if self._checks is None else await self._checks.scanner_up()
        return {"scanner": "none" if scanner is None else "up" if scanner else "down",
                "pending": await self.store.pending_count()}

    async def close(self) -> None:
        if self._uploads_rate is not None:
            await self._uploads_rate.close()
        with contextlib.suppress(Exception):
            await self.store.blobs.close()
