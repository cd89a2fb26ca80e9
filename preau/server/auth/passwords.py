"""Password hashing (argon2id) and the password policy.

Parameters follow OWASP's minimum for argon2id (19 MiB, 2 iterations, 1 lane).
Hashing costs tens of milliseconds of CPU, so callers run it in a thread to keep
the event loop free (:func:`hash_password` and :func:`verify_password` do).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Words most often seen in leaked passwords, in France and at school. A
# password is refused when, stripped of digits and symbols at its ends and of
# case, it is one of them ("Azerty123!", "soleil2026", "!!Doudou!!").
COMMON_WORDS = frozenset(
    {
        "password", "passw0rd", "motdepasse", "mdp", "azerty", "azertyuiop", "qwerty",
        "qwertyuiop", "abcdef", "abcdefgh", "abc", "aaa", "admin", "administrateur",
        "bonjour", "salut", "coucou", "soleil", "doudou", "loulou", "chouchou", "nounours",
        "chocolat", "bisous", "jetaime", "amour", "princesse", "pokemon", "minecraft",
        "fortnite", "football", "foot", "marseille", "paris", "lyon", "toulouse", "psg",
        "om", "france", "ecole", "college", "lycee", "classe", "eleve", "maitresse",
        "professeur", "prof", "maman", "papa", "famille", "chat", "chien",
        "bienvenue", "welcome", "iloveyou", "monkey", "dragon", "master", "sunshine",
        "superman", "batman", "licorne", "cahier", "cartable", "preau", "ent", "pronote",
        "camille", "nicolas", "julien", "thomas", "lucas", "nathan", "hugo", "emma",
        "lea", "chloe", "manon", "ines", "jade", "louise", "gabriel", "louis", "adam",
        "letmein", "changeme", "secret", "test", "user", "utilisateur", "login",
    }
)
# Sequences: a password that is a run of one of these ("Abcd1234", "Azer1234").
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "azertyuiop", "qwertyuiop",
         "qsdfghjklm", "wxcvbn")
_EDGE = "0123456789!?.,;:_-+*/@#$%&=~^'\"()[]{}<> "
MIN_DISTINCT = 5


def _is_run(text: str) -> bool:
    """Whether ``text`` (folded) is made only of pieces of keyboard or
    alphabetical runs, such as "abcd1234" or "azer1234"."""
    i = 0
    while i < len(text):
        best = 0
        for run in _RUNS:
            for j in range(len(run)):
                k = 0
                while i + k < len(text) and j + k < len(run) and text[i + k] == run[j + k]:
                    k += 1
                best = max(best, k)
        if best < 3:
            return False
        i += best
    return True


def password_problem(
    password: str, *, login: str | None = None, names: tuple[str, ...] = ()
) -> str | None:
    """Why a password is refused, or None.

    CNIL's 2022 rule for logins with effective throttling (preau/server/auth/throttle.py):
    at least 8 characters of at least 3 kinds (lower case, upper case, digits,
    others); and what a guesser tries first: no control or invisible
    characters, at least 5 different characters, no well-known word or
    keyboard run dressed up with digits and symbols, not the login nor the
    person's first or last name inside it. At most 128 characters.
    """
    if len(password) < 8:
        return "at least 8 characters"
    if len(password) > 128:
        return "at most 128 characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn")
           for c in password):
        return "no control or invisible characters"
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
    folded = unicodedata.normalize("NFKD", password).casefold()
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    if len(set(folded)) < MIN_DISTINCT:
        return f"at least {MIN_DISTINCT} different characters"
    core = folded.strip(_EDGE)
    letters = "".join(c for c in folded if c.isalpha())
    if (not core or core in COMMON_WORDS or letters in COMMON_WORDS
            or _is_run("".join(c for c in folded if c.isalnum()))):
        return "too common: avoid well-known words and keyboard sequences"
    words = set(re.split(r"[^a-z0-9]+", folded))
    for name in [login or ""] + [n for n in names if n]:
        name = unicodedata.normalize("NFKD", name).casefold()
        name = "".join(c for c in name if not unicodedata.combining(c))
        # A long name anywhere inside; a short one (Léa, Tom) as a word of its own.
        if (len(name) >= 4 and name in folded) or (len(name) == 3 and name in words):
            return "it must not contain your login or your name"
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
