"""Accounts and sessions in SQL: credentials, activation, passwords, the
sessions of browsers and programs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from preau.server.store.engine import Row, SqlBase
from preau.server.store.records import AuditAction, Credentials, SessionRecord
from preau.server.store.rows import audit, opt_int, opt_str

_SESSION_COLUMNS = ("token_hash, person_id, kind, created_ms, last_seen_ms, expires_ms, revoked,"
                    " remember, device")


def _session(r: Row) -> SessionRecord:
    return SessionRecord(
        token_hash=r["token_hash"],
        person_id=r["person_id"],
        kind=r["kind"],
        created_ms=int(r["created_ms"]),
        last_seen_ms=int(r["last_seen_ms"]),
        expires_ms=int(r["expires_ms"]),
        revoked=bool(r["revoked"]),
        remember=bool(r["remember"]),
        device=str(r["device"]),
    )


# Sessions per statement of get_sessions (SQLite allows 32,766 parameters).
SESSIONS_PER_READ = 500

class AccountStore(Protocol):
    """Credentials, activation and sessions."""

    async def credentials_by_login(self, login: str) -> Credentials | None: ...

    async def activate(self, person_id: str, password_hash: str, now_ms: int) -> bool:
        """Set the first password and consume the activation code.

        Returns False if the code was consumed meanwhile (two racing activations:
        exactly one wins)."""

    async def set_password(self, person_id: str, password_hash: str, now_ms: int) -> None: ...

    async def reset_activation(
        self, person_id: str, activation_hash: str, expires_ms: int, now_ms: int,
        by: tuple[str, str] | None = None,
    ) -> None:
        """Issue a new activation code (a lost code, a forgotten password): the
        password is cleared and the person must activate again. ``by``: (school,
        actor) when someone of the school did it, audited in the same transaction."""

    async def create_session(self, session: SessionRecord) -> None: ...

    async def get_session(self, token_hash: str) -> SessionRecord | None: ...

    async def touch_sessions(self, token_hashes: Sequence[str], now_ms: int) -> None: ...

    async def get_sessions(self, token_hashes: Sequence[str]) -> list[SessionRecord]:
        """``get_session`` of many at once (those stored)."""

    async def person_sessions(self, person_id: str, now_ms: int) -> list[SessionRecord]:
        """The person's sessions not revoked nor past their lifetime, latest used first."""

    async def revoke_session(self, token_hash: str) -> None: ...

    async def revoke_person_sessions(self, person_id: str, keep: str | None = None) -> list[str]:
        """Revoke every live session of a person except ``keep``; return the revoked hashes."""

    async def delete_expired_sessions(self, now_ms: int) -> int: ...


class AccountsSql(SqlBase, AccountStore):
    """Accounts and sessions in SQL."""

    # -- accounts ----------------------------------------------------------

    async def credentials_by_login(self, login: str) -> Credentials | None:
        """Case-insensitive: stored logins are lowercase ASCII."""
        async with self._engine.transaction(readonly=True) as tx:
            r = await tx.fetchrow(
                "SELECT id, login, active, password_hash, activation_hash,"
                " activation_expires_ms, activation_used_hash FROM people WHERE login = $1",
                login.lower(),
            )
        if r is None:
            return None
        return Credentials(
            person_id=r["id"],
            login=r["login"],
            active=bool(r["active"]),
            password_hash=opt_str(r["password_hash"]),
            activation_hash=opt_str(r["activation_hash"]),
            activation_expires_ms=opt_int(r["activation_expires_ms"]),
            activation_used_hash=opt_str(r["activation_used_hash"]),
        )

    async def activate(self, person_id: str, password_hash: str, now_ms: int) -> bool:
        """Succeeds only while an activation code is pending: of two racing
        activations, the second finds it consumed. Expiry is the caller's check."""
        async with self._engine.transaction() as tx:
            # On the right-hand side every column still has its old value, so
            # the pending code moves into activation_used_hash.
            changed = await tx.execute(
                "UPDATE people SET password_hash = $2, activation_used_hash = activation_hash,"
                " activation_hash = NULL, activation_expires_ms = NULL, activated_ms = $3,"
                " updated_ms = $3 WHERE id = $1 AND activation_hash IS NOT NULL",
                person_id,
                password_hash,
                now_ms,
            )
        return changed == 1

    async def set_password(self, person_id: str, password_hash: str, now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE people SET password_hash = $2, updated_ms = $3 WHERE id = $1",
                person_id,
                password_hash,
                now_ms,
            )
        if changed == 0:
            raise LookupError(f"no person {person_id!r}")

    async def reset_activation(
        self, person_id: str, activation_hash: str, expires_ms: int, now_ms: int,
        by: tuple[str, str] | None = None,
    ) -> None:
        async with self._engine.transaction() as tx:
            changed = await tx.execute(
                "UPDATE people SET password_hash = NULL, activation_hash = $2,"
                " activation_expires_ms = $3, updated_ms = $4 WHERE id = $1",
                person_id,
                activation_hash,
                expires_ms,
                now_ms,
            )
            if changed and by is not None:
                school_id, actor_id = by
                await audit(tx, school_id, None, actor_id, AuditAction.ACCOUNT_NEW_CODE, now_ms,
                            target_person_id=person_id)
        if changed == 0:
            raise LookupError(f"no person {person_id!r}")

    # -- sessions ----------------------------------------------------------

    async def create_session(self, session: SessionRecord) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                session.token_hash,
                session.person_id,
                session.kind,
                session.created_ms,
                session.last_seen_ms,
                session.expires_ms,
                int(session.revoked),
                int(session.remember),
                session.device,
            )

    async def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session as stored, revoked or expired ones included: the caller judges."""
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = $1", token_hash
            )
        return None if row is None else _session(row)

    async def get_sessions(self, token_hashes: Sequence[str]) -> list[SessionRecord]:
        found: list[SessionRecord] = []
        async with self._engine.transaction(readonly=True) as tx:
            for start in range(0, len(token_hashes), SESSIONS_PER_READ):
                part = token_hashes[start:start + SESSIONS_PER_READ]
                marks = ", ".join(f"${i}" for i in range(1, len(part) + 1))
                rows = await tx.fetch(
                    f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash IN ({marks})",
                    *part)
                found += [_session(r) for r in rows]
        return found

    async def touch_sessions(self, token_hashes: Sequence[str], now_ms: int) -> None:
        """Set ``last_seen_ms`` to ``now_ms``; it never moves backwards."""
        if not token_hashes:
            return
        async with self._engine.transaction() as tx:
            await tx.executemany(
                "UPDATE sessions SET last_seen_ms = $2 WHERE token_hash = $1 AND last_seen_ms < $2",
                [(h, now_ms) for h in token_hashes],
            )

    async def person_sessions(self, person_id: str, now_ms: int) -> list[SessionRecord]:
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE person_id = $1 AND revoked = 0"
                " AND expires_ms > $2 ORDER BY last_seen_ms DESC, token_hash", person_id, now_ms)
        return [_session(r) for r in rows]

    async def revoke_session(self, token_hash: str) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute("UPDATE sessions SET revoked = 1 WHERE token_hash = $1", token_hash)

    async def revoke_person_sessions(self, person_id: str, keep: str | None = None) -> list[str]:
        """Revoke the person's sessions not revoked yet, except ``keep``."""
        async with self._engine.transaction() as tx:
            if keep is None:
                rows = await tx.fetch(
                    "UPDATE sessions SET revoked = 1 WHERE person_id = $1 AND revoked = 0"
                    " RETURNING token_hash",
                    person_id,
                )
            else:
                rows = await tx.fetch(
                    "UPDATE sessions SET revoked = 1 WHERE person_id = $1 AND revoked = 0"
                    " AND token_hash <> $2 RETURNING token_hash",
                    person_id,
                    keep,
                )
        return sorted(r["token_hash"] for r in rows)

    async def delete_expired_sessions(self, now_ms: int) -> int:
        """Delete sessions whose ``expires_ms <= now_ms``; return how many."""
        async with self._engine.transaction() as tx:
            return await tx.execute("DELETE FROM sessions WHERE expires_ms <= $1", now_ms)
