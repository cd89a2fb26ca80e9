"""The notification centre in SQL: one row per recipient (``notifications``).

Who is notified of what, and whether they may still read it, is decided by
``preau/server/notifications/service.py``; this module only keeps the rows. Export,
erasure and the purge are in ``preau/server/store/privacy.py`` with every other
table holding a person.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from preau.server.directory import quiet_hours
from preau.server.store.engine import Row, SqlBase, Transaction, new_id
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
class OutboxItem:
    """A posted message whose notifications are still to be made
    (``notification_outbox``, migration 0110), as a node claimed it."""

    room_id: str
    seq: int
    urgent: bool


@dataclass(frozen=True, slots=True)
class Fanout:
    """What one source notifies, stored in one transaction: the
    notifications, their e-mail jobs ``(notification, unsubscribe token,
    digest or None, due)`` and push jobs ``(notification, device, urgency, due)``."""

    now_ms: int
    notifications: list[Notification] = field(default_factory=list)
    email_jobs: list[tuple[Notification, str, str | None, int]] = field(default_factory=list)
    push_jobs: list[tuple[Notification, str, str, int]] = field(default_factory=list)
    urgent: bool = False  # an admin's urgent message: its mails go through quiet hours


@dataclass(frozen=True, slots=True)
class EmailJob:
    """A notification to send by e-mail, as a node claimed it."""

    id: str
    notification: Notification
    email: str
    attempts: int
    digest: str | None = None  # ``daily`` / ``weekly``: one mail for the person's due jobs
    urgent: bool = False  # an admin's urgent message: retried through quiet hours


def after_quiet_hours(due_ms: int, timezone: str, school_quiet_hours: str) -> int:
    """When a mail or push due at ``due_ms`` may leave: then, or the opening
    of the school's delivery window if ``due_ms`` falls in its quiet hours
    (preau/server/directory/quiet_hours.py). The one rule for a job's first
    attempt (NotificationService), its retries (the senders) and a per-minute
    deferral (``claim_email_jobs``); an urgent message's jobs skip it."""
    window = quiet_hours.effective_window(school_quiet_hours, quiet_hours.SCHOOL)
    return quiet_hours.release_time(due_ms, timezone, window) or due_ms


# Notification ids sort as they were made: the time, then a counter of this
# process (same-millisecond notifications keep their order), then a random
# part (two nodes never make the same id). Lists go newest first by
# (created_ms, id), and a page's cursor names both, so notifications made in
# the same millisecond are neither skipped nor repeated across pages.
_ORDER = itertools.count()


def notification_id(now_ms: int) -> str:
    return f"n_{now_ms:013d}{next(_ORDER) % 10**8:08d}{new_id()[:6]}"


async def insert_notifications(tx: Transaction, stored: Sequence[Notification]) -> None:
    if stored:
        await tx.executemany(
            f"INSERT INTO notifications ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [(n.id, n.person_id, n.school_id, n.kind, n.room_id, n.seq, n.actor_id,
              orjson.dumps(n.data).decode(), n.created_ms, None) for n in stored],
        )


async def insert_email_jobs(
    tx: Transaction, jobs: Sequence[tuple[Notification, str]], now_ms: int,
    digest: str | None, due_ms: int | None, urgent: bool = False,
) -> None:
    if jobs:
        await tx.executemany(
            "INSERT INTO email_jobs (id, notification_id, person_id, school_id, kind,"
            " next_ms, unsubscribe_token, created_ms, digest, urgent)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [("e_" + new_id(), n.id, n.person_id, n.school_id, n.kind,
              now_ms if due_ms is None else due_ms, token, now_ms, digest, int(urgent))
             for n, token in jobs])


async def insert_push_jobs(
    tx: Transaction, jobs: Sequence[tuple[Notification, str, str, int]], now_ms: int
) -> None:
    """A push job per (notification, device, urgency, due)."""
    if jobs:
        await tx.executemany(
            "INSERT INTO push_jobs (id, notification_id, subscription_id, person_id,"
            " school_id, urgency, next_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [("pj_" + new_id(), n.id, sub_id, n.person_id, n.school_id, urgency, due,
              now_ms) for n, sub_id, urgency, due in jobs])


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
        self, person_id: str, before_ms: int | None, limit: int, *, unread_only: bool = False,
        before_id: str | None = None,
    ) -> list[Notification]:
        """A person's notifications, newest first (by time, then id), created
        before ``before_ms`` (or at ``before_ms`` with an id below
        ``before_id``: the last one of the previous page)."""

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

    async def record_fanout(
        self, fanout: Fanout, outbox: tuple[str, int, str] | None = None
    ) -> list[Notification] | None:
        """Store ``fanout`` (notifications, e-mail and push jobs) in one
        transaction. ``outbox``: ``(room, seq, holder)``, the claimed outbox
        row it is for, deleted in that transaction — None (nothing stored)
        when ``holder`` does not hold it (done already, or its lease ran out
        and another node took it); nothing but the deletion when the message
        is gone or redacted. Returns the notifications stored."""

    async def claim_outbox(
        self, holder: str, now_ms: int, lease_ms: int, limit: int,
        only: tuple[str, int] | None = None,
    ) -> list[OutboxItem]:
        """Claim outbox rows free or whose lease ran out (``only``: that one
        message's), oldest first, for ``holder`` until ``now_ms + lease_ms``:
        a row is held by one node at a time."""

    async def outbox_pending(self) -> int:
        """How many posted messages wait for their notifications."""


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
        no longer bouncing; an address a person confirmed themselves is kept."""

    async def emails_of(self, person_ids: Sequence[str]) -> dict[str, str]:
        """Person id → their address, for those with one that is not bouncing."""

    async def languages_of(self, person_ids: Sequence[str]) -> dict[str, str]:
        """Person id → ``fr`` or ``en``, for those who chose one."""

    async def set_language(self, person_id: str, language: str, now_ms: int) -> None:
        """The person's language (``fr`` or ``en``)."""

    async def notification_excerpt(self, school_id: str) -> bool:
        """Does the school put a short excerpt in adults' mails and pushes?"""

    async def set_notification_excerpt(
        self, school_id: str, on: bool, actor_id: str, now_ms: int
    ) -> None:
        """Turn the excerpt on or off, audited as ``school.settings``."""

    async def email_status(self, person_id: str) -> dict[str, Any]:
        """The person's address (or None), since when it bounces (or None),
        and the change waiting for confirmation (``{email, expires}`` or None)."""

    async def request_email_change(
        self, person_id: str, school_id: str, email: str, token_hash: str, now_ms: int,
        expires_ms: int,
    ) -> int | None:
        """Keep ``email`` until the link whose hash is ``token_hash`` is
        followed (it replaces a change waiting); None, or when the last
        request was made (ms), if it was less than a minute ago (refused)."""

    async def confirm_email_change(self, token_hash: str, now_ms: int) -> tuple[str, str] | None:
        """Follow the link once: the person's address becomes the new one
        (not bouncing). (person id, address), or None for an unknown, used or
        expired link."""

    async def email_change_pending(self, token_hash: str, now_ms: int) -> bool:
        """Whether that link may still be followed (known, unused, not
        expired), changing nothing."""

    async def add_email_jobs(
        self, jobs: Sequence[tuple[Notification, str]], now_ms: int, *,
        digest: str | None = None, due_ms: int | None = None, urgent: bool = False,
    ) -> None:
        """A job per (notification, its unsubscribe token), due now (or at
        ``due_ms``, in a ``daily`` or ``weekly`` digest); ``urgent``: an
        admin's urgent message's, whose retries go through quiet hours."""

    async def claim_email_jobs(
        self, holder: str, now_ms: int, lease_ms: int, limit: int, per_minute: int = 0
    ) -> list[EmailJob]:
        """Claim due jobs for ``holder`` until ``now_ms + lease_ms``: a job
        is held by one node at a time (another node's claim of the same job
        finds it taken). Jobs whose address went bouncing or away are dropped.
        ``per_minute``: a school that had this many mails sent or claimed in
        the last minute waits (0: no limit): its jobs over the limit go back
        for a minute, or until its delivery window opens if that minute ends
        in its quiet hours (``after_quiet_hours``; urgent jobs: a minute)."""

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

    async def unsubscribe_subject(self, token: str) -> str | None:
        """What a mail's unsubscribe link stops, changing nothing: its kind,
        or its digest (``daily`` / ``weekly``); None for an unknown token."""

    async def unsubscribe(self, token: str, now_ms: int) -> tuple[str, str] | None:
        """The one-click unsubscribe: the job's person and kind, whose channel
        becomes ``in_app``; None for an unknown token. A digest's link: the
        person and the digest; every kind of the notifications that mail
        carried (its jobs sent with it: same person, digest and ``done_ms``)
        still set to that digest becomes ``in_app``, and only those."""

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
            Notification(notification_id(now_ms), i.person_id, i.school_id, i.kind, i.room_id,
                         i.seq, i.actor_id, dict(i.data), now_ms, None)
            for i in items
        ]
        async with self._engine.transaction() as tx:
            await insert_notifications(tx, stored)
        return stored

    async def record_fanout(
        self, fanout: Fanout, outbox: tuple[str, int, str] | None = None
    ) -> list[Notification] | None:
        stored = fanout.notifications
        async with self._engine.transaction() as tx:
            if outbox is not None:
                room_id, seq, holder = outbox
                if not await tx.execute(
                    "DELETE FROM notification_outbox WHERE room_id = $1 AND seq = $2"
                    " AND holder = $3", room_id, seq, holder):
                    await tx.rollback()
                    return None
                # Redacted (or purged) since it was read: nobody is told.
                live = await tx.fetchval(
                    "SELECT 1 FROM messages WHERE room_id = $1 AND seq = $2"
                    " AND kind = 'message' AND redacted_seq IS NULL", room_id, seq)
                if live is None:
                    return []
            await insert_notifications(tx, stored)
            for n, token, digest, due in fanout.email_jobs:
                await insert_email_jobs(tx, [(n, token)], fanout.now_ms, digest, due,
                                        fanout.urgent)
            await insert_push_jobs(tx, fanout.push_jobs, fanout.now_ms)
        return stored

    async def claim_outbox(
        self, holder: str, now_ms: int, lease_ms: int, limit: int,
        only: tuple[str, int] | None = None,
    ) -> list[OutboxItem]:
        free = "(holder IS NULL OR lease_until_ms < $3)"
        async with self._engine.transaction() as tx:
            if only is not None:
                rows = await tx.fetch(
                    "UPDATE notification_outbox SET holder = $1, lease_until_ms = $2"
                    f" WHERE room_id = $4 AND seq = $5 AND {free}"
                    " RETURNING room_id, seq, urgent",
                    holder, now_ms + lease_ms, now_ms, only[0], only[1])
            else:
                # The outer condition is checked again on a row another node
                # may just have claimed: each row goes to one holder.
                rows = await tx.fetch(
                    "UPDATE notification_outbox SET holder = $1, lease_until_ms = $2"
                    " WHERE (room_id, seq) IN (SELECT room_id, seq FROM notification_outbox"
                    f" WHERE {free} ORDER BY created_ms LIMIT $4) AND {free}"
                    " RETURNING room_id, seq, urgent",
                    holder, now_ms + lease_ms, now_ms, limit)
        return [OutboxItem(str(r["room_id"]), int(r["seq"]), bool(r["urgent"])) for r in rows]

    async def outbox_pending(self) -> int:
        async with self._engine.transaction(readonly=True) as tx:
            return int(await tx.fetchval("SELECT COUNT(*) FROM notification_outbox"))

    async def notifications_of(
        self, person_id: str, before_ms: int | None, limit: int, *, unread_only: bool = False,
        before_id: str | None = None,
    ) -> list[Notification]:
        where = "person_id = $1 AND (created_ms < $2 OR (created_ms = $2 AND id < $4))"
        if unread_only:
            where += " AND read_ms IS NULL"
        top = (1 << 62) if before_ms is None else before_ms
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM notifications WHERE {where}"
                " ORDER BY created_ms DESC, id DESC LIMIT $3",
                person_id, top, limit, "" if before_id is None else before_id,
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
            # Their mails and pushes not sent yet are not sent at all.
            for r in rows:
                await tx.execute(
                    "DELETE FROM email_jobs WHERE notification_id = $1 AND status = 'pending'",
                    r["id"])
                await tx.execute(
                    "DELETE FROM push_jobs WHERE notification_id = $1 AND status = 'pending'",
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
                    " person_emails.email = $3 THEN person_emails.bouncing_ms ELSE NULL END"
                    # An address the person confirmed themselves stays.
                    " WHERE person_emails.self_set = 0",
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

    async def languages_of(self, person_ids: Sequence[str]) -> dict[str, str]:
        if not person_ids:
            return {}
        marks = ", ".join(f"${i + 1}" for i in range(len(person_ids)))
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT person_id, language FROM person_settings WHERE person_id IN ({marks})",
                *person_ids)
        return {r["person_id"]: r["language"] for r in rows}

    async def set_language(self, person_id: str, language: str, now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO person_settings (person_id, language, updated_ms) VALUES ($1, $2, $3)"
                " ON CONFLICT (person_id) DO UPDATE SET language = $2, updated_ms = $3",
                person_id, language, now_ms)

    async def notification_excerpt(self, school_id: str) -> bool:
        async with self._engine.transaction(readonly=True) as tx:
            on = await tx.fetchval(
                "SELECT notification_excerpt FROM schools WHERE id = $1", school_id)
        return bool(on)

    async def set_notification_excerpt(
        self, school_id: str, on: bool, actor_id: str, now_ms: int
    ) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute("UPDATE schools SET notification_excerpt = $2 WHERE id = $1",
                             school_id, int(on))
            await audit(tx, school_id, None, actor_id, AuditAction.SCHOOL_SETTINGS, now_ms,
                        details={"notification_excerpt": on})

    async def email_status(self, person_id: str) -> dict[str, Any]:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                "SELECT email, bouncing_ms FROM person_emails WHERE person_id = $1", person_id)
            pending = await tx.fetchrow(
                "SELECT email, expires_ms FROM email_changes WHERE person_id = $1"
                " ORDER BY created_ms DESC LIMIT 1", person_id)
        return {
            "email": None if row is None else row["email"],
            "bouncing_since": None if row is None or row["bouncing_ms"] is None
            else int(row["bouncing_ms"]),
            "pending": None if pending is None else {
                "email": pending["email"], "expires": int(pending["expires_ms"])},
        }

    async def request_email_change(
        self, person_id: str, school_id: str, email: str, token_hash: str, now_ms: int,
        expires_ms: int,
    ) -> int | None:
        async with self._engine.transaction() as tx:
            last = await tx.fetchval(
                "SELECT MAX(created_ms) FROM email_changes WHERE person_id = $1", person_id)
            if last is not None and now_ms - int(last) < 60_000:
                return int(last)
            await tx.execute("DELETE FROM email_changes WHERE person_id = $1", person_id)
            # Nobody's expired link is kept (a small table: links live a day).
            await tx.execute("DELETE FROM email_changes WHERE expires_ms <= $1", now_ms)
            await tx.execute(
                "INSERT INTO email_changes (token_hash, person_id, school_id, email, created_ms,"
                " expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                token_hash, person_id, school_id, email, now_ms, expires_ms)
        return None

    async def confirm_email_change(self, token_hash: str, now_ms: int) -> tuple[str, str] | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "DELETE FROM email_changes WHERE token_hash = $1"
                " RETURNING person_id, school_id, email, expires_ms", token_hash)
            if row is None or int(row["expires_ms"]) <= now_ms:
                return None
            await tx.execute(
                "INSERT INTO person_emails (person_id, school_id, email, updated_ms)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO UPDATE"
                " SET email = $3, updated_ms = $4, bouncing_ms = NULL, self_set = 1",
                row["person_id"], row["school_id"], row["email"], now_ms)
            await tx.execute(
                "UPDATE person_emails SET self_set = 1 WHERE person_id = $1", row["person_id"])
        return row["person_id"], row["email"]

    async def email_change_pending(self, token_hash: str, now_ms: int) -> bool:
        async with self._engine.transaction(readonly=True) as tx:
            found = await tx.fetchval(
                "SELECT 1 FROM email_changes WHERE token_hash = $1 AND expires_ms > $2",
                token_hash, now_ms)
        return found is not None

    async def add_email_jobs(
        self, jobs: Sequence[tuple[Notification, str]], now_ms: int, *,
        digest: str | None = None, due_ms: int | None = None, urgent: bool = False,
    ) -> None:
        if not jobs:
            return
        async with self._engine.transaction() as tx:
            await insert_email_jobs(tx, jobs, now_ms, digest, due_ms, urgent)

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
                " RETURNING id, notification_id, person_id, school_id, attempts, digest, urgent",
                holder, now_ms + lease_ms, now_ms, limit)
            claimed = list(claimed)
            if per_minute > 0:
                # Over a school's minute: back in the queue for a minute (a
                # digest is one mail and always goes), or until the school's
                # delivery window opens if the minute ends in its quiet hours.
                hours: dict[str, tuple[str, str] | None] = {}
                kept = []
                for c in claimed:
                    if c["digest"] is None:
                        school_id = c["school_id"]
                        used[school_id] = used.get(school_id, 0) + 1
                        if used[school_id] > per_minute:
                            later = now_ms + 60_000
                            if not c["urgent"]:
                                if school_id not in hours:
                                    found = await tx.fetchrow(
                                        "SELECT timezone, quiet_hours FROM schools"
                                        " WHERE id = $1", school_id)
                                    hours[school_id] = None if found is None else (
                                        found["timezone"], found["quiet_hours"])
                                if (zone := hours[school_id]) is not None:
                                    later = after_quiet_hours(later, *zone)
                            await tx.execute(
                                "UPDATE email_jobs SET holder = NULL, lease_until_ms = NULL,"
                                " attempts = attempts - 1, next_ms = $2 WHERE id = $1",
                                c["id"], later)
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
                    " RETURNING id, notification_id, person_id, school_id, attempts, digest,"
                    " urgent", holder, now_ms + lease_ms, now_ms, person_id, digest)
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
                                     c["digest"], bool(c["urgent"])))
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

    async def unsubscribe_subject(self, token: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                "SELECT j.kind, j.digest FROM email_jobs j JOIN people p ON p.id = j.person_id"
                " WHERE j.unsubscribe_token = $1", token)
        if row is None:
            return None
        return str(row["digest"] or row["kind"])

    async def unsubscribe(self, token: str, now_ms: int) -> tuple[str, str] | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT person_id, kind, digest, done_ms FROM email_jobs"
                " WHERE unsubscribe_token = $1", token)
            if row is None:
                return None
            known = await tx.fetchval("SELECT 1 FROM people WHERE id = $1", row["person_id"])
            if known is None:
                return None
            if row["digest"] is not None:
                # A digest's link: the kinds in that mail go back to the app
                # (its jobs were finished together, at the mail's time), not
                # every kind the person sends to that digest.
                kinds = {row["kind"]} | {r["kind"] for r in await tx.fetch(
                    "SELECT DISTINCT kind FROM email_jobs WHERE person_id = $1"
                    " AND digest = $2 AND status = 'sent' AND done_ms = $3",
                    row["person_id"], row["digest"], row["done_ms"])}
                for kind in sorted(kinds):
                    await tx.execute(
                        "UPDATE notification_preferences SET channel = 'in_app',"
                        " updated_ms = $4 WHERE person_id = $1 AND kind = $2 AND channel = $3",
                        row["person_id"], kind, row["digest"], now_ms)
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
