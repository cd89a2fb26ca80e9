"""Every error code the server can return, and every audit action the log
shows, has a French and an English text in the web client
(clients/web/src/i18n.ts): nothing reaches a French screen as a code or in
English. Codes come from preau/server/errors.py — the op modules and services raise
only those (a test below checks that no other code is raised)."""

from __future__ import annotations

import re
from pathlib import Path

from preau.server.errors import ErrorCode
from preau.server.store import AuditAction
from tests.server.live import ROOT

I18N = ROOT / "clients" / "web" / "src" / "i18n.ts"
# Codes the client makes itself: no network, an answer it could not read.
CLIENT_CODES = ("network", "other")


def dictionaries() -> dict[str, set[str]]:
    """The keys of the French and English dictionaries of i18n.ts."""
    source = I18N.read_text()
    found: dict[str, set[str]] = {}
    for lang, start in (("fr", "const fr = {"), ("en", "const en: Record<Key, string> = {")):
        body = source[source.index(start) + len(start):]
        body = body[: body.index("\n};")]
        found[lang] = set(re.findall(r'^\s*"([^"]+)":', body, re.MULTILINE))
    return found


def test_every_error_code_has_a_french_and_an_english_text() -> None:
    keys = dictionaries()
    codes = [c.value for c in ErrorCode] + list(CLIENT_CODES)
    for lang in ("fr", "en"):
        missing = [c for c in codes if f"error.{c}" not in keys[lang]]
        assert not missing, f"no {lang} text in i18n.ts for error codes {missing}"


def test_every_audit_action_has_a_french_and_an_english_name() -> None:
    keys = dictionaries()
    for lang in ("fr", "en"):
        missing = [a.value for a in AuditAction if f"audit.action.{a.value}" not in keys[lang]]
        assert not missing, f"no {lang} name in i18n.ts for audit actions {missing}"


def test_the_two_dictionaries_have_the_same_keys() -> None:
    keys = dictionaries()
    assert keys["fr"] == keys["en"]


def test_the_server_raises_no_code_outside_error_code() -> None:
    # A code written as a string next to "code" in the server would escape the
    # walk above: every error goes through ErrorCode.
    stray = []
    for path in Path(ROOT / "preau" / "server").rglob("*.py"):
        for match in re.finditer(r'PreauError\(\s*"([a-z_]+)"', path.read_text()):
            stray.append((path.name, match.group(1)))
    assert stray == []
