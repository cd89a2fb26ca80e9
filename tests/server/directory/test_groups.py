"""Pupils in several groups (issue 19, item 4): the CSV's ``groupes`` column
(options, languages, half-classes) beside a pupil's one class, teachers in
groups, SIECLE's ``G`` structures and STS-web's ``GROUPE``; imported into the
store (on SQLite and PostgreSQL) as groups with their rooms, membership
replaced on re-import; bad cells reported by line and column."""

from __future__ import annotations

from preau.server.directory.csv_import import parse_csv
from preau.server.directory.importer import import_directory
from preau.server.directory.model import Profile
from preau.server.directory.national import parse_national
from preau.server.store import Store
from tests.server.directory.test_national import PUPILS, STS

NOW = 1_700_000_000_000

CSV = """id;profil;nom;prénom;classe;groupes;parent_de
E1;élève;Martin;Léa;5e B;Latin|LV2 espagnol;
E2;élève;Petit;Inès;5eB;LV2  allemand;
T1;enseignant;Durand;Claire;5eB|4eA;Latin;
T2;enseignant;Morel;Élise;;LV2 espagnol|LV2 allemand;
P1;parent;Martin;Paul;;;E1
P2;parent;Petit;Marc;;Latin;E2
E3;élève;Roux;Jade;4eA;4eA;
"""


def test_the_groups_column() -> None:
    parsed = parse_csv(CSV)
    by_id = {p.external_id: p for p in parsed.people}
    assert by_id["E1"].class_names == ("5eB",)
    assert by_id["E1"].groups == ("Latin", "LV2 espagnol")
    assert by_id["E2"].groups == ("LV2 allemand",)  # single spaces
    assert by_id["T2"].class_names == ()
    assert by_id["T2"].groups == ("LV2 espagnol", "LV2 allemand")
    assert [(e.line, e.field, e.message_fr) for e in parsed.errors] == [
        (7, "groupes", "seuls les élèves et les enseignants sont dans des groupes"),
        (8, "groupes", "un groupe porte le nom d'une classe"),
    ]
    assert parsed.errors[0].shown("en") == (
        "line 7, column 'groupes': only pupils and teachers are in groups")


async def test_groups_in_the_store_with_their_rooms(store: Store) -> None:
    report = await import_directory(
        store, parse_csv(CSV), uai="0751234A", school_name="Collège", timezone="Europe/Paris",
        activation_ttl_s=3600, now_ms=NOW)
    view = await store.load_school(report.school.id)
    assert view is not None
    kinds = {c.name: c.kind for c in view.classes.values()}
    assert kinds == {"5eB": "class", "4eA": "class", "Latin": "group", "LV2 espagnol": "group",
                     "LV2 allemand": "group"}
    ids = {p.external_id: p.id for p in view.people.values()}
    names = {c.id: c.name for c in view.classes.values()}

    def of(external: str) -> set[str]:
        return {names[c] for c in view.members[ids[external]].classes}

    assert of("E1") == {"5eB", "Latin", "LV2 espagnol"}
    assert of("T2") == {"LV2 espagnol", "LV2 allemand"}
    assert of("P1") == of("E1")  # a parent follows the child, groups included
    assert {r.name for r in view.rooms.values() if r.class_id} >= set(kinds)
    # Re-imported without a group: the membership goes.
    again = CSV.replace("Latin|LV2 espagnol", "Latin")
    await import_directory(
        store, parse_csv(again), uai="0751234A", school_name="Collège", timezone="Europe/Paris",
        activation_ttl_s=3600, now_ms=NOW + 1)
    view = await store.load_school(report.school.id)
    assert view is not None
    assert {view.classes[c].name for c in view.members[ids["E1"]].classes} == {"5eB", "Latin"}


STS_WITH_GROUPS = STS.replace("</DIVISIONS>", """</DIVISIONS>
      <GROUPES>
        <GROUPE CODE="LATIN"><SERVICES><SERVICE CODE_MATIERE="020700"><ENSEIGNANTS>
          <ENSEIGNANT ID="4002" TYPE="epp"/></ENSEIGNANTS></SERVICE></SERVICES></GROUPE>
      </GROUPES>""")


def test_siecle_and_sts_web_groups() -> None:
    parsed = parse_national([PUPILS.encode("iso-8859-15"), STS_WITH_GROUPS.encode("iso-8859-1")])
    by_id = {p.external_id: p for p in parsed.people}
    assert by_id["siecle-e-1001"].class_names == ("6A",)
    assert by_id["siecle-e-1001"].groups == ("LATIN",)
    assert by_id["sts-4002"].profile is Profile.TEACHER
    assert by_id["sts-4002"].groups == ("LATIN",)
    assert by_id["sts-4001"].groups == ()
