"""Erasure: a persisted job worked through in steps, resumable after a crash.

Steps, each one transaction that also records the next step (so a crash
between two steps resumes at the second, and a step never runs twice):

1. ``close``: the account is closed and its password and codes forgotten; its
   sessions are deleted and announced, so every node closes the sockets;
2. ``private``: the messages the person wrote in private conversations are
   deleted, they leave those conversations, whose names are rebuilt from the
   remaining members' names;
3. ``contributions``: messages in class and parents' rooms, documents and
   moderation records are kept under a pseudonym, or deleted when the
   request asked for it (moderation acts are always kept, pseudonymous);
4. ``identity``: the person's row and everything that links to it
   (classes, guardianships, room states) are deleted;
5. ``traces``: Redis presence entries and rate-limit keys (``traces.py``);
6. ``finish``: a tombstone records that an erasure happened (school, reason,
   profile, dates) and the job row — the only link between the person and
   the pseudonym — is deleted.

After steps 1 and 4 the school's directory version moves, so every node
reloads it and drops the person from its caches and live sockets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from preau.server.clock import Clock
from preau.server.privacy.traces import Traces
from preau.server.store.privacy import ErasureJob, PersonRecord, PrivacyStore

log = logging.getLogger(__name__)

STEPS = ("close", "private", "contributions", "identity", "traces", "finish")
DONE = "done"

SessionsRevoked = Callable[[list[str]], Awaitable[None]]
DirectoryChanged = Callable[[str], Awaitable[None]]
AfterStep = Callable[[ErasureJob, str], Awaitable[None]]


async def _nothing(*_: object) -> None:
    return None


class ErasureRunner:
    def __init__(
        self,
        store: PrivacyStore,
        clock: Clock,
        *,
        traces: Traces | None = None,
        sessions_revoked: SessionsRevoked = _nothing,
        directory_changed: DirectoryChanged = _nothing,
    ) -> None:
        self._store = store
        self._clock = clock
        self._traces = traces
        self._sessions_revoked = sessions_revoked
        self._directory_changed = directory_changed
        # Called after each step (tests interrupt an erasure here).
        self.after_step: AfterStep = _nothing
        # The files the erasure left without a message or an author (wired by
        # the composition root: the attachments' sweep).
        self.purge_files: Callable[[], Awaitable[int]] | None = None

    async def close(self) -> None:
        if self._traces is not None:
            await self._traces.close()

    async def request(
        self, person: PersonRecord, reason: str, delete_contributions: bool
    ) -> ErasureJob:
        """Record the erasure job (idempotent); ``run`` does the work."""
        job = await self._store.request_erasure(
            person, reason, delete_contributions, self._clock.now_ms(), STEPS[0]
        )
        log.info("erasure %s requested (%s)", job.id, reason)
        return job

    async def run(self, job: ErasureJob, *, changed: set[str] | None = None) -> None:
        """Run ``job`` from its recorded step to the end.

        ``changed``: collect the schools whose directory changed instead of
        reloading each at once (a batch reloads each school once at the end:
        a reload reads the whole school).
        """
        step = job.step
        while step in STEPS:
            following = STEPS[STEPS.index(step) + 1] if step != STEPS[-1] else DONE
            if step == "traces" and self._traces is not None:
                await self._traces.forget(job.person_id)
            ran, result = await self._store.erasure_step(
                job, step, following, self._clock.now_ms()
            )
            if not ran:
                # Another runner moved the job on (or it was done): follow it.
                current = await self._current(job)
                if current is None:
                    return
                step = current.step
                continue
            if step == "close" and result:
                await self._sessions_revoked(list(result))
            if step in ("close", "identity"):
                if changed is None:
                    await self._directory_changed(job.school_id)
                else:
                    changed.add(job.school_id)
            await self.after_step(job, step)
            step = following
        if self.purge_files is not None:
            await self.purge_files()
        await self._store.forget_deleted()
        log.info("erasure %s done", job.id)

    async def _current(self, job: ErasureJob) -> ErasureJob | None:
        for pending in await self._store.pending_erasures(job.school_id):
            if pending.id == job.id:
                return pending
        return None

    async def resume_pending(self) -> int:
        """Finish every erasure left half-way (a crash, a node stopped); return how many."""
        jobs = await self._store.pending_erasures()
        changed: set[str] = set()
        try:
            for job in jobs:
                await self.run(job, changed=changed)
        finally:
            for school_id in sorted(changed):
                await self._directory_changed(school_id)
        return len(jobs)
