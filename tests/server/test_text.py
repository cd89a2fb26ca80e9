"""Text shown to others (preau/server/text.py): no bidi overrides, no controls,
and right-to-left scripts untouched."""

from __future__ import annotations

import pytest

from preau.server.chat.service import check_body
from preau.server.directory.csv_import import parse_csv
from preau.server.errors import PreauError
from preau.server.text import has_controls, without_bidi_controls


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
