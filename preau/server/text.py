"""Text a person writes for others to see: one rule for every place it is shown.

Messages, names, call names and document titles are all displayed to other
people, so they share one cleaning: no control characters (C0 but tab and
newline, DEL, C1), and no bidirectional *overrides* or *isolates*
(U+202A–U+202E, U+2066–U+2069), which make "\u202egnp.exe" read as "exe.png"
(Trojan Source, CVE-2021-42574). Right-to-left scripts need none of them: the
Unicode bidi algorithm orders Arabic or Hebrew text by itself, and the
left-to-right and right-to-left *marks* (U+200E, U+200F) are kept.
"""

from __future__ import annotations

import re

_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def without_bidi_controls(text: str) -> str:
    """``text`` with bidi overrides and isolates removed (marks kept)."""
    return _BIDI_CONTROLS.sub("", text)


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab and newline."""
    return _CONTROLS.search(text) is not None
