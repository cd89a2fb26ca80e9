"""SIECLE and STS-web exports (issue 19, item 4): the files a secondary
school's office exports from the national applications, generated here in
their published shape (root elements, identifiers, structures), read into
the same import as a CSV file, then imported into a real SQLite store.

The published XSDs are not on the package registries; these files follow
the structure documented by the ministry's exports and read by Open ENT NG's
feeder (docs/operations.md, "SIECLE and STS-web")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from preau.server.directory.importer import import_directory
from preau.server.directory.model import Profile
from preau.server.directory.national import kind_of, parse_national
from preau.server.store import Store

NOW = 1_700_000_000_000

PUPILS = """<?xml version="1.0" encoding="ISO-8859-15"?>
<BEE_ELEVES VERSION="3.1">
  <PARAMETRES><UAJ>0751234A</UAJ><ANNEE_SCOLAIRE>2026</ANNEE_SCOLAIRE></PARAMETRES>
  <DONNEES>
    <ELEVES>
      <ELEVE ELEVE_ID="1001" ELENOET="501"><ID_NATIONAL>111111111AA</ID_NATIONAL>
        <NOM_DE_FAMILLE>MARTIN</NOM_DE_FAMILLE><PRENOM>Léa</PRENOM>
        <DATE_NAISS>03/04/2014</DATE_NAISS></ELEVE>
      <ELEVE ELEVE_ID="1002" ELENOET="502">
        <NOM_DE_FAMILLE>BERNARD</NOM_DE_FAMILLE><NOM_USAGE>BERNARD-HÉBERT</NOM_USAGE>
        <PRENOM>HUGO</PRENOM></ELEVE>
      <ELEVE ELEVE_ID="1003" ELENOET="503">
        <NOM_DE_FAMILLE>PETIT</NOM_DE_FAMILLE><PRENOM>Inès</PRENOM>
        <DATE_SORTIE>15/01/2026</DATE_SORTIE></ELEVE>
      <ELEVE ELEVE_ID="1004" ELENOET="504">
        <NOM_DE_FAMILLE></NOM_DE_FAMILLE><PRENOM>Sans</PRENOM></ELEVE>
    </ELEVES>
    <STRUCTURES>
      <STRUCTURES_ELEVE ELEVE_ID="1001" ELENOET="501">
        <STRUCTURE><CODE_STRUCTURE>6A</CODE_STRUCTURE><TYPE_STRUCTURE>D</TYPE_STRUCTURE></STRUCTURE>
        <STRUCTURE><CODE_STRUCTURE>LATIN</CODE_STRUCTURE><TYPE_STRUCTURE>G</TYPE_STRUCTURE></STRUCTURE>
      </STRUCTURES_ELEVE>
      <STRUCTURES_ELEVE ELEVE_ID="1002" ELENOET="502">
        <STRUCTURE><CODE_STRUCTURE>6B</CODE_STRUCTURE><TYPE_STRUCTURE>D</TYPE_STRUCTURE></STRUCTURE>
      </STRUCTURES_ELEVE>
      <STRUCTURES_ELEVE ELEVE_ID="1003" ELENOET="503">
        <STRUCTURE><CODE_STRUCTURE>6A</CODE_STRUCTURE><TYPE_STRUCTURE>D</TYPE_STRUCTURE></STRUCTURE>
      </STRUCTURES_ELEVE>
    </STRUCTURES>
  </DONNEES>
</BEE_ELEVES>
"""

GUARDIANS = """<?xml version="1.0" encoding="ISO-8859-15"?>
<BEE_RESPONSABLES VERSION="3.1">
  <PARAMETRES><UAJ>0751234A</UAJ></PARAMETRES>
  <DONNEES>
    <PERSONNES>
      <PERSONNE PERSONNE_ID="9001"><LC_CIVILITE>MME</LC_CIVILITE>
        <NOM_DE_FAMILLE>MARTIN</NOM_DE_FAMILLE><PRENOM>Camille</PRENOM></PERSONNE>
      <PERSONNE PERSONNE_ID="9002"><NOM_DE_FAMILLE>MARTIN</NOM_DE_FAMILLE>
        <PRENOM>Paul</PRENOM></PERSONNE>
      <PERSONNE PERSONNE_ID="9003"><NOM_DE_FAMILLE>DURAND</NOM_DE_FAMILLE>
        <PRENOM>Odile</PRENOM></PERSONNE>
      <PERSONNE PERSONNE_ID="9004"><NOM_DE_FAMILLE>PETIT</NOM_DE_FAMILLE>
        <PRENOM>Marc</PRENOM></PERSONNE>
    </PERSONNES>
    <RESPONSABLES>
      <RESPONSABLE_ELEVE><ELEVE_ID>1001</ELEVE_ID><PERSONNE_ID>9001</PERSONNE_ID>
        <RESP_LEGAL>1</RESP_LEGAL><CODE_PARENTE>20</CODE_PARENTE></RESPONSABLE_ELEVE>
      <RESPONSABLE_ELEVE><ELEVE_ID>1001</ELEVE_ID><PERSONNE_ID>9002</PERSONNE_ID>
        <RESP_LEGAL>2</RESP_LEGAL><CODE_PARENTE>10</CODE_PARENTE></RESPONSABLE_ELEVE>
      <RESPONSABLE_ELEVE><ELEVE_ID>1001</ELEVE_ID><PERSONNE_ID>9003</PERSONNE_ID>
        <RESP_LEGAL>0</RESP_LEGAL><CODE_PARENTE>39</CODE_PARENTE></RESPONSABLE_ELEVE>
      <RESPONSABLE_ELEVE><ELEVE_ID>1003</ELEVE_ID><PERSONNE_ID>9004</PERSONNE_ID>
        <RESP_LEGAL>1</RESP_LEGAL></RESPONSABLE_ELEVE>
    </RESPONSABLES>
  </DONNEES>
</BEE_RESPONSABLES>
"""

STS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<STS_EDT>
  <PARAMETRES><UAJ CODE="0751234A"/><ANNEE_SCOLAIRE ANNEE="2026"/></PARAMETRES>
  <DONNEES>
    <INDIVIDUS>
      <INDIVIDU ID="4001" TYPE="epp"><NOM_USAGE>LEFÈVRE</NOM_USAGE>
        <NOM_PATRONYMIQUE>LEFÈVRE</NOM_PATRONYMIQUE><PRENOM>Claire</PRENOM>
        <FONCTION>ENS</FONCTION></INDIVIDU>
      <INDIVIDU ID="4002" TYPE="epp"><NOM_USAGE>GARNIER</NOM_USAGE><PRENOM>Julien</PRENOM>
        <FONCTION>ENS</FONCTION></INDIVIDU>
      <INDIVIDU ID="4003" TYPE="epp"><NOM_USAGE>ROUX</NOM_USAGE><PRENOM>Anne</PRENOM>
        <FONCTION>EDU</FONCTION></INDIVIDU>
    </INDIVIDUS>
    <STRUCTURE>
      <DIVISIONS>
        <DIVISION CODE="6A"><LIBELLE_LONG>6EME A</LIBELLE_LONG><SERVICES>
          <SERVICE CODE_MATIERE="030201"><ENSEIGNANTS>
            <ENSEIGNANT ID="4001" TYPE="epp"/><ENSEIGNANT ID="4002" TYPE="epp"/>
          </ENSEIGNANTS></SERVICE></SERVICES></DIVISION>
        <DIVISION CODE="6B"><SERVICES>
          <SERVICE CODE_MATIERE="061300"><ENSEIGNANTS>
            <ENSEIGNANT ID="4001" TYPE="epp"/></ENSEIGNANTS></SERVICE></SERVICES></DIVISION>
      </DIVISIONS>
    </STRUCTURE>
  </DONNEES>
</STS_EDT>
"""


def files() -> list[bytes]:
    return [PUPILS.encode("iso-8859-15"), GUARDIANS.encode("iso-8859-15"),
            STS.encode("iso-8859-1")]


def test_each_export_is_recognised_and_a_csv_is_not() -> None:
    assert [kind_of(f) for f in files()] == ["siecle-pupils", "siecle-guardians", "sts-web"]
    assert kind_of(b"id;profile;last_name;first_name\n") is None


def test_the_three_exports_become_one_import() -> None:
    parsed = parse_national(files())
    people = {p.external_id: p for p in parsed.people}
    assert set(people) == {"siecle-e-1001", "siecle-e-1002", "siecle-r-9001", "siecle-r-9002",
                           "sts-4001", "sts-4002", "sts-4003"}
    lea, hugo = people["siecle-e-1001"], people["siecle-e-1002"]
    assert (lea.first_name, lea.last_name, lea.class_names) == ("Léa", "Martin", ("6A",))
    # The name in use, capitalised as people write it; the group is not a class.
    assert (hugo.first_name, hugo.last_name) == ("Hugo", "Bernard-Hébert")
    # Legal guardians only: not the other contact (9003), nor the guardian of
    # a pupil who left (9004).
    assert people["siecle-r-9001"].parent_of == ("siecle-e-1001",)
    assert people["siecle-r-9002"].profile is Profile.PARENT
    assert people["sts-4001"].class_names == ("6A", "6B")
    assert people["sts-4002"].class_names == ("6A",)
    assert (people["sts-4003"].profile, people["sts-4003"].class_names) == (Profile.STAFF, ())
    assert [(e.line, e.field, e.message_fr) for e in parsed.errors] == [
        (1, "nom", "ELEVE 1004 : le nom et le prénom sont obligatoires")]


def test_unreadable_or_foreign_files_are_refused_with_a_reason() -> None:
    parsed = parse_national([b"<BEE_ELEVES><ELEVES>", b"<?xml version='1.0'?><OTHER/>"])
    assert parsed.people == []
    assert [e.line for e in parsed.errors] == [1, 2]
    assert "n'est pas un XML lisible" in parsed.errors[0].message_fr
    assert "n'est pas un export SIECLE, STS-web ni AAF (OTHER)" in parsed.errors[1].message_fr


def test_an_entity_bomb_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">'
                       % ((c,) + (c - 1,) * 10) for c in range(ord("b"), ord("k")))
            + b"]><BEE_ELEVES><ELEVES><ELEVE ELEVE_ID='1'><PRENOM>&j;</PRENOM></ELEVE>"
            b"</ELEVES></BEE_ELEVES>")
    parsed = parse_national([bomb])
    assert parsed.people == []
    assert parsed.errors


async def test_imported_into_a_store_with_their_links(sqlite_store: Store) -> None:
    report = await import_directory(
        sqlite_store, parse_national(files()), uai="0751234A", school_name="Collège Jean Zay",
        timezone="Europe/Paris", activation_ttl_s=3600, now_ms=NOW)
    assert len(report.errors) == 1
    view = await sqlite_store.load_school(report.school.id)
    assert view is not None
    ids = {p.external_id: p.id for p in view.people.values()}
    assert view.members[ids["siecle-r-9001"]].children == {ids["siecle-e-1001"]}
    assert {view.classes[c].name for c in view.members[ids["sts-4001"]].classes} == {"6A", "6B"}
    assert {r.name for r in view.rooms.values() if r.class_id} >= {"6A", "6B"}
    # Again, the same exports: nothing duplicated.
    again = await import_directory(
        sqlite_store, parse_national(files()), uai="0751234A", school_name="Collège Jean Zay",
        timezone="Europe/Paris", activation_ttl_s=3600, now_ms=NOW + 1)
    assert again.created == []


def test_the_command_line_reads_the_three_files(tmp_path: Path) -> None:
    names = ["ElevesSansAdresses.xml", "ResponsablesAvecAdresses.xml", "sts_emp_0751234A_2026.xml"]
    for name, data in zip(names, files(), strict=True):
        (tmp_path / name).write_bytes(data)
    env = {**os.environ, "PREAU_STORE_URL": f"sqlite:///{tmp_path / 'preau.sqlite3'}",
           "PREAU_SEED_DEMO": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", *(str(tmp_path / n) for n in names),
         "--school", "0751234A", "--name", "Collège Jean Zay"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr  # ELEVE 1004 has no name
    # Several files: each error names its own.
    assert "ElevesSansAdresses.xml, élément « nom » : ELEVE 1004" in result.stderr
    assert "7 created" in result.stdout
    assert "Camille Martin" in result.stdout
