"""Web Push in SQL: the deployment's VAPID key, people's devices
(``push_subscriptions``) and the pushes to send (``push_jobs``).

What a push says, to whom and when is decided by
``preau/server/notifications/service.py``; sending is
``preau/server/notifications/push.py``. Export and erasure are in
``preau/server/store/privacy.py`` with every other table holding a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from preau.server.store.engine import Row, SqlBase, new_id
from preau.server.store.notifications import (
    _COLUMNS,
    Notification,
    _notification,
    insert_push_jobs,
)

VAPID_KEY = "vapid.private"  # deployment_keys.name of the VAPID private key


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """One device of a person: where its push service takes pushes, and the
    keys to encrypt for it (RFC 8291)."""

    id: str
    person_id: str
    school_id: str
    endpoint: str
    p256dh: str
    auth: str
    label: str
    created_ms: int
    last_ok_ms: int | None


@dataclass(frozen=True, slots=True)
class PushJob:
    """A push as a node claimed it."""

    id: str
    notification: Notification
    subscription: PushSubscription
    urgency: str
    attempts: int


_SUB_COLUMNS = "id, person_id, school_id, endpoint, p256dh, auth, label, created_ms, last_ok_ms"


def _subscription(r: Row) -> PushSubscription:
    ok = r["last_ok_ms"]
    return PushSubscription(r["id"], r["person_id"], r["school_id"], r["endpoint"],
                            r["p256dh"], r["auth"], r["label"], int(r["created_ms"]),
                            None if ok is None else int(ok))


class PushStore(Protocol):
    """Web Push: the deployment's key, people's devices, pushes to send."""

    async def deployment_key(self, name: str, generated: str, now_ms: int) -> str:
        """The deployment's key ``name``: the one stored, or ``generated``
        stored now if none was (the first node wins; every node gets the
        same)."""

    async def add_push_subscription(
        self, person_id: str, school_id: str, endpoint: str, p256dh: str, auth: str,
        label: str, now_ms: int, limit: int,
    ) -> PushSubscription | None:
        """Record a device (its ``endpoint`` already known: its keys and
        owner are replaced, its pending pushes dropped). None when the person
        already has ``limit`` other devices."""

    async def push_subscriptions_of(self, person_ids: Sequence[str]) -> dict[
        str, list[PushSubscription]
    ]:
        """Person id → their devices, oldest first."""

    async def delete_push_subscription(self, person_id: str, subscription_id: str) -> bool:
        """Remove one of the person's devices (and its pending pushes); False
        for an id that is not theirs or does not exist."""

    async def add_push_jobs(
        self, jobs: Sequence[tuple[Notification, str, str]], now_ms: int, due_ms: int
    ) -> None:
        """A push per (notification, subscription id, urgency), due at ``due_ms``."""

    async def claim_push_jobs(
        self, holder: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[PushJob]:
        """Claim due pushes for ``holder`` until ``now_ms + lease_ms``: each
        is held by one node at a time. Pushes whose notification was withdrawn
        or whose device went away are dropped."""

    async def finish_push_job(
        self, job_id: str, holder: str, status: str, now_ms: int, error: str | None = None
    ) -> bool:
        """``sent`` (the device's ``last_ok_ms`` moves), ``failed``, or
        ``gone``: the push service no longer knows the device (404/410), so
        the subscription and its other pending pushes are deleted."""

    async def retry_push_job(self, job_id: str, holder: str, next_ms: int, error: str) -> bool:
        """A transient failure (429, 5xx, unreachable): try again at ``next_ms``."""

    async def push_counts(self, school_id: str) -> dict[str, int]:
        """Per status, the school's pushes; ``devices``: its subscribed devices."""


class PushSql(SqlBase, PushStore):
    async def deployment_key(self, name: str, generated: str, now_ms: int) -> str:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO deployment_keys (name, value, created_ms) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO NOTHING", name, generated, now_ms)
            value: str = await tx.fetchval(
                "SELECT value FROM deployment_keys WHERE name = $1", name)
        return value

    async def add_push_subscription(
        self, person_id: str, school_id: str, endpoint: str, p256dh: str, auth: str,
        label: str, now_ms: int, limit: int,
    ) -> PushSubscription | None:
        async with self._engine.transaction() as tx:
            found = await tx.fetchrow(
                "SELECT id, person_id FROM push_subscriptions WHERE endpoint = $1", endpoint)
            others = await tx.fetchval(
                "SELECT COUNT(*) FROM push_subscriptions WHERE person_id = $1 AND endpoint <> $2",
                person_id, endpoint)
            if int(others) >= limit:
                return None
            if found is not None:
                # The same browser again: new keys, perhaps another person (a
                # shared tablet). What was queued for the old one is not sent.
                await tx.execute(
                    "DELETE FROM push_jobs WHERE subscription_id = $1 AND status = 'pending'",
                    found["id"])
                await tx.execute("DELETE FROM push_subscriptions WHERE id = $1", found["id"])
            sub_id = "ps_" + new_id()
            await tx.execute(
                f"INSERT INTO push_subscriptions ({_SUB_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
                sub_id, person_id, school_id, endpoint, p256dh, auth, label, now_ms)
        return PushSubscription(sub_id, person_id, school_id, endpoint, p256dh, auth, label,
                                now_ms, None)

    async def push_subscriptions_of(self, person_ids: Sequence[str]) -> dict[
        str, list[PushSubscription]
    ]:
        if not person_ids:
            return {}
        found: dict[str, list[PushSubscription]] = {}
        # In chunks: a school's announcement reaches a thousand people.
        for start in range(0, len(person_ids), 500):
            chunk = person_ids[start:start + 500]
            marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
            async with self._engine.transaction(readonly=True) as tx:
                rows = await tx.fetch(
                    f"SELECT {_SUB_COLUMNS} FROM push_subscriptions"
                    f" WHERE person_id IN ({marks}) ORDER BY created_ms, id", *chunk)
            for r in rows:
                found.setdefault(r["person_id"], []).append(_subscription(r))
        return found

    async def delete_push_subscription(self, person_id: str, subscription_id: str) -> bool:
        async with self._engine.transaction() as tx:
            gone = await tx.execute(
                "DELETE FROM push_subscriptions WHERE id = $1 AND person_id = $2",
                subscription_id, person_id)
            if gone:
                await tx.execute(
                    "DELETE FROM push_jobs WHERE subscription_id = $1 AND status = 'pending'",
                    subscription_id)
        return gone > 0

    async def add_push_jobs(
        self, jobs: Sequence[tuple[Notification, str, str]], now_ms: int, due_ms: int
    ) -> None:
        if not jobs:
            return
        async with self._engine.transaction() as tx:
            await insert_push_jobs(
                tx, [(n, sub_id, urgency, due_ms) for n, sub_id, urgency in jobs], now_ms)

    async def claim_push_jobs(
        self, holder: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[PushJob]:
        async with self._engine.transaction() as tx:
            # The outer conditions are checked again on the row another node
            # may just have claimed: each push goes to one holder.
            claimed = await tx.fetch(
                "UPDATE push_jobs SET holder = $1, lease_until_ms = $2, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM push_jobs WHERE status = 'pending'"
                " AND next_ms <= $3 AND (lease_until_ms IS NULL OR lease_until_ms < $3)"
                " ORDER BY next_ms, id LIMIT $4)"
                " AND status = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms < $3)"
                " RETURNING id, notification_id, subscription_id, urgency, attempts",
                holder, now_ms + lease_ms, now_ms, limit)
            jobs = []
            for c in claimed:
                n = await tx.fetchrow(
                    f"SELECT {_COLUMNS} FROM notifications WHERE id = $1", c["notification_id"])
                s = await tx.fetchrow(
                    f"SELECT {_SUB_COLUMNS} FROM push_subscriptions WHERE id = $1",
                    c["subscription_id"])
                if n is None or s is None:
                    await tx.execute(
                        "UPDATE push_jobs SET status = 'failed', done_ms = $2, last_error = $3,"
                        " lease_until_ms = NULL WHERE id = $1", c["id"], now_ms,
                        "withdrawn" if n is None else "no device")
                    continue
                jobs.append(PushJob(c["id"], _notification(n), _subscription(s), c["urgency"],
                                    int(c["attempts"])))
        return sorted(jobs, key=lambda j: j.id)

    async def finish_push_job(
        self, job_id: str, holder: str, status: str, now_ms: int, error: str | None = None
    ) -> bool:
        async with self._engine.transaction() as tx:
            sub_id = await tx.fetchval(
                "UPDATE push_jobs SET status = $3, done_ms = $4, last_error = $5,"
                " lease_until_ms = NULL WHERE id = $1 AND holder = $2 AND status = 'pending'"
                " RETURNING subscription_id", job_id, holder, status, now_ms, error)
            if sub_id is None:
                return False
            if status == "sent":
                await tx.execute(
                    "UPDATE push_subscriptions SET last_ok_ms = $2 WHERE id = $1", sub_id, now_ms)
            elif status == "gone":
                await tx.execute("DELETE FROM push_subscriptions WHERE id = $1", sub_id)
                await tx.execute(
                    "UPDATE push_jobs SET status = 'gone', done_ms = $2, last_error = $3,"
                    " lease_until_ms = NULL WHERE subscription_id = $1 AND status = 'pending'",
                    sub_id, now_ms, error)
        return True

    async def retry_push_job(self, job_id: str, holder: str, next_ms: int, error: str) -> bool:
        async with self._engine.transaction() as tx:
            done = await tx.execute(
                "UPDATE push_jobs SET next_ms = $3, last_error = $4, holder = NULL,"
                " lease_until_ms = NULL WHERE id = $1 AND holder = $2 AND status = 'pending'",
                job_id, holder, next_ms, error)
        return done > 0

    async def push_counts(self, school_id: str) -> dict[str, int]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT status, COUNT(*) AS n FROM push_jobs WHERE school_id = $1"
                " GROUP BY status", school_id)
            devices = await tx.fetchval(
                "SELECT COUNT(*) FROM push_subscriptions WHERE school_id = $1", school_id)
        counts = {s: 0 for s in ("pending", "sent", "gone", "failed")}
        counts.update({r["status"]: int(r["n"]) for r in rows})
        counts["devices"] = int(devices)
        return counts
