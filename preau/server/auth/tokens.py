"""Secrets handed to people: session tokens and activation codes.

Only their SHA-256 digests are stored. Both are random enough (≥ 50 bits for a
code that also expires and is throttled, 256 bits for a session) that a fast
hash is the right tool here, unlike passwords.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

# No 0/O, 1/I/L: codes are read aloud and copied from paper by families.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_activation_code() -> str:
    """Twelve characters in three groups, e.g. ``K7QX-M2PD-9HRT`` (about 59 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_login(login: str) -> str:
    """A login as typed → the one form both the look-up and the throttle use.

    NFKC (full-width or compatibility forms fold to ASCII), then whitespace
    and invisible characters anywhere removed, then lower case: " Lea.Martin\t",
    "lea.martin\u200b" and "ｌｅａ.ｍａｒｔｉｎ" are all "lea.martin", so a variant
    can never earn a fresh throttle budget (stored logins are lowercase ASCII).
    """
    folded = unicodedata.normalize("NFKC", login)
    kept = "".join(c for c in folded if not (c.isspace() or unicodedata.category(c) == "Cf"))
    return kept.lower()


def normalise_code(code: str) -> str:
    """Accept codes typed in lower case, with spaces or without dashes."""
    raw = "".join(c for c in code.upper() if c.isalnum())
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}" if len(raw) == 12 else code.strip().upper()
