"""The login throttle: progressive delays per account, a failure budget per address.

What mature identity providers do (Keycloak's brute-force detection, OWASP's
authentication cheat sheet, ASVS V6.3): a lock that anyone may set by
guessing is itself an attack, so an account is never locked.

- **Per account**, the first ``free`` failures cost nothing (children
  mistype); after that, each failure makes the account's *next* attempt wait
  ``first_s``, doubled per failure, at most ``max_s`` (a minute). A correct
  password after the wait succeeds, whoever else is guessing. The count is
  kept for an hour after the last attempt; a success restarts the streak but
  not the hour's count, so an attacker gains no free guesses each time the
  owner logs in. With the defaults this allows at most 69 failures per hour
  on one account, and the settings cannot allow more than 100 (ASVS).
- **Per address** (an IPv6 /64), a budget of failures per hour, sized for a
  school behind one NAT address (hundreds of pupils at 8 am, a third of them
  mistyping); networks listed as trusted (a region's schools) get their own.
  Successes cost nothing, and each account that logged in from the address
  in the last hour adds one to its budget (up to 5,000): a school of 1,500
  earns what its pupils' mistypes cost as they arrive, a script of made-up
  logins earns nothing, and one account earns one however often it logs in.

Every attempt is counted *before* the password is checked and given back if
it succeeds, in one atomic step (a Lua script on Redis), so concurrent
attempts cannot slip past a delay or the budget. A refused attempt takes
nothing: waiting the announced ``retry_after`` is enough.

Unknown logins are throttled exactly like real ones, under a key derived from
the login typed (a SHA-256: a password typed in the login field is never
stored), so the answers do not tell whether an account exists.

The state lives where the broker lives
(:func:`preau.server.ratelimit.attempts.open_login_attempts`): in the process on
``memory://``, shared by every node on Redis.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preau.server import metrics
from preau.server.auth.tokens import normalise_login
from preau.server.directory.model import Member
from preau.server.errors import ErrorCode, PreauError, forbidden, not_found
from preau.server.ratelimit.attempts import (
    AccountState,
    AttemptPolicy,
    LoginAttempts,
    Refusal,
    open_login_attempts,
)

if TYPE_CHECKING:
    from preau.server.clock import Clock
    from preau.server.directory.service import Directory
    from preau.server.settings import Settings

log = logging.getLogger(__name__)

# ASVS 5.0 V6.3.1: at most 100 failed attempts per hour on one account.
MAX_FAILURES_PER_HOUR = 100
WINDOW_S = 3600.0
# Accounts shown in the admin view (the most recent first).
WATCH_LIMIT = 500


@dataclass(frozen=True, slots=True)
class DelayPolicy:
    free: int = 5  # failures before any delay
    first_s: float = 1.0  # the delay after the first failure past ``free``
    max_s: float = 60.0  # delays stop growing here
    window_s: float = WINDOW_S  # failures are remembered this long after the last attempt

    @classmethod
    def of(cls, settings: Settings) -> DelayPolicy:
        return cls(settings.login_free_failures, settings.login_delay_s,
                   settings.login_delay_max_s)

    def delay_after(self, failures: int) -> float:
        """Seconds the attempt after ``failures`` failures must wait."""
        if failures < self.free:
            return 0.0
        return min(self.max_s, self.first_s * 2.0 ** min(failures - self.free, 64))

    def worst_case_per_hour(self) -> int:
        """Failures one account can take in an hour, by someone who retries the
        moment each delay ends (what the ASVS bound is about)."""
        at, attempts = 0.0, 0
        while at < WINDOW_S:
            attempts += 1
            at += self.delay_after(attempts)
        return attempts

    def wire(self) -> AttemptPolicy:
        return AttemptPolicy(self.free, int(self.first_s * 1000), int(self.max_s * 1000),
                             int(self.window_s * 1000))


@dataclass(frozen=True, slots=True)
class AddressLimits:
    """Which failure budget an address gets, and the key it is counted under."""

    per_hour: int = 300
    trusted: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int], ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> AddressLimits:
        trusted = tuple(
            (ipaddress.ip_network(cidr, strict=False), settings.login_trusted_failures_per_hour)
            for cidr in settings.login_trusted_networks
        )
        return cls(settings.login_address_failures_per_hour, trusted)

    def is_trusted(self, client_ip: str) -> bool:
        """Is the address in one of the trusted networks (a region's schools)?"""
        address = _address(client_ip)
        return address is not None and any(address in network for network, _ in self.trusted)

    def limit_for(self, client_ip: str) -> tuple[str, int]:
        """(key, failures per hour) for a client address."""
        address = _address(client_ip)
        if address is None:
            return f"other:{client_ip[:64]}", self.per_hour
        for network, per_hour in self.trusted:
            if address in network:
                return str(address), per_hour
        if isinstance(address, ipaddress.IPv6Address):
            # One subscriber holds a whole /64: counting per address would
            # give an attacker 2^64 budgets.
            return str(ipaddress.ip_network(f"{address}/64", strict=False)), self.per_hour
        return str(address), self.per_hour


def _address(client_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address (an IPv4 one mapped into IPv6 as itself), or None."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def account_key(login: str) -> str:
    """The throttle's key for a login (known or not), normalised as the look-up
    normalises it (``tokens.normalise_login``)."""
    folded = normalise_login(login)
    return hashlib.sha256(b"preau-login:" + folded.encode()).hexdigest()[:32]


class LoginThrottle:
    """The throttle as AuthService uses it, plus the school admins' view."""

    def __init__(
        self,
        directory: Directory,
        clock: Clock,
        policy: DelayPolicy,
        addresses: AddressLimits,
        attempts: LoginAttempts,
    ) -> None:
        if policy.worst_case_per_hour() > MAX_FAILURES_PER_HOUR:
            raise ValueError("login delays too short: more than 100 failures per hour possible")
        self._directory = directory
        self._clock = clock
        self.policy = policy
        self.addresses = addresses
        self._attempts = attempts

    @classmethod
    def from_settings(cls, settings: Settings, directory: Directory, clock: Clock) -> LoginThrottle:
        policy = DelayPolicy.of(settings)
        return cls(directory, clock, policy, AddressLimits.of(settings),
                   open_login_attempts(settings.broker_url, policy.wire()))

    async def begin(self, login: str, client_ip: str, *, known_device: bool = False) -> str:
        """Count an attempt on ``login`` from ``client_ip``, or refuse it
        (``rate_limited`` with ``retry_after``). Returns the account key.

        ``known_device``: the client holds a proof that it logged in to this
        account before (preau/server/auth/devices.py): the attempt is not
        charged to the address's budget, only to the account's delays."""
        key = account_key(login)
        address, per_hour = self._budget(key, client_ip, known_device)
        refusal = await self._attempts.begin(key, address, per_hour, self._clock.now_ms())
        if refusal is not None:
            metrics.LOGIN_THROTTLED.inc()
            raise _refused(refusal)
        return key

    async def succeeded(self, key: str, client_ip: str, *, known_device: bool = False) -> None:
        now = self._clock.now_ms()
        address, per_hour = self._budget(key, client_ip, known_device)
        await self._attempts.succeeded(key, address, per_hour, now)
        # The address's own budget grows with the accounts that log in from it
        # (a device's proof or not: the login came from there).
        home, home_per_hour = self.addresses.limit_for(client_ip)
        await self._attempts.vouch(home, key, home_per_hour, now)

    def _budget(self, key: str, client_ip: str, known_device: bool) -> tuple[str, int]:
        if known_device:
            # A budget of the account's own, which its delays keep far from empty.
            return f"device:{key}", MAX_FAILURES_PER_HOUR
        return self.addresses.limit_for(client_ip)

    async def failed(self, person_id: str | None) -> None:
        """The attempt failed (it is already counted): list a real account in
        its school's view of accounts under attack."""
        if person_id is None:
            return
        person = await self._directory.person(person_id)
        if person is not None:
            await self._attempts.watch(person.school_id, person.id, self._clock.now_ms())

    # -- the school admins' view ---------------------------------------------
    @staticmethod
    def _school_admin(viewer: Member, school_id: str) -> None:
        if not viewer.is_admin or viewer.school_id != school_id:
            raise forbidden("this is for the school's administrators")

    async def watched(self, viewer: Member, school_id: str) -> list[dict[str, Any]]:
        """Accounts of the school with failed logins in the last hour, latest first."""
        self._school_admin(viewer, school_id)
        return await self.watched_in(school_id)

    async def watched_in(self, school_id: str) -> list[dict[str, Any]]:
        """:meth:`watched` unchecked (the operator's CLI)."""
        now = self._clock.now_ms()
        out: list[dict[str, Any]] = []
        for person_id in await self._attempts.watched(school_id, now, WATCH_LIMIT):
            person = await self._directory.person(person_id)
            if person is None or person.school_id != school_id:
                continue
            state = await self._attempts.state(account_key(person.login), now)
            if state is None:
                continue
            out.append(_state_wire(person.id, person.display_name, person.profile.value,
                                   person.login, state, now))
        return out

    async def clear(self, viewer: Member, school_id: str, person_id: str) -> None:
        """Forget an account's failures and delay (its owner can log in at once)."""
        self._school_admin(viewer, school_id)
        person = await self._directory.person(person_id)
        if person is None or person.school_id != school_id:
            # The same answer for someone of another school and for no one.
            raise not_found("no such person in this school")
        await self.clear_login(person.login, school_id, person.id)
        log.info("login delay cleared by an admin (school %s, person %s)", school_id, person.id)

    async def clear_login(self, login: str, school_id: str | None, person_id: str | None) -> None:
        await self._attempts.clear(account_key(login), school_id, person_id)

    async def clear_address(self, client_ip: str) -> str:
        """Give a client address (its /64 for IPv6) its whole failure budget
        back; the key cleared, as the throttle counts it."""
        address, _ = self.addresses.limit_for(client_ip)
        await self._attempts.clear_address(address)
        return address

    async def close(self) -> None:
        await self._attempts.close()


def _refused(refusal: Refusal) -> PreauError:
    if refusal.scope == "address":
        message = "too many failed logins from this network, try later"
    else:
        message = "too many failed attempts on this login: wait before trying again"
    return PreauError(ErrorCode.RATE_LIMITED, message, retry_after=refusal.wait_s)


def _state_wire(
    person_id: str, name: str, profile: str, login: str, state: AccountState, now_ms: int
) -> dict[str, Any]:
    return {
        "person": {"id": person_id, "name": name, "profile": profile},
        "login": login,
        "failures": state.failures,
        "consecutive": state.consecutive,
        "last_attempt": state.last_ms,
        "delayed_until": state.next_ms if state.next_ms > now_ms else None,
    }
