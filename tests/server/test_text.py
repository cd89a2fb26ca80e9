"""Text shown to others (preau/server/text.py): no bidi overrides, no controls,
and right-to-left scripts untouched."""

from __future__ import annotations

import pytest

from preau.server.chat.service import check_body
from preau.server.directory.csv_import import parse_csv
from preau.server.errors import PreauError
from preau.server.text import (
    has_controls,
    is_blank,
    with_newlines,
    without_bidi_controls,
    without_invisible,
)


@pytest.mark.parametrize("control", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
                                     "\u2066", "\u2067", "\u2068", "\u2069"])
def test_every_override_and_isolate_is_removed(control: str) -> None:
    assert without_bidi_controls(f"devoir{control}gnp.exe") == "devoirgnp.exe"


def test_marks_and_right_to_left_scripts_are_kept() -> None:
    arabic = "\u0645\u0631\u062d\u0628\u0627 \u200fMadame\u200e"
    assert without_bidi_controls(arabic) == arabic
    assert not has_controls(arabic)


def test_a_message_is_stored_without_overrides() -> None:
    assert check_body("photo\u202egnp.exe", 4000) == "photognp.exe"
    with pytest.raises(PreauError):
        check_body("\u202e\u2066", 4000)  # nothing left: empty
    with pytest.raises(PreauError):
        check_body("bip\x07", 4000)


def test_imported_names_lose_their_overrides() -> None:
    parsed = parse_csv("id;profile;last_name;first_name;classes;parent_of;admin\n"
                       "E1;pupil;Mar\u202etin;L\u2066éa;5eA;;\n")
    [row] = parsed.people
    assert (row.first_name, row.last_name) == ("Léa", "Martin")


@pytest.mark.parametrize("invisible", [
    "\u200b", "\ufeff", "\u3164", "\u2800", "\u200e\u200f", "\u202e\u200f", "\u2060\u00ad",
    " \u3000\u00a0\n\t", "\u115f\u1160\uffa0", "\u034f\u180e",
])
def test_a_message_with_nothing_visible_is_empty(invisible: str) -> None:
    with pytest.raises(PreauError) as refused:
        check_body(invisible, 4000)
    assert str(refused.value) == "empty message"
    assert check_body(invisible, 4000, may_be_empty=True) is not None  # with a file


def test_visible_text_around_format_characters_is_kept() -> None:
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # one emoji, joined
    assert check_body(family, 4000) == family
    assert not is_blank("a\u200b")


def test_windows_line_ends_become_newlines() -> None:
    assert check_body("ligne 1\r\nligne 2\rligne 3", 4000) == "ligne 1\nligne 2\nligne 3"
    assert with_newlines("sans fin de ligne") == "sans fin de ligne"
    with pytest.raises(PreauError):
        check_body("bip\x07\r\n", 4000)  # other controls are still refused


def test_decimal_takes_ascii_digits_only_and_never_too_many() -> None:
    from preau.server.text import decimal

    assert decimal("0") == 0
    assert decimal("42") == 42
    assert decimal("9" * 20) == int("9" * 20)
    for odd in ("", "²", "٣", "4²", "9" * 21, "9" * 5000, "-1", "+1", " 1", "1 ", "1_0", "0x1"):
        assert decimal(odd) is None, odd


def test_names_lose_what_renders_as_nothing_but_joiners() -> None:
    assert without_invisible("\u202eok\u200b\u2060\ufeff") == "ok"
    assert without_invisible("👩\u200d🏫 Groupe") == "👩\u200d🏫 Groupe"  # an emoji's joiner
