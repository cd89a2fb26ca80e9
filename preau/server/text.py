"""Text a person writes for others to see: one rule for every place it is shown.

Messages, names, call names and document titles are all displayed to other
people, so they share one cleaning: no control characters (C0 but tab and
newline, DEL, C1), and no bidirectional *overrides* or *isolates*
(U+202A–U+202E, U+2066–U+2069), which make "\u202egnp.exe" read as "exe.png"
(Trojan Source, CVE-2021-42574). Right-to-left scripts need none of them: the
Unicode bidi algorithm orders Arabic or Hebrew text by itself, and the
left-to-right and right-to-left *marks* (U+200E, U+200F) are kept.

Line ends are newlines: a Windows "\r\n" (or an old "\r") becomes "\n"
rather than a refused control character. And a text with nothing visible in
it — spaces, but also zero-width and other format characters (U+200B, U+FEFF,
marks…) and the "filler" letters that render as blank (U+3164, U+2800…) — is
blank, as an empty one is.
"""

from __future__ import annotations

import re
import unicodedata

_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_ENDS = re.compile("\r\n?")
# Letters and symbols that render as nothing (Unicode's "Default_Ignorable"
# fillers and the blank braille pattern), beside the format characters (Cf).
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u180e")


def without_bidi_controls(text: str) -> str:
    """``text`` with bidi overrides and isolates removed (marks kept)."""
    return _BIDI_CONTROLS.sub("", text)


_ZERO_WIDTH = re.compile("[\u200b\u2060\ufeff]")


def without_invisible(text: str) -> str:
    """``text`` without bidi controls, nor the zero-width space, word joiner
    and byte-order mark: for short names shown to others (a call, a breakout
    room), where « ok » and « ok » plus a zero-width space would be two names
    that look the same. Joiners (ZWJ, ZWNJ) stay: emoji and scripts use them."""
    return _ZERO_WIDTH.sub("", without_bidi_controls(text))


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab and newline."""
    return _CONTROLS.search(text) is not None


def with_newlines(text: str) -> str:
    """``text`` with its line ends as newlines (Windows' CRLF, an old CR)."""
    return _LINE_ENDS.sub("\n", text) if "\r" in text else text


def is_blank(text: str) -> bool:
    """Whether nothing in ``text`` would be visible to its readers."""
    return all(
        ch.isspace() or ch in _BLANK_LOOKING or unicodedata.category(ch) == "Cf"
        for ch in text
    )


_DECIMAL = re.compile(r"[0-9]{1,20}", re.ASCII)


def decimal(raw: str) -> int | None:
    """``raw`` as a non-negative integer if it is 1 to 20 ASCII digits, else
    None. ``str.isdigit`` also takes ``²`` and other scripts' digits, which
    ``int`` refuses, and ``int`` refuses more than 4,300 digits: checked with
    ``isdigit`` alone, both were answered 500 (an outside probe)."""
    return int(raw) if _DECIMAL.fullmatch(raw) else None
