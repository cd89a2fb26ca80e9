"""Password recovery links in SQL (``password_resets``, migration 0070).

The decisions (who may get a link, the answer that never tells) are
``preau/server/auth/recovery.py``; here, the rows: a link's token is kept as
its SHA-256 only, used once, and a newer link replaces the person's pending
one. Using a link sets the password in the same transaction that marks it
used, so two racing uses cannot both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass

from preau.server.directory.model import Profile
from preau.server.store.engine import SqlBase
from preau.server.store.rows import opt_str


@dataclass(frozen=True, slots=True)
class RecoveryTarget:
    """What deciding on a recovery request needs to know of a login."""

    person_id: str
    school_id: str
    profile: Profile
    active: bool
    email: str | None  # None: no address, or one the relay refuses (bouncing)
    first_name: str


class RecoveryStore(SqlBase):
    """Recovery links (``password_resets``)."""

    async def recovery_target(self, login: str) -> RecoveryTarget | None:
        """The person with this login and their usable address, in one read."""
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(
                "SELECT p.id, p.school_id, p.profile, p.active, p.first_name, e.email,"
                " e.bouncing_ms FROM people p LEFT JOIN person_emails e ON e.person_id = p.id"
                " WHERE p.login = $1", login.lower())
        if r is None:
            return None
        email = opt_str(r["email"]) if r["bouncing_ms"] is None else None
        return RecoveryTarget(r["id"], r["school_id"], Profile(r["profile"]), bool(r["active"]),
                              email, r["first_name"])

    async def create_reset(
        self, person_id: str, token_hash: str, now_ms: int, expires_ms: int
    ) -> None:
        """A new link for the person; their earlier unused links stop working."""
        async with self._engine.transaction() as tx:
            await tx.execute(
                "DELETE FROM password_resets WHERE person_id = $1 AND used_ms IS NULL",
                person_id)
            await tx.execute(
                "INSERT INTO password_resets (token_hash, person_id, created_ms, expires_ms)"
                " VALUES ($1, $2, $3, $4)", token_hash, person_id, now_ms, expires_ms)

    async def use_reset(self, token_hash: str, password_hash: str, now_ms: int) -> str | None:
        """Mark the link used and set the person's password (a pending
        activation code goes too), in one transaction. Returns the person's
        id, or None: unknown, used, expired, or the account closed."""
        async with self._engine.transaction() as tx:
            person_id = await tx.fetchval(
                "UPDATE password_resets SET used_ms = $2 WHERE token_hash = $1"
                " AND used_ms IS NULL AND expires_ms > $2 RETURNING person_id",
                token_hash, now_ms)
            if person_id is None:
                return None
            changed = await tx.execute(
                "UPDATE people SET password_hash = $2, activation_hash = NULL,"
                " activation_expires_ms = NULL, updated_ms = $3 WHERE id = $1 AND active = 1",
                person_id, password_hash, now_ms)
            if changed == 0:
                await tx.rollback()
                return None
        return str(person_id)

    async def reset_person(self, token_hash: str, now_ms: int) -> str | None:
        """Whose link this is while it is usable (unknown, used, expired: None)."""
        async with self._engine.transaction(readonly=True) as tx:
            found = await tx.fetchval(
                "SELECT person_id FROM password_resets WHERE token_hash = $1 AND used_ms IS NULL"
                " AND expires_ms > $2", token_hash, now_ms)
        return opt_str(found)

    async def purge_resets(self, now_ms: int) -> int:
        """Forget used and expired links."""
        async with self._engine.transaction() as tx:
            return await tx.execute(
                "DELETE FROM password_resets WHERE used_ms IS NOT NULL OR expires_ms <= $1",
                now_ms)
