"""Several directory files imported as one (preau/server/directory/several.py):
a school's pupils, parents and teachers in three CSV files of different
encodings and separators; SIECLE and STS-web exports with a CSV of their
own; an id given twice; every error naming its file; one file reads exactly
as before."""

from __future__ import annotations

from preau.server.directory.csv_import import in_order, parse_csv
from preau.server.directory.model import Profile
from preau.server.directory.several import parse_files
from tests.server.directory.test_national import GUARDIANS, PUPILS, STS

PUPILS_CSV = ("identifiant;profil;nom;prénom;classe\r\n"
              "N1;élève;Hérault;Maëlle;5ème C\r\n"
              "N2;élève;Bézier;Noël;5e c\r\n"
              "N3;élève;;Théo;5eC\r\n").encode("cp1252")
PARENTS_CSV = ("id,profile,last_name,first_name,parent_of\n"
               "R1,Responsable légal 1,Hérault,Gaëlle,N1\n"
               "R2,parent,Bézier,Luc,N2|X9\n"
               "N2,parent,Doublon,Jean,N1\n").encode()
TEACHERS_CSV = ("id;profile;last_name;first_name;classes;admin\n"
                "T1;enseignant;Lefèvre;Claire;5eC;\n"
                "T2;personnel;Roux;Anne;;oui\n").encode("utf-8-sig")


def test_pupils_parents_and_teachers_in_three_files_are_one_import() -> None:
    parsed = parse_files([("eleves.csv", PUPILS_CSV), ("parents.csv", PARENTS_CSV),
                          ("personnels.csv", TEACHERS_CSV)])
    people = {p.external_id: p for p in parsed.people}
    assert set(people) == {"N1", "N2", "R1", "R2", "T1", "T2"}
    assert people["N1"].class_names == ("5eC",)
    # A parent of a pupil of another file: the link is kept (the importer
    # matches children over every file and the school).
    assert people["R1"].parent_of == ("N1",)
    assert (people["T1"].profile, people["T2"].is_admin) == (Profile.TEACHER, True)
    assert [(f.name, f.kind, f.encoding, f.people) for f in parsed.files] == [
        ("eleves.csv", "csv", "cp1252", 2), ("parents.csv", "csv", "utf-8", 2),
        ("personnels.csv", "csv", "utf-8-sig", 2)]
    assert parsed.encoding == "cp1252, utf-8, utf-8-sig"
    assert [e.shown("fr") for e in in_order(parsed.errors)] == [
        "eleves.csv, ligne 4, colonne « nom » : le nom et le prénom sont obligatoires (100 "
        "caractères au plus)",
        "parents.csv, ligne 4, colonne « identifiant » : l'identifiant N2 est déjà dans eleves.csv",
    ]
    assert in_order(parsed.errors)[1].shown("en") == \
        "parents.csv, line 4, column 'identifiant': id N2 already in eleves.csv"


def test_national_exports_and_a_csv_together() -> None:
    parsed = parse_files([
        ("ElevesSansAdresses.xml", PUPILS.encode("iso-8859-15")),
        ("sts_emp.xml", STS.encode("iso-8859-1")),
        ("ResponsablesAvecAdresses.xml", GUARDIANS.encode("iso-8859-15")),
        ("vie-scolaire.csv", "id;profil;nom;prénom\nV1;personnel;Blanc;Zoé\n".encode()),
    ])
    ids = {p.external_id for p in parsed.people}
    assert {"siecle-e-1001", "siecle-r-9001", "sts-4001", "V1"} <= ids
    assert {f.name: (f.kind, f.people) for f in parsed.files} == {
        "ElevesSansAdresses.xml": ("siecle-pupils", 2), "sts_emp.xml": ("sts-web", 3),
        "ResponsablesAvecAdresses.xml": ("siecle-guardians", 2),
        "vie-scolaire.csv": ("csv", 1)}
    # The SIECLE pupil without a name: the error names its file.
    assert [e.shown("fr") for e in parsed.errors] == [
        "ElevesSansAdresses.xml, élément « nom » : ELEVE 1004 : le nom et le prénom sont "
        "obligatoires"]


def test_one_file_reads_as_it_always_did() -> None:
    assert parse_files([("eleves.csv", PUPILS_CSV)]) == parse_csv(PUPILS_CSV)
    alone = parse_files([("", PUPILS_CSV)])
    assert alone.files == []
    assert alone.errors[0].shown("fr").startswith("ligne 4, colonne « nom »")
