"""Password hashing (argon2id) and the password policy.

Parameters follow OWASP's minimum for argon2id (19 MiB, 2 iterations, 1 lane).
Hashing costs tens of milliseconds of CPU, so callers run it in a thread to keep
the event loop free (:func:`hash_password` and :func:`verify_password` do).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# A short list of the passwords most often seen in leaks and in schools; the
# policy refuses them whatever their character classes.
COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "motdepasse", "azerty", "azertyuiop", "qwerty",
        "123456789", "12345678", "Azerty123!", "Password1!", "Motdepasse1",
        "Motdepasse1!", "Soleil123!", "Bonjour123!", "Ecole2024!", "Ecole2025!",
        "Ecole2026!", "College123!", "Loulou123!", "Marseille13!", "Paris75!",
    }
)
# Compared case-insensitively: "azerty123!" is as weak as "Azerty123!".
_COMMON_FOLDED = frozenset(p.casefold() for p in COMMON_PASSWORDS)


def password_problem(password: str) -> str | None:
    """Why a password is refused (CNIL 2022 rule for throttled logins), or None.

    At least 8 characters of at least 3 kinds (lower case, upper case, digits,
    others), not a well-known password, at most 128 characters.
    """
    if len(password) < 8:
        return "at least 8 characters"
    if len(password) > 128:
        return "at most 128 characters"
    kinds = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if kinds < 3:
        return "at least 3 kinds of characters among lower case, upper case, digits, symbols"
    if password.casefold() in _COMMON_FOLDED:
        return "too common"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-ish time whether or not the account has a hash (no enumeration by timing)."""
    return await asyncio.to_thread(_verify, stored_hash or _DUMMY_HASH, password) and bool(
        stored_hash
    )


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


_DUMMY_HASH = HASHER.hash("not a real password: used to equalise timing")
