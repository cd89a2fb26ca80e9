"""Device proofs: a browser that logged in to an account keeps its way in
when its address's failure budget is spent.

The login throttle's per-address budget (preau/server/auth/throttle.py)
bounds guessing across many accounts from one address. A whole school sits
behind one NAT address, so one pupil's script of made-up logins could spend
that budget and lock the whole school out until it refills: the very lock
anyone may set by guessing that the per-account delays avoid. OWASP's
answer ("Slow Down Online Guessing Attacks with Device Cookies"): a browser
that already logged in to an account holds a proof of it, and its attempts
on that account are not charged to the address (they stay under the
account's own delays, which bound guessing on it whoever makes them).

A proof is ``<issued ms, hex>-<MAC>``: an HMAC-SHA256 (truncated to 120
bits) of the account's throttle key (a hash of the login, never the login)
and the time, under a key of the deployment kept in the database (every
node reads the same one). It names no one and opens nothing: it only lifts
the address's budget for attempts on that one account. A browser keeps the
proofs of the last ``MAX_PROOFS`` accounts it logged in to (a classroom
computer is shared by a class), each for ``PROOF_TTL_MS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable

# The cookie that carries them (HttpOnly, sent to /api/auth only).
DEVICE_COOKIE = "preau_device"
# deployment_keys.name of the MAC key.
DEVICE_KEY_NAME = "login.devices"
MAX_PROOFS = 40  # a class on one classroom computer; about 1.3 KB of cookie
PROOF_TTL_MS = 400 * 86_400_000  # a school year and its summer
_MAC_BYTES = 15
_MAX_COOKIE_CHARS = 4096
_MAX_CLOCK_CHARS = 12  # hex ms: until the year 10889
# ``<issued ms, lower-case hex>-<MAC, base64url>``, nothing else.
_PROOF = re.compile(
    rf"[0-9a-f]{{1,{_MAX_CLOCK_CHARS}}}-[A-Za-z0-9_-]{{{_MAC_BYTES * 4 // 3}}}", re.ASCII)

KeySource = Callable[[], Awaitable[str]]


class DeviceProofs:
    """Makes and checks proofs; ``key``: the deployment's MAC key (read once)."""

    def __init__(self, key: KeySource) -> None:
        self._key_source = key
        self._key: bytes | None = None

    async def _mac(self, account_key: str, issued_ms: int) -> str:
        if self._key is None:
            self._key = (await self._key_source()).encode()
        digest = hmac.new(self._key, f"{account_key}:{issued_ms}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:_MAC_BYTES]).decode()

    async def holds(self, cookie: str | None, account_key: str, now_ms: int) -> bool:
        """Does the cookie hold a live proof for this account?"""
        for issued_ms, mac in _proofs(cookie):
            if now_ms - issued_ms < PROOF_TTL_MS and issued_ms <= now_ms + 60_000 and (
                hmac.compare_digest(mac, await self._mac(account_key, issued_ms))
            ):
                return True
        return False

    async def add(self, cookie: str | None, account_key: str, now_ms: int) -> str:
        """The cookie with a fresh proof for this account, its older one and
        expired ones dropped, the oldest beyond ``MAX_PROOFS`` too."""
        kept = []
        for issued_ms, mac in _proofs(cookie):
            if now_ms - issued_ms >= PROOF_TTL_MS:
                continue
            if hmac.compare_digest(mac, await self._mac(account_key, issued_ms)):
                continue  # this account's previous proof: replaced
            kept.append(f"{issued_ms:x}-{mac}")
        kept.append(f"{now_ms:x}-{await self._mac(account_key, now_ms)}")
        return ".".join(kept[-MAX_PROOFS:])


def _proofs(cookie: str | None) -> list[tuple[int, str]]:
    """The well-formed proofs of a cookie (anything else is ignored: a client
    can send any bytes)."""
    if not cookie or len(cookie) > _MAX_COOKIE_CHARS:
        return []
    found = []
    for token in cookie.split(".")[:MAX_PROOFS]:
        # Checked character by character: a non-ASCII MAC would make
        # compare_digest raise (a pupil's edited cookie broke every login of
        # the browser with a 500).
        if _PROOF.fullmatch(token) is None:
            continue
        clock, _, mac = token.partition("-")
        found.append((int(clock, 16), mac))
    return found


def new_key() -> str:
    """A fresh MAC key (the first node to need one stores it for all)."""
    return secrets.token_urlsafe(32)
