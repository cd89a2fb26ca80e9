"""Directory CSV: the parser (no I/O) and the importer through a real SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from preau.server.directory.csv_import import ParsedPerson, parse_csv
from preau.server.directory.importer import ImportReport, import_directory
from preau.server.directory.model import Profile
from preau.server.errors import ErrorCode, PreauError
from preau.server.store import SchoolView, Store

HEADER = "id;profile;last_name;first_name;classes;parent_of;admin"


def _by_id(people: list[ParsedPerson]) -> dict[str, ParsedPerson]:
    return {p.external_id: p for p in people}


# -- good files ------------------------------------------------------------


def test_semicolon_file() -> None:
    parsed = parse_csv(
        HEADER + "\n"
        "E001;pupil;Martin;Léa;5eB;;\n"
        "P001;parent;Martin;Paul;;E001;\n"
        "T001;teacher;Durand;Claire;5eB|4eA;;\n"
        "S001;staff;Petit;Anne;;;yes\n"
    )
    assert parsed.errors == []
    assert parsed.people == [
        ParsedPerson(2, "E001", Profile.PUPIL, "Léa", "Martin", ("5eB",), (), False),
        ParsedPerson(3, "P001", Profile.PARENT, "Paul", "Martin", (), ("E001",), False),
        ParsedPerson(4, "T001", Profile.TEACHER, "Claire", "Durand", ("5eB", "4eA"), (), False),
        ParsedPerson(5, "S001", Profile.STAFF, "Anne", "Petit", (), (), True),
    ]


def test_comma_file_with_columns_in_another_order() -> None:
    parsed = parse_csv(
        "first_name,last_name,id,profile,classes\n"
        "Léa,Martin,E001,pupil,5eB\n"
        "Claire,Durand,T001,teacher,5eB|4eA\n"
    )
    assert parsed.errors == []
    people = _by_id(parsed.people)
    assert (people["E001"].first_name, people["E001"].last_name) == ("Léa", "Martin")
    assert people["E001"].class_names == ("5eB",)
    assert people["T001"].class_names == ("5eB", "4eA")
    assert not people["T001"].is_admin


def test_french_column_and_profile_aliases_bom_and_blank_lines() -> None:
    text = (
        "\ufeffIdentifiant;Profil;Nom;Prénom;Classe;Enfants;Admin\r\n"
        "E1;Élève;Martin;Léa;5eB;;\r\n"
        "\r\n"
        "E2;eleve;Bernard;Hugo;5eB;;non\r\n"
        "   \r\n"
        "P1;Responsable;Martin;Paul;;E1|E2;\r\n"
        "T1;ENSEIGNANT;Durand;Claire;5eB | 4eA ;;\r\n"
        "S1;personnel;Petit;Anne;;;oui\r\n"
        "E3;student;Leroy;Jade;4eA;;\r\n"
        "P2;relative;Leroy;Marc;;E3;\r\n"
        "\r\n"
    )
    parsed = parse_csv(text)
    assert parsed.errors == []
    people = _by_id(parsed.people)
    assert {k: (p.line, p.profile) for k, p in people.items()} == {
        # Physical line numbers: the header is line 1, blank lines count.
        "E1": (2, Profile.PUPIL),
        "E2": (4, Profile.PUPIL),
        "P1": (6, Profile.PARENT),
        "T1": (7, Profile.TEACHER),
        "S1": (8, Profile.STAFF),
        "E3": (9, Profile.PUPIL),
        "P2": (10, Profile.PARENT),
    }
    assert people["P1"].parent_of == ("E1", "E2")
    assert people["T1"].class_names == ("5eB", "4eA")  # spaces around '|' trimmed
    assert people["S1"].is_admin
    assert not people["E2"].is_admin
    assert people["E1"].external_id == "E1"  # no BOM glued to the first cell


@pytest.mark.parametrize("value", ["yes", "OUI", "true", "1", "x", "o", "Y"])
def test_admin_true_values(value: str) -> None:
    parsed = parse_csv(f"{HEADER}\nS1;staff;Petit;Anne;;;{value}\n")
    assert parsed.errors == []
    assert parsed.people[0].is_admin


@pytest.mark.parametrize("value", ["", "no", "NON", "false", "0", "n"])
def test_admin_false_values(value: str) -> None:
    parsed = parse_csv(f"{HEADER}\nS1;staff;Petit;Anne;;;{value}\n")
    assert parsed.errors == []
    assert not parsed.people[0].is_admin


def test_names_are_trimmed_and_inner_spaces_collapsed() -> None:
    parsed = parse_csv(f"{HEADER}\nE1;pupil;  De   la Tour ;Jean  Pierre;5eB;;\n")
    assert parsed.errors == []
    assert (parsed.people[0].last_name, parsed.people[0].first_name) == (
        "De la Tour",
        "Jean Pierre",
    )


def test_missing_trailing_cells_are_empty() -> None:
    parsed = parse_csv(f"{HEADER}\nE1;pupil;Martin;Léa;5eB\n")
    assert parsed.errors == []
    assert parsed.people[0].parent_of == ()
    assert not parsed.people[0].is_admin


FIVE_COLUMNS = "id;profile;last_name;first_name;classes\n"


def test_an_unclosed_quote_imports_nothing_and_says_where() -> None:
    """The reader takes the rest of the file into the unclosed cell: an
    outside probe's 2,000-row file lost its last 1,000 people unreported."""
    rows = [f"E{i};pupil;Nom{i};Prénom;4eA" for i in range(6)]
    rows[3] = 'E3;pupil;"Martin;Jean;4eA'
    parsed = parse_csv(FIVE_COLUMNS + "\n".join(rows) + "\n")
    assert parsed.people == []
    [error] = parsed.errors
    assert error.line == 5
    assert "never closed" in error.message
    assert "rien n'a été importé" in error.message_fr


def test_rows_in_two_encodings_import_nothing_and_name_the_line() -> None:
    """Read as Windows-1252, a file with UTF-8 rows made « ChloÃ© » and the
    login chloa.lefa-vre, for good; a UTF-8 mark over Windows-1252 bytes made
    « Chlo� »."""
    utf8 = "E1;pupil;Lefèvre;Chloé;4eA\n".encode()
    cp1252 = "E2;pupil;Lefèvre;Zoé;4eA\n".encode("cp1252")
    for data, line in ((FIVE_COLUMNS.encode() + utf8 + cp1252, 3),
                       (b"\xef\xbb\xbf" + FIVE_COLUMNS.encode() + cp1252, 2)):
        parsed = parse_csv(data)
        assert parsed.people == []
        [error] = parsed.errors
        assert error.line == line
        assert "UTF-8" in error.message
    # One encoding throughout is read as it is.
    for data in (FIVE_COLUMNS.encode() + cp1252, FIVE_COLUMNS.encode() + utf8,
                 b"\xef\xbb\xbf" + FIVE_COLUMNS.encode() + utf8):
        [person] = parse_csv(data).people
        assert person.last_name == "Lefèvre"


def test_quoted_cells_with_delimiters_inside() -> None:
    parsed = parse_csv(f'{HEADER}\nE1;pupil;"Martin; dit ""Léo""";Léa;5eB;;\n')
    assert parsed.errors == []
    assert parsed.people[0].last_name == 'Martin; dit "Léo"'


# -- errors: each reported with its line, the good rows kept -------------------

GOOD_BEFORE = "G1;pupil;Martin;Léa;5eB;;"
GOOD_AFTER = "G2;teacher;Durand;Claire;5eB;;"


@pytest.mark.parametrize(
    ("bad_row", "message_part"),
    [
        ("B1;director;Roux;Anne;;;", "unknown profile 'director'"),
        ("B1;pupil;Roux;Anne;;;", "exactly one class"),
        ("B1;pupil;Roux;Anne;5eA|5eB;;", "exactly one class"),
        ("B1;parent;Roux;Anne;;;", "at least one child"),
        ("B1;parent;Roux;Anne;5eB;G1;", "has no class"),
        ("B1;staff;Roux;Anne;5eB;;", "has no class"),
        ("B1;teacher;Roux;Anne;5eB;G1;", "only parents have parent_of"),
        ("B1;parent;Roux;Anne;;G 1;", "parent_of lists ids"),
        ("B 1;pupil;Roux;Anne;5eB;;", "id must be"),
        ("B/1;pupil;Roux;Anne;5eB;;", "id must be"),
        ("Bé1;pupil;Roux;Anne;5eB;;", "id must be"),
        (";pupil;Roux;Anne;5eB;;", "id must be"),
        ("B" * 65 + ";pupil;Roux;Anne;5eB;;", "id must be"),
        ("B1;pupil;;Anne;5eB;;", "names are required"),
        ("B1;pupil;Roux;   ;5eB;;", "names are required"),
        ("B1;pupil;" + "R" * 101 + ";Anne;5eB;;", "names are required"),
        ("B1;pupil;Roux;Anne;" + "5" * 41 + ";;", "at most 40 characters"),
        ("B1;pupil;Roux;Anne;5eB;;;extra", "8 cells for 7 columns"),
        ("B1;staff;Roux;Anne;;;maybe", "admin is yes or no"),
        ('B1;pupil;"Ro"ux;Anne;5eB;;', "unreadable row"),
    ],
)
def test_bad_row_is_reported_with_its_line_and_good_rows_kept(
    bad_row: str, message_part: str
) -> None:
    parsed = parse_csv("\n".join([HEADER, GOOD_BEFORE, bad_row, GOOD_AFTER]) + "\n")
    assert len(parsed.errors) == 1
    line, message = parsed.errors[0][:2]
    assert line == 3
    assert message_part in message
    assert [(p.line, p.external_id) for p in parsed.people] == [(2, "G1"), (4, "G2")]


def test_duplicate_id_names_the_first_line() -> None:
    parsed = parse_csv(
        "\n".join([HEADER, GOOD_BEFORE, GOOD_AFTER, "G1;pupil;Autre;Nom;5eA;;"]) + "\n"
    )
    assert [e[:2] for e in parsed.errors] == [(4, "id G1 already on line 2")]
    # The column as the documented French header names it, like every other error.
    assert parsed.errors[0].shown() == (
        "ligne 4, colonne « identifiant » : l'identifiant G1 est déjà ligne 2")
    assert [p.external_id for p in parsed.people] == ["G1", "G2"]
    assert parsed.people[0].last_name == "Martin"  # the first one wins


def test_several_errors_each_with_its_own_line() -> None:
    parsed = parse_csv(
        "\n".join(
            [
                HEADER,
                GOOD_BEFORE,  # 2
                "",  # 3
                "B1;pupil;Roux;Anne;;;",  # 4
                "B2;staff;Roux;Anne;;;maybe",  # 5
                GOOD_AFTER,  # 6
                "G1;pupil;Martin;Léa;5eB;;",  # 7: duplicate
                "B3;alien;Roux;Anne;;;",  # 8
                "G3;staff;Faure;Julie;;;",  # 9
            ]
        )
    )
    assert [e.line for e in parsed.errors] == [4, 5, 7, 8]
    assert [(p.line, p.external_id) for p in parsed.people] == [(2, "G1"), (6, "G2"), (9, "G3")]


def test_unreadable_quoting_then_parsing_goes_on() -> None:
    parsed = parse_csv("\n".join([HEADER, '"B1;pupil;Roux;Anne;5eB;;', GOOD_AFTER]) + "\n")
    # An unterminated quote swallows the rest of the file: one error, at the
    # line where the quote was opened, and no crash.
    assert [e.line for e in parsed.errors] == [2]
    assert "never closed" in parsed.errors[0][1]
    assert parsed.people == []


def test_bad_quote_mid_file_does_not_hide_the_next_rows() -> None:
    parsed = parse_csv(
        "\n".join(
            [HEADER, GOOD_BEFORE, 'B1;pupil;"Ro"ux;Anne;5eB;;', GOOD_AFTER, "G3;staff;A;B;;;"]
        )
    )
    assert [e.line for e in parsed.errors] == [3]
    assert [(p.line, p.external_id) for p in parsed.people] == [(2, "G1"), (4, "G2"), (5, "G3")]


def test_a_row_spanning_lines_is_numbered_by_its_first_line() -> None:
    # A quoted cell may hold a line break (spreadsheets write one for Alt+Enter).
    parsed = parse_csv(
        "\n".join(
            [
                HEADER,
                'M1;pupil;"Martin\nBernard";Léa;5eB;;',  # lines 2-3
                "M1;pupil;Autre;Nom;5eB;;",  # line 4: duplicate of the row on line 2
                'B1;pupil;"Roux\nPetit";Anne;;;',  # lines 5-6: no class
                GOOD_AFTER,  # line 7
            ]
        )
    )
    assert parsed.people[0].last_name == "Martin Bernard"
    assert [(p.line, p.external_id) for p in parsed.people] == [(2, "M1"), (7, "G2")]
    assert [e[:2] for e in parsed.errors] == [
        (4, "id M1 already on line 2"),
        (5, "a pupil is in exactly one class"),
    ]


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("", "empty file"),
        ("\ufeff", "empty file"),
        ("id;profile;last_name;first_name;colour\nE1;pupil;A;B;red\n", "unknown column 'colour'"),
        ("id;profile;first_name\nE1;pupil;B\n", "missing column(s): last_name"),
        ("id;nom;prenom\nE1;A;B\n", "missing column(s): profile"),
        ('"id;profile\n', "unreadable header"),
    ],
)
def test_header_problems_stop_the_file_at_line_1(text: str, message_part: str) -> None:
    parsed = parse_csv(text)
    assert parsed.people == []
    assert len(parsed.errors) == 1
    assert parsed.errors[0][0] == 1
    assert message_part in parsed.errors[0][1]


def test_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("preau.server.directory.csv_import.MAX_ROWS", 2)
    parsed = parse_csv(
        "\n".join([HEADER, GOOD_BEFORE, GOOD_AFTER, "G3;staff;A;B;;;", "G4;staff;C;D;;;"])
    )
    assert [p.external_id for p in parsed.people] == ["G1", "G2"]
    assert [e[:2] for e in parsed.errors] == [(4, "more than 2 rows: the rest is ignored")]


# -- the importer, through a real SQLite store -----------------------------------

UAI = "0751234A"
NOW = 1_700_000_000_000
SCHOOL_CSV = """id;profile;last_name;first_name;classes;parent_of;admin
E1;pupil;Martin;Léa;5eA;;
E2;pupil;Bernard;Hugo;5eB;;
E3;pupil;Petit;Inès;5eA|5eB;;
P1;parent;Martin;Paul;;E1;
P2;parent;Bernard;Anne;;E2|E404;
T1;teacher;Durand;Claire;5eA|5eB;;
S1;staff;Roux;Anne;;;oui
"""


async def _run_import(store: Store, text: str, now_ms: int = NOW) -> ImportReport:
    return await import_directory(
        store,
        parse_csv(text),
        uai=UAI,
        school_name="Collège Victor Hugo",
        timezone="Europe/Paris",
        activation_ttl_s=3600,
        now_ms=now_ms,
    )


async def _view(store: Store, report: ImportReport) -> SchoolView:
    view = await store.load_school(report.school.id)
    assert view is not None
    return view


def _people(view: SchoolView) -> dict[str, str]:
    """external id → person id"""
    return {p.external_id: p.id for p in view.people.values()}


def _class_names(view: SchoolView, external_id: str) -> set[str]:
    member = view.members[_people(view)[external_id]]
    return {view.classes[c].name for c in member.classes}


async def test_import_reports_bad_rows_and_imports_the_others(sqlite_store: Store) -> None:
    report = await _run_import(sqlite_store, SCHOOL_CSV)
    assert [e[:2] for e in report.errors] == [
        (4, "a pupil is in exactly one class"),  # E3, from the parser
        (6, "unknown child id(s): E404"),  # P2, from the importer
    ]
    assert sorted(a.account.external_id for a in report.created) == [
        "E1",
        "E2",
        "P1",
        "S1",
        "T1",
    ]
    assert report.updated == 0
    assert report.classes_created == 2
    view = await _view(sqlite_store, report)
    assert set(_people(view)) == {"E1", "E2", "P1", "S1", "T1"}
    assert {c.name for c in view.classes.values()} == {"5eA", "5eB"}
    assert {r.name for r in view.rooms.values()} == {"5eA", "5eB"}
    ids = _people(view)
    assert view.members[ids["P1"]].children == {ids["E1"]}
    assert view.members[ids["E1"]].guardians == {ids["P1"]}
    assert _class_names(view, "P1") == {"5eA"}  # a parent follows the child
    assert _class_names(view, "T1") == {"5eA", "5eB"}
    assert view.people[ids["S1"]].is_admin
    # Every new account gets its own activation code and a login.
    codes = [a.activation_code for a in report.created]
    assert len(set(codes)) == len(codes)
    by_ext = {a.account.external_id: a for a in report.created}
    assert by_ext["E1"].account.login == "lea.martin"
    assert by_ext["E1"].display_name == "Léa Martin"
    assert by_ext["E1"].profile is Profile.PUPIL


async def test_reimport_is_idempotent_and_updates(sqlite_store: Store) -> None:
    first = await _run_import(sqlite_store, SCHOOL_CSV)
    before = await _view(sqlite_store, first)

    again = await _run_import(sqlite_store, SCHOOL_CSV, now_ms=NOW + 1000)
    assert again.created == []
    assert again.updated == 5
    assert again.classes_created == 0
    assert again.school.id == first.school.id
    same = await _view(sqlite_store, again)
    assert same.people == before.people
    assert same.members == before.members
    assert same.classes == before.classes
    assert same.rooms == before.rooms
    assert same.rules == before.rules
    assert await sqlite_store.school_ids() == [first.school.id]

    # Names and classes change; nobody is duplicated; logins stay.
    changed = SCHOOL_CSV.replace(
        "E1;pupil;Martin;Léa;5eA", "E1;pupil;Martin-Durand;Léa;5eC"
    ).replace("T1;teacher;Durand;Claire;5eA|5eB", "T1;teacher;Durand;Claire;5eB")
    third = await _run_import(sqlite_store, changed, now_ms=NOW + 2000)
    assert third.created == []
    assert third.classes_created == 1
    view = await _view(sqlite_store, third)
    ids = _people(view)
    assert set(ids) == set(_people(before))
    assert view.people[ids["E1"]].last_name == "Martin-Durand"
    assert view.people[ids["E1"]].login == before.people[ids["E1"]].login
    assert _class_names(view, "E1") == {"5eC"}
    assert _class_names(view, "T1") == {"5eB"}
    assert {c.name for c in view.classes.values()} == {"5eA", "5eB", "5eC"}


async def test_pupil_moving_class_is_reflected_by_load_school(sqlite_store: Store) -> None:
    report = await _run_import(sqlite_store, SCHOOL_CSV)
    view = await _view(sqlite_store, report)
    assert _class_names(view, "E1") == {"5eA"}
    # Only the pupil's row is re-imported: the parent's link is kept and the
    # parent follows the child to the new class.
    moved = await _run_import(
        sqlite_store, "id;profile;last_name;first_name;classes\nE1;pupil;Martin;Léa;5eB\n"
    )
    assert moved.errors == []
    assert moved.updated == 1
    view = await _view(sqlite_store, moved)
    ids = _people(view)
    assert _class_names(view, "E1") == {"5eB"}
    assert _class_names(view, "P1") == {"5eB"}
    assert view.members[ids["P1"]].children == {ids["E1"]}
    class_b = next(c for c in view.classes.values() if c.name == "5eB")
    assert view.members[ids["E1"]].groups >= {f"{class_b.id}/pupil"}
    class_a = next(c for c in view.classes.values() if c.name == "5eA")
    assert f"{class_a.id}/pupil" not in view.members[ids["E1"]].groups


async def test_parent_of_unknown_child_is_rejected_with_its_line(sqlite_store: Store) -> None:
    report = await _run_import(
        sqlite_store,
        "id;profile;last_name;first_name;classes;parent_of\n"
        "P9;parent;Roux;Anne;;E9\n"  # line 2: E9 does not exist
        "T1;teacher;Durand;Claire;5eA;\n"  # line 3
        "P8;parent;Roux;Marc;;T1\n",  # line 4: T1 exists but is not a pupil
    )
    assert [e[:2] for e in report.errors] == [
        (2, "unknown child id(s): E9"),
        (4, "unknown child id(s): T1"),
    ]
    view = await _view(sqlite_store, report)
    assert set(_people(view)) == {"T1"}


async def test_parent_may_name_a_child_imported_earlier(sqlite_store: Store) -> None:
    await _run_import(sqlite_store, SCHOOL_CSV)
    report = await _run_import(
        sqlite_store, "id;profile;last_name;first_name;parent_of\nP7;parent;Martin;Zoé;E1|E2\n"
    )
    assert report.errors == []
    view = await _view(sqlite_store, report)
    ids = _people(view)
    assert view.members[ids["P7"]].children == {ids["E1"], ids["E2"]}
    assert _class_names(view, "P7") == {"5eA", "5eB"}


@pytest.mark.parametrize(
    ("uai", "timezone"),
    [
        ("", "Europe/Paris"),
        ("0751234A!", "Europe/Paris"),
        ("X" * 17, "Europe/Paris"),
        (UAI, "Mars/Olympus"),
        (UAI, "../etc/passwd"),
    ],
)
async def test_bad_school_code_or_time_zone(sqlite_store: Store, uai: str, timezone: str) -> None:
    with pytest.raises(PreauError) as caught:
        await import_directory(
            sqlite_store,
            parse_csv(SCHOOL_CSV),
            uai=uai,
            school_name="x",
            timezone=timezone,
            activation_ttl_s=3600,
            now_ms=NOW,
        )
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert await sqlite_store.school_ids() == []


def test_the_niveau_column_marks_classes() -> None:
    parsed = parse_csv(
        "identifiant;profil;nom;prénom;classe;parent_de;admin;niveau\n"
        "E1;élève;Lambert;Zoé;MS;;;maternelle\n"
        "E2;élève;Fontaine;Malo;CP;;;Élémentaire\n"
        "T1;enseignant;Morel;Élise;MS|CP;;;\n"  # empty: as given elsewhere
        "E3;élève;Chevalier;Lina;MS;;;primaire\n"  # MS is maternelle above
        "E4;élève;Roux;Tom;CM1;;;collège\n"
        "S1;personnel;Roux;Anne;;;oui;maternelle\n"
    )
    assert parsed.levels == {"MS": "maternelle", "CP": "elementaire"}
    assert [e[:2] for e in parsed.errors] == [
        (5, "class MS has another level on an earlier row"),
        (6, "niveau is maternelle or elementaire (or empty)"),
        (7, "niveau is for the classes of a pupil or a teacher"),
    ]
    assert [p.external_id for p in parsed.people] == ["E1", "E2", "T1"]


async def test_an_import_sets_the_levels_it_names(sqlite_store: Store) -> None:
    header = "id;profile;last_name;first_name;classes;parent_of;admin;niveau\n"
    report = await _run_import(sqlite_store, header + "E1;pupil;Lambert;Zoé;MS;;;maternelle\n"
                               "E2;pupil;Fontaine;Malo;CP;;;\n")
    view = await _view(sqlite_store, report)
    ids = {c.name: c.id for c in view.classes.values()}
    assert await sqlite_store.class_levels(report.school.id) == {ids["MS"]: "maternelle"}
    # A later file: a level given changes it, an empty cell leaves it.
    await _run_import(sqlite_store, header + "E1;pupil;Lambert;Zoé;MS;;;\n"
                      "E2;pupil;Fontaine;Malo;CP;;;primaire\n")
    assert await sqlite_store.class_levels(report.school.id) == {
        ids["MS"]: "maternelle", ids["CP"]: "elementaire"}


# -- files as schools have them (issue 19) ---------------------------------

FRENCH = "identifiant;profil;nom;prénom;classes;parent_de;admin\n"
EXCEL_ROWS = ("E001;Élève;Martin;Léa;5e B;;\n"
              "E002;ELEVE;Bernard;Hugo;5ème b;;\n"
              "P001;Responsable légal 1;Martin;Hélène;;E001;\n"
              "P002;Représentant légal;Bernard;Zoé;;E002;\n"
              "T001;Professeur principal;Lefèvre;Cécile;5eB|4°A;;\n"
              "S001;Personnel administratif;Petit;Anne;;;oui\n")


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "utf-8-sig", "utf-16"])
def test_the_encodings_spreadsheets_write_are_read(encoding: str) -> None:
    parsed = parse_csv((FRENCH + EXCEL_ROWS).encode(encoding))
    assert parsed.errors == []
    assert parsed.encoding == {"utf-16": "utf-16"}.get(encoding, encoding)
    people = _by_id(parsed.people)
    assert people["E001"].first_name == "Léa"
    assert people["P001"].first_name == "Hélène"
    assert people["T001"].last_name == "Lefèvre"


def test_french_profile_words_and_class_spellings_are_understood() -> None:
    parsed = parse_csv((FRENCH + EXCEL_ROWS).encode("cp1252"))
    people = _by_id(parsed.people)
    assert [people[i].profile for i in ("E001", "E002", "P001", "P002", "T001", "S001")] == [
        Profile.PUPIL, Profile.PUPIL, Profile.PARENT, Profile.PARENT, Profile.TEACHER,
        Profile.STAFF]
    # "5e B", "5ème b" and "5eB" are one class; "4°A" is "4eA".
    assert people["E001"].class_names == ("5eB",)
    assert people["E002"].class_names == ("5eB",)
    assert people["T001"].class_names == ("5eB", "4eA")
    assert people["S001"].is_admin


@pytest.mark.parametrize(("written", "class_name"), [
    ("5e B", "5eB"), ("5eB", "5eB"), ("5EME B", "5eB"), ("5° b", "5eB"), ("6eme a", "6eA"),
    ("CM1-CM2", "CM1-CM2"), ("Petite   section", "Petite section"), ("MS", "MS"),
    ("2nde 3", "2nde 3"), ("Terminale G1", "Terminale G1"),
])
def test_class_names_have_one_spelling(written: str, class_name: str) -> None:
    parsed = parse_csv(HEADER + f"\nE1;pupil;A;B;{written};;\n")
    assert parsed.people[0].class_names == (class_name,)


def test_tabs_separate_columns_too() -> None:
    parsed = parse_csv("id\tprofile\tlast_name\tfirst_name\tclasses\nE1\tpupil\tA\tB\t6eA\n")
    assert parsed.errors == []
    assert parsed.people[0].class_names == ("6eA",)


def test_errors_name_the_line_and_the_column_in_french_and_english() -> None:
    parsed = parse_csv((FRENCH + "E1;Directeur d'école;A;B;;;\nE2;élève;;B;6eA;;\n"
                        "E3;élève;A;B;6eA;;peut-être\n").encode("cp1252"))
    assert parsed.people == []
    first, second, third = parsed.errors
    assert first.shown() == ("ligne 2, colonne « profil » : profil inconnu « Directeur d'école »"
                             " (élève, parent, enseignant, personnel)")
    assert first.shown("en") == "line 2, column 'profil': unknown profile \"Directeur d'école\""
    assert second.line == 3
    assert second.field == "nom"
    assert second.message_fr.startswith("le nom et le prénom sont obligatoires")
    assert third.shown() == "ligne 4, colonne « admin » : admin vaut oui ou non"


def test_a_windows_1252_file_with_mistakes_through_the_command_line(tmp_path: Path) -> None:
    """What a school's IT person does: Excel's CSV, a mistake in it, `preau import`."""
    data = (FRENCH + EXCEL_ROWS + "E009;élève;Roux;Anne;;;\n").encode("cp1252")
    (tmp_path / "ecole.csv").write_bytes(data)
    env = {**os.environ, "PREAU_STORE_URL": f"sqlite:///{tmp_path / 'preau.sqlite3'}",
           "PREAU_SEED_DEMO": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", str(tmp_path / "ecole.csv"),
         "--school", "0999999Z", "--name", "Collège Jean Moulin"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1  # a row was rejected
    assert (f"{tmp_path / 'ecole.csv'}: ligne 8, colonne « classes » : un élève est dans une"
            " classe et une seule") in result.stderr
    assert "6 created" in result.stdout  # the good rows are in
    assert "Hélène Martin" in result.stdout


def _cli_import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREAU_STORE_URL": f"sqlite:///{tmp_path / 'preau.sqlite3'}",
           "PREAU_SEED_DEMO": "false"}
    return subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", *args, "--school", "0999999Z"],
        env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_file_nothing_can_be_read_of_exits_2_and_creates_no_school(tmp_path: Path) -> None:
    (tmp_path / "ecole.csv").write_text("identifiant;profil;nom;prénom;classe_x\n"
                                        "E001;élève;Martin;Léa;5eB\n", encoding="utf-8")
    result = _cli_import(tmp_path, str(tmp_path / "ecole.csv"), "--name", "Collège Jean Moulin")
    assert result.returncode == 2  # as documented: nothing could be read
    assert "ligne 1, colonne « classe_x » : colonne inconnue « classe_x »" in result.stderr
    assert "rien n'a été importé : aucune ligne n'a pu être lue" in result.stderr
    assert "created" not in result.stdout
    (tmp_path / "ok.csv").write_text(FRENCH + EXCEL_ROWS, encoding="utf-8")
    # No school was made: a later import still needs its name.
    again = _cli_import(tmp_path, str(tmp_path / "ok.csv"))
    assert again.returncode == 2
    assert "a new school needs --name" in again.stderr


def test_a_rollover_refused_for_a_bad_row_says_nothing_changed(tmp_path: Path) -> None:
    (tmp_path / "2026.csv").write_text(FRENCH + EXCEL_ROWS, encoding="utf-8")
    first = _cli_import(tmp_path, str(tmp_path / "2026.csv"), "--name", "Collège Jean Moulin")
    assert first.returncode == 0, first.stderr
    (tmp_path / "2027.csv").write_text(
        FRENCH + "E001;élève;Martin;Léa;4e B;;\nE010;élève;Roux;Anne;;;\n", encoding="utf-8")
    result = _cli_import(tmp_path, str(tmp_path / "2027.csv"), "--rollover")
    assert result.returncode == 1
    assert "ligne 3, colonne « classes »" in result.stderr
    assert ("passage d'année refusé : rien n'a été modifié ; corrigez les lignes rejetées"
            " et relancez-le") in result.stderr
    assert "0 created, 0 updated" in result.stdout
    english = _cli_import(tmp_path, str(tmp_path / "2027.csv"), "--rollover", "--lang", "en")
    assert "rollover refused: nothing was changed" in english.stderr
