"""The notification centre in SQL: one row per recipient (``notifications``).

Who is notified of what, and whether they may still read it, is decided by
``preau/server/notifications/service.py``; this module only keeps the rows. Export,
erasure and the purge are in ``preau/server/store/privacy.py`` with every other
table holding a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from preau.server.store.engine import Row, SqlBase, new_id
from preau.server.store.records import AuditAction
from preau.server.store.rows import audit


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to store for ``person_id``."""

    person_id: str
    school_id: str
    kind: str
    room_id: str | None
    seq: int | None
    actor_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    person_id: str
    school_id: str
    kind: str
    room_id: str | None
    seq: int | None
    actor_id: str | None
    data: dict[str, Any]
    created_ms: int
    read_ms: int | None


@dataclass(frozen=True, slots=True)
class EmailJob:
    """A notification to send by e-mail, as a node claimed it."""

    id: str
    notification: Notification
    email: str
    attempts: int
    digest: str | None = None  # ``daily`` / ``weekly``: one mail for the person's due jobs


_EMAIL_CLAIM_LOCK = 0x4E4F_5449_4649_4D4C  # "NOTIFIML": e-mail claims with a rate limit

_COLUMNS = "id, person_id, school_id, kind, room_id, seq, actor_id, data, created_ms, read_ms"


def _notification(r: Row) -> Notification:
    seq = r["seq"]
    read = r["read_ms"]
    return Notification(
        r["id"], r["person_id"], r["school_id"], r["kind"], r["room_id"],
        None if seq is None else int(seq), r["actor_id"], orjson.loads(r["data"]),
        int(r["created_ms"]), None if read is None else int(read),
    )


class NotificationStore(Protocol):
    """The notification centre: per person, read or unread."""

    async def add_notifications(
        self, items: Sequence[NewNotification], now_ms: int
    ) -> list[Notification]:
        """Store these notifications (one transaction); returns them with their ids."""

    async def notifications_of(
        self, person_id: str, before_ms: int | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]:
        """A person's notifications, newest first, created before ``before_ms``."""

    async def mark_notifications_read(
        self, person_id: str, ids: Sequence[str] | None, now_ms: int
    ) -> list[str]:
        """Mark these of the person's notifications read (``None``: all of
        them); returns the ids that changed. Others' ids change nothing."""

    async def withdraw_notifications(
        self, room_id: str, seq: int | None
    ) -> list[Notification]:
        """Delete the notifications about message ``seq`` of ``room_id``
        (``None``: about the room itself); returns what was deleted."""


    async def notification_preferences(self, person_ids: Sequence[str]) -> dict[
        str, dict[str, str]
    ]:
        """Person id → their chosen channel per kind (kinds never chosen are absent)."""

    async def set_notification_preferences(
        self, person_id: str, channels: dict[str, str | None], now_ms: int
    ) -> None:
        """Record the person's choices (``None``: back to the default)."""

    async def school_notification_rules(self, school_id: str) -> dict[str, str]:
        """Kind → ``on`` or ``off``: what the school forces."""

    async def set_school_notification_rules(
        self, school_id: str, rules: dict[str, str | None], actor_id: str, now_ms: int
    ) -> None:
        """Force kinds on or off (``None``: the person decides), audited as
        ``school.settings`` in the same transaction."""


    async def set_emails(self, school_id: str, emails: dict[str, str], now_ms: int) -> None:
        """People's e-mail addresses (from the import); a changed address is
        no longer bouncing."""

    async def emails_of(self, person_ids: Sequence[str]) -> dict[str, str]:
        """Person id → their address, for those with one that is not bouncing."""

    async def add_email_jobs(
        self, jobs: Sequence[tuple[Notification, str]], now_ms: int, *,
        digest: str | None = None, due_ms: int | None = None,
    ) -> None:
        """A job per (notification, its unsubscribe token), due now (or at
        ``due_ms``, in a ``daily`` or ``weekly`` digest)."""

    async def claim_email_jobs(
        self, holder: str, now_ms: int, lease_ms: int, limit: int, per_minute: int = 0
    ) -> list[EmailJob]:
        """Claim due jobs for ``holder`` until ``now_ms + lease_ms``: a job
        is held by one node at a time (another node's claim of the same job
        finds it taken). Jobs whose address went bouncing or away are dropped.
        ``per_minute``: a school that had this many mails sent or claimed in
        the last minute waits (0: no limit)."""

    async def finish_email_job(
        self, job_id: str, holder: str, status: str, now_ms: int, error: str | None = None
    ) -> bool:
        """``sent``, ``bounced`` (the address is marked bouncing) or ``failed``."""

    async def retry_email_job(
        self, job_id: str, holder: str, next_ms: int, error: str
    ) -> bool:
        """A transient failure: try again at ``next_ms`` (any node)."""

    async def unsubscribe_token(self, job_id: str) -> str | None:
        """The token of a job's unsubscribe link."""

    async def unsubscribe(self, token: str, now_ms: int) -> tuple[str, str] | None:
        """The one-click unsubscribe: the job's person and kind, whose channel
        becomes ``in_app``; None for an unknown token."""

    async def email_counts(self, school_id: str) -> dict[str, int]:
        """Per status, the school's e-mail jobs; ``bouncing``: its bouncing addresses."""


class NotificationsSql(SqlBase, NotificationStore):
    """The notification centre's SQL (one transaction per method)."""

    async def add_notifications(
        self, items: Sequence[NewNotification], now_ms: int
    ) -> list[Notification]:
        if not items:
            return []
        stored = [
            Notification("n_" + new_id(), i.person_id, i.school_id, i.kind, i.room_id, i.seq,
                         i.actor_id, dict(i.data), now_ms, None)
            for i in items
        ]
        async with self._engine.transaction() as tx:
            await tx.executemany(
                f"INSERT INTO notifications ({_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [(n.id, n.person_id, n.school_id, n.kind, n.room_id, n.seq, n.actor_id,
                  orjson.dumps(n.data).decode(), n.created_ms, None) for n in stored],
            )
        return stored

    async def notifications_of(
        self, person_id: str, before_ms: int | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]:
        where = "person_id = $1 AND created_ms < $2"
        if unread_only:
            where += " AND read_ms IS NULL"
        top = (1 << 62) if before_ms is None else before_ms
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM notifications WHERE {where}"
                " ORDER BY created_ms DESC, id DESC LIMIT $3",
                person_id, top, limit,
            )
        return [_notification(r) for r in rows]

    async def mark_notifications_read(
        self, person_id: str, ids: Sequence[str] | None, now_ms: int
    ) -> list[str]:
        async with self._engine.transaction() as tx:
            if ids is None:
                rows = await tx.fetch(
                    "UPDATE notifications SET read_ms = $2"
                    " WHERE person_id = $1 AND read_ms IS NULL RETURNING id",
                    person_id, now_ms,
                )
            elif not ids:
                return []
            else:
                marks = ", ".join(f"${i + 3}" for i in range(len(ids)))
                rows = await tx.fetch(
                    "UPDATE notifications SET read_ms = $2 WHERE person_id = $1"
                    f" AND read_ms IS NULL AND id IN ({marks}) RETURNING id",
                    person_id, now_ms, *ids,
                )
        return sorted(r["id"] for r in rows)

    async def withdraw_notifications(
        self, room_id: str, seq: int | None
    ) -> list[Notification]:
        async with self._engine.transaction() as tx:
            if seq is None:
                rows = await tx.fetch(
                    f"DELETE FROM notifications WHERE room_id = $1 AND seq IS NULL"
                    f" RETURNING {_COLUMNS}", room_id)
            else:
                rows = await tx.fetch(
                    f"DELETE FROM notifications WHERE room_id = $1 AND seq = $2"
                    f" RETURNING {_COLUMNS}", room_id, seq)
            # Their mails not sent yet are not sent at all.
            for r in rows:
                await tx.execute(
                    "DELETE FROM email_jobs WHERE notification_id = $1 AND status = 'pending'",
                    r["id"])
        return [_notification(r) for r in rows]

    async def notification_preferences(self, person_ids: Sequence[str]) -> dict[
        str, dict[str, str]
    ]:
        if not person_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(person_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT person_id, kind, channel FROM notification_preferences"
                f" WHERE person_id IN ({marks})", *person_ids)
        found: dict[str, dict[str, str]] = {}
        for r in rows:
            found.setdefault(r["person_id"], {})[r["kind"]] = r["channel"]
        return found

    async def set_notification_preferences(
        self, person_id: str, channels: dict[str, str | None], now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            for kind, channel in sorted(channels.items()):
                if channel is None:
                    await tx.execute(
                        "DELETE FROM notification_preferences WHERE person_id = $1"
                        " AND kind = $2", person_id, kind)
                else:
                    await tx.execute(
                        "INSERT INTO notification_preferences (person_id, kind, channel,"
                        " updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (person_id, kind)"
                        " DO UPDATE SET channel = $3, updated_ms = $4",
                        person_id, kind, channel, now_ms)

    async def school_notification_rules(self, school_id: str) -> dict[str, str]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT kind, forced FROM school_notification_rules WHERE school_id = $1",
                school_id)
        return {r["kind"]: r["forced"] for r in rows}

    async def set_school_notification_rules(
        self, school_id: str, rules: dict[str, str | None], actor_id: str, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            for kind, forced in sorted(rules.items()):
                if forced is None:
                    await tx.execute(
                        "DELETE FROM school_notification_rules WHERE school_id = $1"
                        " AND kind = $2", school_id, kind)
                else:
                    await tx.execute(
                        "INSERT INTO school_notification_rules (school_id, kind, forced,"
                        " updated_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (school_id, kind)"
                        " DO UPDATE SET forced = $3, updated_ms = $4",
                        school_id, kind, forced, now_ms)
            await audit(tx, school_id, None, actor_id, AuditAction.SCHOOL_SETTINGS, now_ms,
                        details={"notifications": rules})

    # -- e-mail ---------------------------------------------------------------------------
    async def set_emails(self, school_id: str, emails: dict[str, str], now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            for person_id, email in sorted(emails.items()):
                await tx.execute(
                    "INSERT INTO person_emails (person_id, school_id, email, updated_ms)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO UPDATE"
                    " SET email = $3, updated_ms = $4, bouncing_ms = CASE WHEN"
                    " person_emails.email = $3 THEN person_emails.bouncing_ms ELSE NULL END",
                    person_id, school_id, email, now_ms)

    async def emails_of(self, person_ids: Sequence[str]) -> dict[str, str]:
        if not person_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(person_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT person_id, email FROM person_emails WHERE person_id IN ({marks})"
                " AND bouncing_ms IS NULL", *person_ids)
        return {r["person_id"]: r["email"] for r in rows}

    async def add_email_jobs(
        self, jobs: Sequence[tuple[Notification, str]], now_ms: int, *,
        digest: str | None = None, due_ms: int | None = None,
    ) -> None:
        if not jobs:
            return
        async with self._engine.transaction() as tx:
            await tx.executemany(
                "INSERT INTO email_jobs (id, notification_id, person_id, school_id, kind,"
                " next_ms, unsubscribe_token, created_ms, digest)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                [("e_" + new_id(), n.id, n.person_id, n.school_id, n.kind,
                  now_ms if due_ms is None else due_ms, token, now_ms, digest)
                 for n, token in jobs])

    async def claim_email_jobs(
        self, holder: str, now_ms: int, lease_ms: int, limit: int, per_minute: int = 0
    ) -> list[EmailJob]:
        async with self._engine.transaction() as tx:
            used: dict[str, int] = {}
            if per_minute > 0:
                # Claims take turns across nodes, so each counts the others'.
                await tx.lock(_EMAIL_CLAIM_LOCK)
                # The relay's protection, on every node: per school, mails sent
                # in the last minute and mails claimed and not finished yet.
                rows = await tx.fetch(
                    "SELECT school_id, COUNT(*) AS n FROM email_jobs"
                    " WHERE (status = 'sent' AND done_ms > $1)"
                    " OR (status = 'pending' AND lease_until_ms >= $2)"
                    " GROUP BY school_id", now_ms - 60_000, now_ms)
                used = {r["school_id"]: int(r["n"]) for r in rows}
            # The outer conditions are checked again on the row another node
            # may just have claimed: each job goes to one holder.
            claimed = await tx.fetch(
                "UPDATE email_jobs SET holder = $1, lease_until_ms = $2, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM email_jobs WHERE status = 'pending'"
                " AND next_ms <= $3 AND (lease_until_ms IS NULL OR lease_until_ms < $3)"
                " ORDER BY next_ms, id LIMIT $4)"
                " AND status = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms < $3)"
                " RETURNING id, notification_id, person_id, school_id, attempts, digest",
                holder, now_ms + lease_ms, now_ms, limit)
            claimed = list(claimed)
            if per_minute > 0:
                # Over a school's minute: back in the queue for a minute (a
                # digest is one mail and always goes).
                kept = []
                for c in claimed:
                    if c["digest"] is None:
                        used[c["school_id"]] = used.get(c["school_id"], 0) + 1
                        if used[c["school_id"]] > per_minute:
                            await tx.execute(
                                "UPDATE email_jobs SET holder = NULL, lease_until_ms = NULL,"
                                " attempts = attempts - 1, next_ms = $2 WHERE id = $1",
                                c["id"], now_ms + 60_000)
                            continue
                    kept.append(c)
                claimed = kept
            # A digest goes whole: the person's other due jobs of it come too.
            for person_id, digest in sorted({(c["person_id"], c["digest"]) for c in claimed
                                             if c["digest"] is not None}):
                claimed += await tx.fetch(
                    "UPDATE email_jobs SET holder = $1, lease_until_ms = $2,"
                    " attempts = attempts + 1 WHERE person_id = $4 AND digest = $5"
                    " AND status = 'pending' AND next_ms <= $3"
                    " AND (lease_until_ms IS NULL OR lease_until_ms < $3)"
                    " RETURNING id, notification_id, person_id, school_id, attempts, digest",
                    holder, now_ms + lease_ms, now_ms, person_id, digest)
            jobs = []
            for c in claimed:
                n = await tx.fetchrow(
                    f"SELECT {_COLUMNS} FROM notifications WHERE id = $1", c["notification_id"])
                email = await tx.fetchval(
                    "SELECT email FROM person_emails WHERE person_id = $1"
                    " AND bouncing_ms IS NULL", c["person_id"])
                if n is None or email is None:
                    await tx.execute(
                        "UPDATE email_jobs SET status = 'failed', done_ms = $2,"
                        " last_error = $3 WHERE id = $1", c["id"], now_ms,
                        "withdrawn" if n is None else "no address")
                    continue
                jobs.append(EmailJob(c["id"], _notification(n), email, int(c["attempts"]),
                                     c["digest"]))
        return sorted(jobs, key=lambda j: j.id)

    async def finish_email_job(
        self, job_id: str, holder: str, status: str, now_ms: int, error: str | None = None
    ) -> bool:
        async with self._engine.transaction() as tx:
            person_id = await tx.fetchval(
                "UPDATE email_jobs SET status = $3, done_ms = $4, last_error = $5,"
                " lease_until_ms = NULL WHERE id = $1 AND holder = $2 AND status = 'pending'"
                " RETURNING person_id", job_id, holder, status, now_ms, error)
            if person_id is not None and status == "bounced":
                await tx.execute(
                    "UPDATE person_emails SET bouncing_ms = $2 WHERE person_id = $1",
                    person_id, now_ms)
        return person_id is not None

    async def retry_email_job(
        self, job_id: str, holder: str, next_ms: int, error: str
    ) -> bool:
        async with self._engine.transaction() as tx:
            done = await tx.execute(
                "UPDATE email_jobs SET next_ms = $3, last_error = $4, holder = NULL,"
                " lease_until_ms = NULL WHERE id = $1 AND holder = $2 AND status = 'pending'",
                job_id, holder, next_ms, error)
        return done > 0

    async def unsubscribe_token(self, job_id: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            token: str | None = await tx.fetchval(
                "SELECT unsubscribe_token FROM email_jobs WHERE id = $1", job_id)
        return token

    async def unsubscribe(self, token: str, now_ms: int) -> tuple[str, str] | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT person_id, kind, digest FROM email_jobs WHERE unsubscribe_token = $1",
                token)
            if row is None:
                return None
            known = await tx.fetchval("SELECT 1 FROM people WHERE id = $1", row["person_id"])
            if known is None:
                return None
            if row["digest"] is not None:
                # A digest's link: every kind in that digest goes back to the app.
                await tx.execute(
                    "UPDATE notification_preferences SET channel = 'in_app', updated_ms = $3"
                    " WHERE person_id = $1 AND channel = $2",
                    row["person_id"], row["digest"], now_ms)
                return row["person_id"], str(row["digest"])
            await tx.execute(
                "INSERT INTO notification_preferences (person_id, kind, channel, updated_ms)"
                " VALUES ($1, $2, 'in_app', $3) ON CONFLICT (person_id, kind)"
                " DO UPDATE SET channel = 'in_app', updated_ms = $3",
                row["person_id"], row["kind"], now_ms)
        return row["person_id"], row["kind"]

    async def email_counts(self, school_id: str) -> dict[str, int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT status, COUNT(*) AS n FROM email_jobs WHERE school_id = $1"
                " GROUP BY status", school_id)
            bouncing = await tx.fetchval(
                "SELECT COUNT(*) FROM person_emails WHERE school_id = $1"
                " AND bouncing_ms IS NOT NULL", school_id)
        counts = {s: 0 for s in ("pending", "sent", "bounced", "failed")}
        counts.update({r["status"]: int(r["n"]) for r in rows})
        counts["bouncing"] = int(bouncing)
        return counts
