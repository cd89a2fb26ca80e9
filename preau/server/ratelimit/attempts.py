"""Login attempts per account and per address, shared by the nodes of a deployment.

The policy is preau/server/auth/throttle.py's; this is where its state lives. Two
counters move together, atomically, on every attempt:

- the **account**'s: ``consecutive`` attempts since its last success,
  ``failures`` in the current hour (from ``hour_ms``), the ``last_ms``
  attempt, and ``next_ms``, before which a new attempt is refused. Attempt
  number ``k = max(consecutive, failures) + 1`` sets ``next_ms = now +
  delay(k)``, where ``delay(k)`` is 0 below ``free`` and ``first_ms * 2^(k -
  free)`` capped at ``max_ms`` from there. The state is forgotten
  ``window_ms`` after the last attempt.
- the **address**'s token bucket: ``per_hour`` tokens, refilled at
  ``per_hour`` per hour; an attempt takes one. Each account that logged in
  from the address in the last ``window_ms`` (``vouch``) adds one to the
  bucket's size and gives it one token, up to :data:`MAX_VOUCHED`: a school
  of 1,500 behind one NAT address earns the failures its pupils' mistypes
  cost, where a script of made-up logins earns nothing.

An attempt is counted before the secret is checked; :meth:`LoginAttempts.succeeded`
gives it back (the streak restarts, the hour's count and the bucket get their
token back). Time is the caller's clock (``now_ms``): tests move it, and nodes
agree on it within NTP's precision, which is far below the delays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

# Accounts that may grow one address's budget (a large lycée and its staff).
MAX_VOUCHED = 5000


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    free: int = 5
    first_ms: int = 1000
    max_ms: int = 60_000
    window_ms: int = 3_600_000

    def delay_ms(self, attempt: int) -> float:
        if attempt < self.free:
            return 0.0
        return float(min(self.max_ms, self.first_ms * 2.0 ** min(attempt - self.free, 64)))


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: Literal["account", "address"]
    wait_s: float


@dataclass(frozen=True, slots=True)
class AccountState:
    consecutive: int  # attempts since the last success
    failures: int  # failed attempts in the current hour
    hour_ms: int  # when the current hour started
    last_ms: int  # the last attempt
    next_ms: int  # no attempt before this

    def current(self, now_ms: int, window_ms: int) -> AccountState | None:
        """This state as it stands at ``now_ms`` (None: forgotten)."""
        if now_ms - self.last_ms >= window_ms:
            return None
        if now_ms - self.hour_ms >= window_ms:
            return replace(self, failures=0, hour_ms=now_ms)
        return self


class LoginAttempts(Protocol):
    """Guarantees: ``begin`` checks and counts in one atomic step per
    deployment (or per node while Redis is unreachable), so no number of
    concurrent attempts gets past a delay or an address's budget; a refused
    attempt changes nothing; state is forgotten ``window_ms`` after the last
    attempt (an address's once its bucket is full again)."""

    async def begin(
        self, account: str, address: str, per_hour: int, now_ms: int
    ) -> Refusal | None:
        """Count an attempt, or say why and how long to wait."""

    async def succeeded(self, account: str, address: str, per_hour: int, now_ms: int) -> None:
        """The attempt counted by ``begin`` succeeded: give it back."""

    async def vouch(self, address: str, account: str, per_hour: int, now_ms: int) -> None:
        """``account`` logged in from ``address``: the first time in the
        window, the address's budget grows by one (up to MAX_VOUCHED)."""

    async def watch(self, school_id: str, person_id: str, now_ms: int) -> None:
        """List a person's account in its school's index of failed logins."""

    async def watched(self, school_id: str, now_ms: int, limit: int) -> list[str]:
        """Person ids with a failure in the window, latest first."""

    async def state(self, account: str, now_ms: int) -> AccountState | None: ...

    async def clear(self, account: str, school_id: str | None, person_id: str | None) -> None:
        """Forget the account's attempts (and its entry in the school's index)."""

    async def clear_address(self, address: str) -> None:
        """Give the address its whole budget back (an operator lifts a school's lockout)."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ms: int


class MemoryLoginAttempts:
    """The LoginAttempts Protocol in this process: the embedded default, the
    Redis implementation's fallback, and the reference the Lua script follows."""

    def __init__(self, policy: AttemptPolicy) -> None:
        self.policy = policy
        self._accounts: dict[str, AccountState] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._schools: dict[str, dict[str, int]] = {}
        self._vouched: dict[str, dict[str, int]] = {}  # address -> account -> last login
        self._since_sweep = 0

    async def begin(
        self, account: str, address: str, per_hour: int, now_ms: int
    ) -> Refusal | None:
        self._maybe_sweep(now_ms)
        policy = self.policy
        known = self._accounts.get(account)
        state = known.current(now_ms, policy.window_ms) if known else None
        if state is not None and state.next_ms > now_ms:
            return Refusal("account", (state.next_ms - now_ms) / 1000)
        rate = per_hour / 3_600_000  # tokens per ms
        size = per_hour + self._vouchers(address, now_ms)
        bucket = self._buckets.get(address)
        tokens = float(size) if bucket is None else min(
            size, bucket.tokens + max(0, now_ms - bucket.at_ms) * rate
        )
        if tokens < 1:
            return Refusal("address", (1 - tokens) / rate / 1000)
        self._buckets[address] = _Bucket(tokens - 1, now_ms)
        consecutive = state.consecutive if state else 0
        failures = state.failures if state else 0
        attempt = max(consecutive, failures) + 1
        self._accounts[account] = AccountState(
            consecutive + 1, failures + 1, state.hour_ms if state else now_ms, now_ms,
            now_ms + int(policy.delay_ms(attempt)),
        )
        return None

    async def succeeded(self, account: str, address: str, per_hour: int, now_ms: int) -> None:
        known = self._accounts.get(account)
        state = known.current(now_ms, self.policy.window_ms) if known else None
        if state is not None:
            failures = max(0, state.failures - 1)
            if failures == 0:
                del self._accounts[account]
            else:
                self._accounts[account] = replace(state, consecutive=0, failures=failures,
                                                  next_ms=0)
        self._give(address, per_hour, now_ms)

    async def vouch(self, address: str, account: str, per_hour: int, now_ms: int) -> None:
        vouched = self._vouched.setdefault(address, {})
        new = account not in vouched and self._vouchers(address, now_ms) < MAX_VOUCHED
        if account in vouched or new:
            vouched[account] = now_ms
        if new:
            self._give(address, per_hour, now_ms)  # the size grew by one: so do the tokens

    def _vouchers(self, address: str, now_ms: int) -> int:
        """Accounts that logged in from ``address`` in the window."""
        vouched = self._vouched.get(address)
        if not vouched:
            return 0
        for account in [a for a, at in vouched.items() if now_ms - at >= self.policy.window_ms]:
            del vouched[account]
        return len(vouched)

    def _give(self, address: str, per_hour: int, now_ms: int) -> None:
        """One token back to the address's bucket (forgotten once full)."""
        bucket = self._buckets.get(address)
        if bucket is not None:
            rate = per_hour / 3_600_000
            size = per_hour + self._vouchers(address, now_ms)
            tokens = min(size, bucket.tokens + max(0, now_ms - bucket.at_ms) * rate + 1)
            if tokens >= size:
                del self._buckets[address]
            else:
                self._buckets[address] = _Bucket(tokens, now_ms)

    async def watch(self, school_id: str, person_id: str, now_ms: int) -> None:
        self._schools.setdefault(school_id, {})[person_id] = now_ms

    async def watched(self, school_id: str, now_ms: int, limit: int) -> list[str]:
        index = self._schools.get(school_id, {})
        for person_id in [p for p, at in index.items() if now_ms - at >= self.policy.window_ms]:
            del index[person_id]
        return sorted(index, key=lambda p: -index[p])[:limit]

    async def state(self, account: str, now_ms: int) -> AccountState | None:
        known = self._accounts.get(account)
        return known.current(now_ms, self.policy.window_ms) if known else None

    async def clear(self, account: str, school_id: str | None, person_id: str | None) -> None:
        self._accounts.pop(account, None)
        if school_id is not None and person_id is not None:
            self._schools.get(school_id, {}).pop(person_id, None)

    async def clear_address(self, address: str) -> None:
        self._buckets.pop(address, None)

    def _maybe_sweep(self, now_ms: int) -> None:
        """Drop forgotten accounts and full buckets now and then: memory stays bounded."""
        self._since_sweep += 1
        if self._since_sweep < 1000:
            return
        self._since_sweep = 0
        window = self.policy.window_ms
        for key in [k for k, s in self._accounts.items() if now_ms - s.last_ms >= window]:
            del self._accounts[key]
        # A bucket is full again after at most an hour without attempts.
        for key in [k for k, b in self._buckets.items() if now_ms - b.at_ms >= 3_600_000]:
            del self._buckets[key]
        for address in list(self._vouched):
            if not self._vouchers(address, now_ms):
                del self._vouched[address]
        for school_id, index in list(self._schools.items()):
            for person_id in [p for p, at in index.items() if now_ms - at >= window]:
                del index[person_id]
            if not index:
                del self._schools[school_id]

    async def close(self) -> None:
        """Nothing to release."""


def open_login_attempts(url: str, policy: AttemptPolicy) -> LoginAttempts:
    """``memory://``: per process. ``redis://…`` or ``rediss://…``: per deployment."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryLoginAttempts(policy)
    if scheme in ("redis", "rediss"):
        from preau.server.ratelimit.attempts_redis import RedisLoginAttempts

        return RedisLoginAttempts(url, policy)
    raise ValueError(f"unknown rate limiter URL scheme {scheme!r}: expected memory:// or redis://")
