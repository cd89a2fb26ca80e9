"""Single sign-on in SQL: logins under way (state, nonce, PKCE verifier),
the identity provider session behind each Préau session, used back-channel
logout tokens; and the directory look-up of a returned identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from preau.server.store.engine import SqlBase


@dataclass(frozen=True, slots=True)
class SsoPending:
    provider: str
    nonce: str
    verifier: str
    remember: bool


@dataclass(frozen=True, slots=True)
class SsoCandidate:
    """A person a returned identity names."""

    person_id: str
    school_uai: str
    profile: str
    active: bool


class SsoStore(Protocol):
    """What single sign-on keeps (docs/operations.md, "Single sign-on")."""

    async def sso_begin(self, state_hash: str, pending: SsoPending, expires_ms: int,
                        now_ms: int) -> None:
        """Keep a login under way (and forget the expired ones)."""

    async def sso_take(self, state_hash: str, now_ms: int) -> SsoPending | None:
        """The login under way for this state, removed: a second call (a
        replayed state) gets None, as does an expired or unknown one."""

    async def sso_candidates(self, key: Literal["external_id", "login"],
                             value: str) -> list[SsoCandidate]:
        """The people whose external id (any school) or login is ``value``."""

    async def sso_link(self, token_hash: str, provider: str, subject: str, sid: str,
                       expires_ms: int) -> None:
        """Remember which identity provider session opened this Préau session."""

    async def sso_revoke(self, provider: str, *, sid: str | None = None,
                         subject: str | None = None) -> list[str]:
        """Revoke the live sessions opened through ``provider`` with this
        ``sid`` (OIDC session, CAS ticket) or for this ``subject``; their hashes."""

    async def sso_first_use(self, jti_hash: str, expires_ms: int, now_ms: int) -> bool:
        """Record a back-channel logout token; False if it was seen before."""

    async def sso_provider_of(self, token_hash: str) -> str | None:
        """The provider that opened this session, or None (a password session)."""

    async def sso_session_of(self, token_hash: str) -> tuple[str, str, str] | None:
        """(provider, subject, sid) of the provider session that opened this
        Préau session, or None (a password session)."""

    async def sso_signed_in(self, person_id: str, now_ms: int) -> None:
        """A person's sign-in through an identity provider: their account
        counts as activated (the console stops listing it, printing letters
        issues it no code) and a pending activation code is consumed (a lost
        letter opens nothing any more)."""


class SsoSql(SqlBase, SsoStore):
    async def sso_begin(self, state_hash: str, pending: SsoPending, expires_ms: int,
                        now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute("DELETE FROM sso_pending WHERE expires_ms <= $1", now_ms)
            await tx.execute("DELETE FROM sso_sessions WHERE expires_ms <= $1", now_ms)
            await tx.execute("DELETE FROM sso_logout_tokens WHERE expires_ms <= $1", now_ms)
            await tx.execute(
                "INSERT INTO sso_pending (state_hash, provider, nonce, verifier, remember,"
                " expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                state_hash, pending.provider, pending.nonce, pending.verifier,
                int(pending.remember), expires_ms)

    async def sso_take(self, state_hash: str, now_ms: int) -> SsoPending | None:
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "DELETE FROM sso_pending WHERE state_hash = $1"
                " RETURNING provider, nonce, verifier, remember, expires_ms", state_hash)
        if row is None or int(row["expires_ms"]) <= now_ms:
            return None
        return SsoPending(row["provider"], row["nonce"], row["verifier"], bool(row["remember"]))

    async def sso_candidates(self, key: Literal["external_id", "login"],
                             value: str) -> list[SsoCandidate]:
        column = "p.external_id" if key == "external_id" else "p.login"
        if key == "login":
            value = value.lower()
        async with self._engine.transaction(readonly=True) as tx:
            rows = await tx.fetch(
                "SELECT p.id, s.uai, p.profile, p.active FROM people p"
                f" JOIN schools s ON s.id = p.school_id WHERE {column} = $1"
                " ORDER BY p.id", value)
        return [SsoCandidate(r["id"], r["uai"], r["profile"], bool(r["active"])) for r in rows]

    async def sso_link(self, token_hash: str, provider: str, subject: str, sid: str,
                       expires_ms: int) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO sso_sessions (token_hash, provider, subject, sid, expires_ms)"
                " VALUES ($1, $2, $3, $4, $5)", token_hash, provider, subject, sid, expires_ms)

    async def sso_revoke(self, provider: str, *, sid: str | None = None,
                         subject: str | None = None) -> list[str]:
        column, value = ("sid", sid) if sid is not None else ("subject", subject)
        if value is None or value == "":
            return []
        async with self._engine.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE sessions SET revoked = 1 WHERE revoked = 0 AND token_hash IN"
                f" (SELECT token_hash FROM sso_sessions WHERE provider = $1 AND {column} = $2)"
                " RETURNING token_hash", provider, value)
        return sorted(r["token_hash"] for r in rows)

    async def sso_first_use(self, jti_hash: str, expires_ms: int, now_ms: int) -> bool:
        async with self._engine.transaction() as tx:
            done = await tx.execute(
                "INSERT INTO sso_logout_tokens (jti_hash, expires_ms) VALUES ($1, $2)"
                " ON CONFLICT (jti_hash) DO NOTHING", jti_hash, max(expires_ms, now_ms))
        return done == 1

    async def sso_provider_of(self, token_hash: str) -> str | None:
        async with self._engine.transaction(readonly=True) as tx:
            found = await tx.fetchval(
                "SELECT provider FROM sso_sessions WHERE token_hash = $1", token_hash)
        return None if found is None else str(found)

    async def sso_session_of(self, token_hash: str) -> tuple[str, str, str] | None:
        async with self._engine.transaction(readonly=True) as tx:
            row = await tx.fetchrow(
                "SELECT provider, subject, sid FROM sso_sessions WHERE token_hash = $1",
                token_hash)
        return None if row is None else (str(row["provider"]), str(row["subject"]),
                                         str(row["sid"]))

    async def sso_signed_in(self, person_id: str, now_ms: int) -> None:
        async with self._engine.transaction() as tx:
            await tx.execute(
                "UPDATE people SET activation_used_hash = COALESCE(activation_hash,"
                " activation_used_hash), activation_hash = NULL, activation_expires_ms = NULL,"
                " activated_ms = COALESCE(activated_ms, $2), updated_ms = $2"
                " WHERE id = $1 AND (activation_hash IS NOT NULL OR activated_ms IS NULL)",
                person_id, now_ms)
