"""The data-protection business layer: authorise, journal, then act.

Used by the REST handlers (preau/server/http/privacy_api.py) and the CLI
(``preau export``, ``preau erase``). Every request is checked with
``preau.server.privacy.access``; reading someone else's data (a parent for their
child, an admin on request) and every read of a moderation or admin view is
written to the access journal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from preau.server.clock import Clock
from preau.server.directory.model import Member
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, forbidden, not_found
from preau.server.moderation.service import (  # noqa: F401 (the journal's view names)
    VIEW_AUDIT,
    VIEW_HELD,
    VIEW_MEMBERS,
    VIEW_REPORTS,
)
from preau.server.privacy import access
from preau.server.privacy.erasure import ErasureRunner
from preau.server.privacy.export import export_chunks
from preau.server.privacy.retention import DAY_MS, JOB_NAME, RetentionJob
from preau.server.ratelimit import RateLimiter
from preau.server.settings import Settings
from preau.server.store.privacy import PersonRecord, PrivacyStore

log = logging.getLogger(__name__)

# Views whose reading is journaled (the ``view`` column of access_journal).
VIEW_EXPORT = "privacy.export"
VIEW_ERASURE = "privacy.erasure"
VIEW_JOURNAL = "privacy.journal"
VIEW_RETENTION = "privacy.retention"

EXPORTS_PER_HOUR = 10
EXPORTS_BURST = 5


class PrivacyService:
    def __init__(
        self,
        store: PrivacyStore,
        erasures: ErasureRunner,
        retention: RetentionJob,
        settings: Settings,
        clock: Clock,
        exports: RateLimiter,
        directory: Directory,
    ) -> None:
        self.store = store
        self._directory = directory
        # Whether a person may still read a notification's source (person,
        # room, document): the notification centre's own rule, set by the
        # composition root (unset: every source is treated as lost).
        self.source_readable: Callable[
            [str, str | None, str | None], Awaitable[bool]] | None = None
        self.erasures = erasures
        self.retention = retention
        self._settings = settings
        self._clock = clock
        # An export reads everything a person ever wrote: a few per hour and
        # per requester (EXPORTS_BURST at once), on every node together.
        self._exports = exports

    async def close(self) -> None:
        await self.erasures.close()
        await self._exports.close()

    async def record_access(self, viewer: Member, view: str, subject: str = "") -> None:
        """Journal that ``viewer`` read ``view`` (about ``subject``) in their school."""
        await self.store.journal(
            viewer.school_id, viewer.id, view, subject[:200], self._clock.now_ms()
        )

    async def viewed(self, viewer: Member, view: str, subject: str = "") -> None:
        """Journal a read of a moderation or admin view by the staff who run it
        (a pupil or parent reading their own held messages is not journaled)."""
        if access.oversight_read(viewer):
            await self.record_access(viewer, view, subject)

    async def _target(self, viewer: Member, person_id: str) -> PersonRecord:
        target = await self.store.person(viewer.id if person_id == "me" else person_id)
        # Unknown and not-yours answer alike: no probing for who exists.
        if target is None or not access.may_act_for(viewer, target.id, target.school_id):
            raise not_found("no such person")
        return target

    async def export(self, viewer: Member, person_id: str) -> AsyncIterator[bytes]:
        """Authorise and journal now; the returned iterator reads as it is consumed."""
        target = await self._target(viewer, person_id)
        wait = await self._exports.take(viewer.id)
        if wait is not None:
            raise PreauError(ErrorCode.RATE_LIMITED, "too many exports, try later",
                             retry_after=wait)
        if access.journaled(viewer, target.id):
            await self.record_access(viewer, VIEW_EXPORT, target.id)
        return await self.export_of(target)

    async def export_of(self, target: PersonRecord) -> AsyncIterator[bytes]:
        """The export of ``target``, unchecked (the CLI: the operator's own act)."""
        school = await self.store.school_name(target.school_id)
        readable = await self._readable_conversations(target.id)

        async def still_readable(room_id: str | None, document_id: str | None) -> bool:
            return self.source_readable is not None and await self.source_readable(
                target.id, room_id, document_id)

        return export_chunks(self.store, target, school, self._clock.now_ms(), readable,
                             still_readable)

    async def _readable_conversations(self, person_id: str) -> frozenset[str]:
        """The private conversations ``person_id`` may read now, as on every
        other path (none for whoever is no longer in a school's directory)."""
        member = await self._directory.member(person_id)
        if member is None:
            return frozenset()
        return frozenset(room.id for room in await self._directory.conversations_of(member))

    async def request_erasure(
        self, viewer: Member, person_id: str, delete_contributions: bool
    ) -> dict[str, Any]:
        target = await self._target(viewer, person_id)
        if access.journaled(viewer, target.id):
            await self.record_access(viewer, VIEW_ERASURE, target.id)
        return await self.erase(target, delete_contributions)

    async def erase(self, target: PersonRecord, delete_contributions: bool) -> dict[str, Any]:
        """Record the job and run it to the end (a crash leaves it to the retention job)."""
        job = await self.erasures.request(target, "request", delete_contributions)
        try:
            await self.erasures.run(job)
        except Exception:
            # Recorded, and resumed by the next retention pass on any node.
            log.exception("erasure %s stopped half-way; the retention job will finish it", job.id)
            raise PreauError(
                ErrorCode.UNAVAILABLE,
                "the erasure is recorded and will complete automatically",
            ) from None
        return {"erased": True, "delete_contributions": job.delete_contributions}

    async def journal(
        self, viewer: Member, school_id: str, before_ms: int | None, limit: int
    ) -> dict[str, Any]:
        if not access.may_oversee(viewer, school_id):
            raise forbidden("the access journal is for the school's admins")
        await self.record_access(viewer, VIEW_JOURNAL, school_id)
        rows = await self.store.journal_page(school_id, before_ms, limit)
        names = await self.store.display_names([str(r["actor_id"]) for r in rows])
        entries = [
            {"id": r["id"], "ts": int(r["at_ms"]), "view": r["view"], "subject": r["subject"],
             "actor": {"id": r["actor_id"], "name": names.get(str(r["actor_id"]), "")}}
            for r in rows
        ]
        nxt = entries[-1]["ts"] if len(entries) >= limit else None
        return {"entries": entries, "next": nxt}

    async def retention_status(self, viewer: Member, school_id: str) -> dict[str, Any]:
        if not access.may_oversee(viewer, school_id):
            raise forbidden("the retention status is for the school's admins")
        await self.record_access(viewer, VIEW_RETENTION, school_id)
        s = self._settings
        now = self._clock.now_ms()
        return {
            "periods_days": {
                "messages": s.message_retention_days,
                "moderation_audit": s.audit_retention_days,
                "logs": s.log_retention_days,
                "notifications": s.notification_retention_days,
                "closed_accounts": s.closed_erasure_days,
                "archived_rooms": s.archived_rooms_days,
            },
            "job": await self.store.job_state(JOB_NAME),
            "counts": await self.store.retention_counts(
                school_id, now - s.closed_erasure_days * DAY_MS
            ),
        }
