"""The retention job: one pass deletes what outlived its period.

Every node runs :meth:`RetentionJob.loop`; each pass first claims the shared
``jobs`` row (``PrivacyStore.claim_job``): the one node whose claim succeeds
runs the pass, the others skip it, and a pass is due again ``every_s`` after
the last one finished. A node that dies mid-pass holds the lease until it
expires (``lease_s``); every step of a pass is idempotent, so the next holder
simply does it again.

A pass (docs/data-protection.md, "Retention"):

- messages older than ``PREAU_MESSAGE_RETENTION_DAYS``;
- moderation records older than ``PREAU_AUDIT_RETENTION_DAYS`` (audit log,
  originals of redacted messages, decided held messages, resolved reports:
  ``ModerationService.purge_expired``, which used to run on its own loop);
- connection records (ended sessions) and the access journal older than
  ``PREAU_LOG_RETENTION_DAYS``;
- rooms of past school years whose keeping period ended;
- the mood of the day of past school years (kept for the school year at most);
- accounts closed for ``PREAU_CLOSED_ERASURE_DAYS``: their erasure starts;
- erasures left half-way (a crash) are finished;
- files whose messages went (attachments' sweep).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from preau.server.clock import Clock
from preau.server.log_records import RetryLog
from preau.server.mood.rules import first_day_kept
from preau.server.privacy.erasure import ErasureRunner
from preau.server.settings import Settings
from preau.server.store.backup import RESTORE_COPY_DAYS, purge_restore_copies
from preau.server.store.privacy import PrivacyStore

log = logging.getLogger(__name__)

JOB_NAME = "retention"
DAY_MS = 86_400_000


class RetentionJob:
    def __init__(
        self,
        store: PrivacyStore,
        erasures: ErasureRunner,
        purge_moderation: Callable[[], Awaitable[int]],
        settings: Settings,
        clock: Clock,
        *,
        holder: str,
    ) -> None:
        self._store = store
        self._erasures = erasures
        self._purge_moderation = purge_moderation
        self._settings = settings
        self._clock = clock
        self.holder = holder
        # Files whose messages this pass deleted (wired by the composition
        # root: the attachments' sweep, which their own loop also runs).
        self.purge_files: Callable[[], Awaitable[int]] | None = None

    async def run_once(self) -> dict[str, Any] | None:
        """One pass if this node wins the claim and a pass is due; None if skipped."""
        settings = self._settings
        now = self._clock.now_ms()
        claimed = await self._store.claim_job(
            JOB_NAME, self.holder, now, int(settings.retention_lease_s * 1000),
            int(settings.retention_every_s * 1000),
        )
        if not claimed:
            return None
        try:
            result = await self._pass(now)
            await self._store.forget_deleted()
        except BaseException:
            await asyncio.shield(self._store.release_job(JOB_NAME, self.holder))
            raise
        await self._store.finish_job(JOB_NAME, self.holder, self._clock.now_ms(), result)
        log.info("retention pass by %s: %s", self.holder, result)
        return result

    async def _pass(self, now: int) -> dict[str, Any]:
        settings = self._settings
        result: dict[str, Any] = {}
        result["messages"] = await self._store.purge_messages(
            now - settings.message_retention_days * DAY_MS
        )
        result["moderation"] = await self._purge_moderation()
        result["logs"] = await self._store.purge_logs(
            now - settings.log_retention_days * DAY_MS, now
        )
        result["conversations"] = await self._store.purge_conversations(
            now - settings.message_retention_days * DAY_MS
        )
        result["expired_links"] = await self._store.purge_expired_links(now)
        result["archived_rooms"] = await self._store.purge_archived_rooms(now)
        # The database a restore replaced, once the time to notice a bad
        # restore is over (it holds whatever was erased since).
        result["restore_copies"] = await asyncio.to_thread(
            purge_restore_copies, settings.effective_store_url, now / 1000,
            RESTORE_COPY_DAYS * 86_400)
        result["moods"] = await self._store.purge_moods(first_day_kept(now))
        result["notifications"] = await self._store.purge_notifications(
            now - settings.notification_retention_days * DAY_MS
        )
        due = await self._store.closed_before(now - settings.closed_erasure_days * DAY_MS)
        for person in due:
            await self._erasures.request(person, "closed", delete_contributions=False)
        result["erasures_started"] = len(due)
        result["erasures_run"] = await self._erasures.resume_pending()
        if self.purge_files is not None:
            result["files"] = await self.purge_files()
        return result

    async def loop(self) -> None:
        """Try a pass now and then every ``retention_every_s`` (run as a task)."""
        # Nodes started together would all wake at once: only one wins the
        # claim anyway, the jitter just spreads the losers' queries.
        every = self._settings.retention_every_s
        retries = RetryLog(log, "retention pass")
        while True:
            pause = every * (0.5 + random.random() / 2)
            try:
                await self.run_once()
            except Exception as exc:
                retries.failed(exc, pause)
            else:
                retries.succeeded()
            await asyncio.sleep(pause)
