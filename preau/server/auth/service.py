"""Login, activation, sessions and their revocation.

A session is a random token given to the client (cookie for browsers, bearer
for programs); the store keeps its SHA-256 only. A session ends at its absolute
expiry, after ``session_idle_s`` without use, or when revoked (logout, password
change). Revocation is announced through ``on_revoke`` so that the gateway of
every node closes the sockets opened with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from preau.server import metrics
from preau.server.auth import passwords, tokens
from preau.server.auth.devices import DEVICE_KEY_NAME, DeviceProofs, new_key
from preau.server.auth.throttle import LoginThrottle, account_key
from preau.server.clock import Clock
from preau.server.directory.model import Member
from preau.server.directory.rules import may_issue_code
from preau.server.directory.service import Directory
from preau.server.errors import ErrorCode, PreauError, not_found
from preau.server.settings import Settings
from preau.server.store import Credentials, SessionRecord, Store

log = logging.getLogger(__name__)

RevokeListener = Callable[[list[str]], Awaitable[None]]
# (school UAI, profile) → may this profile log in and activate with a password?
# Set by the composition root from the single sign-on file (preau/server/sso/config.py).
PasswordPolicy = Callable[[str, str], bool]
PASSWORD_OFF = "password login is turned off for your profile: sign in with your school's portal"

WRONG_LOGIN = "wrong login or password"
WRONG_CODE = "wrong login or code"

# Refresh last_seen at most this often: a busy client must not write per request.
TOUCH_EVERY_MS = 60_000
TOUCH_BATCH_S = 0.5  # the touches of this long go in one write
# A session read from the store is trusted this long after its last use
# (a resolve, or the minute keep-alive of its open sockets) without reading it
# again: a class reconnecting at once reads no session row (issue 14, aim 4).
# Every revocation forgets it first (``forget_sessions``: this node's, and the
# other nodes' through the hub's sessions channel), so a revoked session is
# refused at once; a broker outage forgets them all (the hub's resync).
SESSION_CACHE_S = 300.0
SESSION_CACHE_MAX = 200_000
DEVICE_CHARS = 120  # the device's description, as stored
DEVICE_ID_CHARS = 16  # of the token's SHA-256 hex digest: 64 bits, no collisions per person


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    person_id: str
    kind: str
    expires_ms: int
    remember: bool = False


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """One of a person's open sessions, as they see it in their settings."""

    id: str  # a prefix of the token's hash: names it, opens nothing
    device: str
    created_ms: int
    last_seen_ms: int
    expires_ms: int
    remembered: bool
    current: bool


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    session: Session
    # The client's device proofs with one for this account (a password login
    # or an activation; preau/server/auth/devices.py), for it to keep.
    device_proofs: str | None = None


class AuthService:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        settings: Settings,
        clock: Clock,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._store = store
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self.throttle = throttle or LoginThrottle.from_settings(settings, directory, clock)
        self.proofs = DeviceProofs(
            lambda: store.deployment_key(DEVICE_KEY_NAME, new_key(), clock.now_ms()))
        self._revoke_listeners: list[RevokeListener] = []
        self.password_allowed: PasswordPolicy = lambda _school, _profile: True
        # token hash → (record as last read or touched, monotonic time of its last use)
        self._sessions: dict[str, tuple[SessionRecord, float]] = {}
        # Bumped by every forget: a store read that overlapped one is not cached.
        self._forgets = 0
        self._to_touch: set[str] = set()  # sessions used, written together soon
        self._toucher: asyncio.Task[None] | None = None

    def forget_sessions(self, token_hashes: list[str] | None) -> None:
        """Drop cached sessions (revoked, on any node); ``None``: all of them."""
        self._forgets += 1
        if token_hashes is None:
            self._sessions.clear()
            return
        for token_hash in token_hashes:
            self._sessions.pop(token_hash, None)

    def _cache(self, record: SessionRecord) -> None:
        sessions = self._sessions
        sessions.pop(record.token_hash, None)  # most recent last
        if len(sessions) >= SESSION_CACHE_MAX:
            del sessions[next(iter(sessions))]
        sessions[record.token_hash] = (record, time.monotonic())

    def on_revoke(self, listener: RevokeListener) -> None:
        self._revoke_listeners.append(listener)

    async def _announce_revoked(self, token_hashes: list[str]) -> None:
        if not token_hashes:
            return
        self.forget_sessions(token_hashes)
        for listener in self._revoke_listeners:
            await listener(token_hashes)

    # -- login and activation -------------------------------------------------
    # Every path that checks a secret typed by someone (login, activation code,
    # the current password when changing it) goes through the throttle
    # (preau/server/auth/throttle.py): counted before the check, given back on success.
    # Unknown login, wrong password and closed account take the same path (one
    # store read, one throttle step, one argon2id verification, against a dummy
    # hash when there is no real one) and get the same answer.

    async def _fail(
        self, person_id: str | None, code: ErrorCode, message: str
    ) -> PreauError:
        await self.throttle.failed(person_id)
        metrics.LOGIN_FAILURE.inc()
        log.info("login refused: %s", code.value)
        return PreauError(code, message)

    async def login(self, login: str, password: str, client_ip: str, kind: str,
                    remember: bool = False, device: str = "",
                    device_proofs: str | None = None) -> IssuedSession:
        """``device_proofs``: what the client keeps of its earlier logins
        (preau/server/auth/devices.py); the answer holds them with this one."""
        login = tokens.normalise_login(login)  # one form for the throttle and the look-up
        seen_here = await self._known_device(device_proofs, login)
        key = await self.throttle.begin(login, client_ip, known_device=seen_here)
        creds = await self._store.credentials_by_login(login)
        ok = await passwords.verify_password(
            creds.password_hash if creds and creds.active else None, password
        )
        if creds is None or not creds.active or not ok:
            known = creds.person_id if creds is not None else None
            if creds is not None and creds.active and creds.password_hash is None:
                raise await self._fail(
                    known,
                    ErrorCode.ACTIVATION_REQUIRED,
                    "this account is not activated yet: use your activation code",
                )
            raise await self._fail(known, ErrorCode.INVALID_CREDENTIALS, WRONG_LOGIN)
        assert creds.password_hash is not None
        await self.throttle.succeeded(key, client_ip, known_device=seen_here)
        # Checked once the password is right: only its holder learns the profile's rule.
        await self._check_password_allowed(creds.person_id)
        metrics.LOGIN_SUCCESS.inc()
        if passwords.needs_rehash(creds.password_hash):
            new_hash = await passwords.hash_password(password)
            await self._store.set_password(creds.person_id, new_hash, self._clock.now_ms())
        issued = await self._open_session(creds.person_id, kind, remember, device)
        return await self._with_proof(issued, device_proofs, key)

    async def activate(
        self, login: str, code: str, new_password: str, client_ip: str, kind: str,
        device: str = "", device_proofs: str | None = None,
    ) -> IssuedSession:
        """First login: the one-time code plus the password the person chooses."""
        # The policy first: it involves no secret, so a weak choice costs no attempt.
        problem = passwords.password_problem(new_password)
        if problem is not None:
            raise PreauError(ErrorCode.WEAK_PASSWORD, f"password refused: {problem}")
        login = tokens.normalise_login(login)  # one form for the throttle and the look-up
        seen_here = await self._known_device(device_proofs, login)
        key = await self.throttle.begin(login, client_ip, known_device=seen_here)
        creds = await self._store.credentials_by_login(login)
        code_hash = tokens.digest(tokens.normalise_code(code))
        now = self._clock.now_ms()
        await self._check_code(creds, code_hash, now)
        assert creds is not None
        await self._check_password_allowed(creds.person_id)  # the code was right
        problem = await self._personal_problem(creds.person_id, creds.login, new_password)
        if problem is not None:  # the code was right: no failure is counted
            await self.throttle.succeeded(key, client_ip, known_device=seen_here)
            raise PreauError(ErrorCode.WEAK_PASSWORD, f"password refused: {problem}")
        password_hash = await passwords.hash_password(new_password)
        if not await self._store.activate(creds.person_id, password_hash, now):
            raise await self._fail(
                creds.person_id, ErrorCode.ACTIVATION_USED, "this activation code was used"
            )
        await self.throttle.succeeded(key, client_ip, known_device=seen_here)
        log.info("account activated")
        issued = await self._open_session(creds.person_id, kind, device=device)
        return await self._with_proof(issued, device_proofs, key)

    async def _known_device(self, device_proofs: str | None, login: str) -> bool:
        return bool(device_proofs) and await self.proofs.holds(
            device_proofs, account_key(login), self._clock.now_ms())

    async def _with_proof(self, issued: IssuedSession, device_proofs: str | None,
                          key: str) -> IssuedSession:
        proofs = await self.proofs.add(device_proofs, key, self._clock.now_ms())
        return dataclasses.replace(issued, device_proofs=proofs)

    async def _check_password_allowed(self, person_id: str) -> None:
        """``password_login_off`` for a profile that signs in through its SSO only."""
        member = await self._directory.member(person_id)
        school = await self._directory.school(member.school_id) if member is not None else None
        if member is not None and school is not None and not self.password_allowed(
                school.school.uai, member.profile.value):
            log.info("password login refused: off for this profile")
            raise PreauError(ErrorCode.PASSWORD_LOGIN_OFF, PASSWORD_OFF)

    async def open_session(self, person_id: str, kind: str, remember: bool = False,
                           device: str = "") -> IssuedSession:
        """A session for someone another way proved (single sign-on)."""
        metrics.LOGIN_SUCCESS.inc()
        return await self._open_session(person_id, kind, remember, device)

    async def revoke_sessions(self, token_hashes: list[str]) -> None:
        """Announce sessions revoked in the store (single logout): their sockets close
        on every node."""
        await self._announce_revoked(token_hashes)

    async def _personal_problem(self, person_id: str, login: str, password: str) -> str | None:
        """The policy's personal part: the login and the names are not in it."""
        person = await self._directory.person(person_id)
        names = (person.first_name, person.last_name) if person is not None else ()
        return passwords.password_problem(password, login=login, names=names)

    async def _check_code(self, creds: Credentials | None, code_hash: str, now: int) -> None:
        known = creds.person_id if creds is not None else None
        if creds is None or not creds.active:
            raise await self._fail(known, ErrorCode.INVALID_CREDENTIALS, WRONG_CODE)
        if creds.activation_hash is None or creds.activation_hash != code_hash:
            # Only someone holding the code learns that it was already used.
            if creds.activation_used_hash == code_hash:
                raise await self._fail(
                    known, ErrorCode.ACTIVATION_USED, "this activation code was used"
                )
            raise await self._fail(known, ErrorCode.INVALID_CREDENTIALS, WRONG_CODE)
        if creds.activation_expires_ms is not None and creds.activation_expires_ms <= now:
            raise await self._fail(
                known,
                ErrorCode.ACTIVATION_EXPIRED,
                "this activation code has expired: ask the school for a new one",
            )

    async def _open_session(self, person_id: str, kind: str, remember: bool = False,
                            device: str = "") -> IssuedSession:
        token = tokens.new_session_token()
        now = self._clock.now_ms()
        if remember:  # only the profiles the deployment allows (never pupils by default)
            person = await self._directory.person(person_id)
            remember = (person is not None
                        and person.profile.value in self._settings.remember_profiles)
        lifetime = self._settings.remember_max_s if remember else self._settings.session_max_s
        record = SessionRecord(
            token_hash=tokens.digest(token),
            person_id=person_id,
            kind=kind,
            created_ms=now,
            last_seen_ms=now,
            expires_ms=now + lifetime * 1000,
            remember=remember,
            device=device[:DEVICE_CHARS],
        )
        await self._store.create_session(record)
        return IssuedSession(token, _session_of(record))

    # -- using and ending sessions -------------------------------------------
    async def resolve(self, token: str) -> Session | None:
        """The live session for a token, or None (unknown, revoked, idle or expired)."""
        if not token or len(token) > 128:
            return None
        token_hash = tokens.digest(token)
        now = self._clock.now_ms()
        cached = self._sessions.get(token_hash)
        record = None
        if cached is not None and time.monotonic() - cached[1] < SESSION_CACHE_S \
                and self._live(cached[0], now):
            record = cached[0]  # else read again: it may have been touched elsewhere
        if record is None:
            forgets = self._forgets
            record = await self._store.get_session(token_hash)
            if record is None or not self._live(record, now):
                self._sessions.pop(token_hash, None)
                return None
        else:
            forgets = self._forgets
        if now - record.last_seen_ms >= TOUCH_EVERY_MS:
            self._touch_soon(record.token_hash)
            record = dataclasses.replace(record, last_seen_ms=now)
        if forgets == self._forgets:  # no revocation came by meanwhile
            self._cache(record)
        return _session_of(record)

    def _touch_soon(self, token_hash: str) -> None:
        """Mark a session used, in one write with the others of the next
        moment: a class reconnecting at once is one write, not one per
        socket (idle limits are minutes: a touch late by a fraction of a
        second changes nothing)."""
        self._to_touch.add(token_hash)
        if self._toucher is None:
            self._toucher = asyncio.get_running_loop().create_task(self._touch_later())

    async def _touch_later(self) -> None:
        try:
            await asyncio.sleep(TOUCH_BATCH_S)
        finally:
            self._toucher = None
            await self._flush_touches()

    async def _flush_touches(self) -> None:
        hashes, self._to_touch = sorted(self._to_touch), set()
        if not hashes:
            return
        try:
            await self._store.touch_sessions(hashes, self._clock.now_ms())
        except Exception:  # the store is down: the next use touches them again
            log.warning("could not mark %d sessions as used", len(hashes), exc_info=True)

    def _live(self, record: SessionRecord, now: int) -> bool:
        """Not revoked, expired or idle (as far as ``record`` knows)."""
        return (not record.revoked and record.expires_ms > now
                and record.last_seen_ms + self._idle_ms(record) > now)

    async def alive(self, token_hash: str) -> bool:
        """Is this session still valid (not revoked, idle or expired)?"""
        record = await self._store.get_session(token_hash)
        return record is not None and self._valid(record, self._clock.now_ms())

    async def ended_among(self, token_hashes: Sequence[str]) -> set[str]:
        """Those of ``token_hashes`` no longer valid (revoked, idle, expired, gone)."""
        now = self._clock.now_ms()
        valid = {r.token_hash for r in await self._store.get_sessions(token_hashes)
                 if self._valid(r, now)}
        return set(token_hashes) - valid

    def _valid(self, record: SessionRecord, now: int) -> bool:
        return (not record.revoked and record.expires_ms > now
                and record.last_seen_ms + self._idle_ms(record) > now)

    def _idle_ms(self, record: SessionRecord) -> int:
        idle = self._settings.remember_idle_s if record.remember else self._settings.session_idle_s
        return idle * 1000

    async def devices(self, session: Session) -> list[DeviceSession]:
        """The person's open sessions (this one marked ``current``)."""
        now = self._clock.now_ms()
        return [
            DeviceSession(
                id=r.token_hash[:DEVICE_ID_CHARS], device=r.device, created_ms=r.created_ms,
                last_seen_ms=r.last_seen_ms, expires_ms=r.expires_ms, remembered=r.remember,
                current=r.token_hash == session.token_hash)
            for r in await self._store.person_sessions(session.person_id, now)
            if r.last_seen_ms + self._idle_ms(r) > now
        ]

    async def end_device(self, session: Session, device_id: str) -> None:
        """End one of the person's own sessions (its sockets close); any other
        id is ``not_found``, like one that never existed."""
        now = self._clock.now_ms()
        for record in await self._store.person_sessions(session.person_id, now):
            if record.token_hash[:DEVICE_ID_CHARS] == device_id:
                await self._store.revoke_session(record.token_hash)
                await self._announce_revoked([record.token_hash])
                return
        raise PreauError(ErrorCode.NOT_FOUND, "no such session")

    async def keep_alive(self, token_hashes: list[str]) -> None:
        """Mark sessions used by open sockets, so an active chat never idles out."""
        if token_hashes:
            now = self._clock.now_ms()
            await self._store.touch_sessions(token_hashes, now)
            used = time.monotonic()
            for token_hash in token_hashes:  # in use: kept in the cache
                cached = self._sessions.get(token_hash)
                if cached is not None:
                    self._sessions[token_hash] = (
                        dataclasses.replace(cached[0], last_seen_ms=now), used)

    async def logout(self, session: Session) -> None:
        await self._store.revoke_session(session.token_hash)
        await self._announce_revoked([session.token_hash])

    async def change_password(
        self, session: Session, current: str, new: str, client_ip: str
    ) -> None:
        """Change the password; every other session of the person ends, sockets included.

        Checking ``current`` is a login attempt like any other (throttled on
        the account and the address): a stolen session must not become a way
        to guess the password at full speed."""
        person = await self._directory.person(session.person_id)
        if person is None:
            raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
        problem = passwords.password_problem(
            new, login=person.login, names=(person.first_name, person.last_name))
        if problem is not None:
            raise PreauError(ErrorCode.WEAK_PASSWORD, f"password refused: {problem}")
        key = await self.throttle.begin(person.login, client_ip)
        creds = await self._store.credentials_by_login(person.login)
        if creds is None or not await passwords.verify_password(creds.password_hash, current):
            raise await self._fail(
                person.id, ErrorCode.INVALID_CREDENTIALS, "the current password is wrong"
            )
        await self.throttle.succeeded(key, client_ip)
        new_hash = await passwords.hash_password(new)
        await self._store.set_password(session.person_id, new_hash, self._clock.now_ms())
        revoked = await self._store.revoke_person_sessions(
            session.person_id, keep=session.token_hash
        )
        await self._announce_revoked(revoked)

    async def close(self) -> None:
        if self._toucher is not None:
            self._toucher.cancel()  # its finally writes what waits
            with contextlib.suppress(asyncio.CancelledError):
                await self._toucher
        await self._flush_touches()
        await self.throttle.close()

    async def revoke_person(self, person_id: str) -> None:
        """End every session of a person (account closed, role changed)."""
        await self._announce_revoked(await self._store.revoke_person_sessions(person_id))

    async def issue_activation_code(
        self, person_id: str, by: tuple[str, str] | None = None,
    ) -> str:
        """A new one-time code (lost code, forgotten password); ends the person's
        sessions. ``by``: (school, actor), audited."""
        code = tokens.new_activation_code()
        now = self._clock.now_ms()
        expires = now + self._settings.activation_ttl_s * 1000
        await self._store.reset_activation(person_id, tokens.digest(code), expires, now, by)
        await self.revoke_person(person_id)
        return code

    async def new_code_for(self, viewer: Member, person_id: str) -> tuple[str, str, int]:
        """A forgotten password or a lost code, handled at school: an admin
        (anyone of the school) or a teacher (the pupils they teach) hands the
        person a new activation code, on paper, never by e-mail to a child.
        Returns (login, code, expiry); anyone else out of reach is ``not_found``."""
        member = await self._directory.member(person_id)
        person = await self._directory.person(person_id) if member is not None else None
        if (member is None or person is None or not person.active
                or not may_issue_code(viewer, member)):
            raise not_found("no such person")
        code = await self.issue_activation_code(person_id, by=(viewer.school_id, viewer.id))
        expires = self._clock.now_ms() + self._settings.activation_ttl_s * 1000
        return person.login, code, expires


def _session_of(record: SessionRecord) -> Session:
    return Session(record.token_hash, record.person_id, record.kind, record.expires_ms,
                   record.remember)
