"""The AAF format (issue 19, item 4): files generated here in the shape the
academies send to ENTs (``ficAlimMENESR``, one ``addRequest`` per person,
``attr``/``value`` pairs; docs/operations.md, "AAF", field by field), read
into the same import as a CSV file, with every bad record reported by file
and field, then imported into a real store and through ``preau import``."""

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
UAI = "0751234A"


def request(aaf_id: str, category: str, tag: str = "addRequest", **attrs: str | list[str]) -> str:
    def attr(name: str, values: str | list[str]) -> str:
        listed = [values] if isinstance(values, str) else values
        return (f'<attr name="{name}">' + "".join(f"<value>{v}</value>" for v in listed)
                + "</attr>")

    return (f"<{tag}><operationalAttributes>{attr('categoriePersonne', category)}"
            f"</operationalAttributes><identifier><id>{aaf_id}</id></identifier><attributes>"
            + "".join(attr(k, v) for k, v in attrs.items()) + f"</attributes></{tag}>")


def feed(*requests: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ficAlimMENESR>'
            + "".join(requests) + "</ficAlimMENESR>").encode()


PUPILS = feed(
    request("5001", "Eleve", sn="MARTIN", givenName="Léa",
            ENTEleveClasses=f"{UAI}$5EME B", ENTEleveGroupes=[f"{UAI}$LATIN", f"{UAI}$LV2ESP"],
            ENTElevePersRelEleve=["6001", "6002", "6003"],
            ENTEleveAutoriteParentale=["6001", "6002"]),
    request("5002", "Eleve", sn="Petit", givenName="Inès", ENTEleveClasses=f"{UAI}$4A",
            ENTElevePersRelEleve="6004"),
    request("5003", "Eleve", sn="Sans", givenName="Classe"),  # no class
    request("", "Eleve", sn="Sans", givenName="Id", ENTEleveClasses=f"{UAI}$4A"),
    request("5004", "Eleve", givenName="Sans-Nom", ENTEleveClasses=f"{UAI}$4A"),
)
GUARDIANS = feed(
    request("6001", "PersRelEleve", sn="MARTIN", givenName="Camille",
            mail="camille@famille.example", ENTAuxPersRelEleveEleve="5001"),
    request("6002", "PersRelEleve", sn="Martin", givenName="Paul"),
    request("6003", "PersRelEleve", sn="Durand", givenName="Odile"),  # no parental authority
    request("6004", "PersRelEleve", sn="Petit", givenName="Marc", mail="pas-une-adresse"),
    request("6005", "PersRelEleve", sn="Roux", givenName="Jean",
            ENTAuxPersRelEleveEleve="9999"),  # a pupil of no file
)
STAFF = feed(
    request("7001", "PersEducNat", sn="LEFÈVRE", givenName="Claire",
            ENTPersonProfils="National_ENS", ENTAuxEnsClasses=[f"{UAI}$5EME B", f"{UAI}$4A"],
            ENTAuxEnsGroupes=f"{UAI}$LATIN"),
    request("7002", "PersEducNat", sn="Roux", givenName="Anne", ENTPersonProfils="National_DIR"),
    request("7003", "Inconnu", sn="X", givenName="Y"),
    request("7001", "PersEducNat", tag="modifyRequest", sn="Lefèvre-Morel", givenName="Claire",
            ENTPersonProfils="National_ENS", ENTAuxEnsClasses=f"{UAI}$5EME B"),
)


def test_an_aaf_file_is_recognised() -> None:
    assert kind_of(PUPILS) == "aaf"
    assert kind_of(b"id;profile;nom;prenom\n") is None


def test_the_three_files_become_one_import() -> None:
    parsed = parse_national([PUPILS, GUARDIANS, STAFF])
    people = {p.external_id: p for p in parsed.people}
    lea = people["aaf-5001"]
    assert (lea.profile, lea.first_name, lea.last_name) == (Profile.PUPIL, "Léa", "Martin")
    assert lea.class_names == ("5eB",)  # "5EME B" normalised
    assert lea.groups == ("LATIN", "LV2ESP")
    # Only those with parental authority (or the pupil's only responsible).
    assert people["aaf-6001"].parent_of == ("aaf-5001",)
    assert people["aaf-6001"].email == "camille@famille.example"
    assert people["aaf-6002"].parent_of == ("aaf-5001",)
    assert people["aaf-6004"].parent_of == ("aaf-5002",)
    assert people["aaf-6004"].email is None
    assert "aaf-6003" not in people
    assert "aaf-6005" not in people
    # A modifyRequest after the addRequest: the last one counts.
    claire = people["aaf-7001"]
    assert (claire.profile, claire.last_name, claire.class_names) == (
        Profile.TEACHER, "Lefèvre-Morel", ("5eB",))
    assert people["aaf-7002"].profile is Profile.STAFF
    assert sorted((e.line, e.field, e.message_fr) for e in parsed.errors) == [
        (1, "ENTEleveClasses", "AAF 5003 : dans aucune classe"),
        (1, "id", "AAF  : pas d'identifiant"),
        (1, "sn", "AAF 5004 : le nom et le prénom sont obligatoires"),
        (3, "categoriePersonne", "AAF 7003 : categoriePersonne inconnue « Inconnu »"),
    ]
    assert parsed.errors[0].shown("fr").startswith("fichier ")


async def test_imported_into_a_store(store: Store) -> None:
    report = await import_directory(
        store, parse_national([PUPILS, GUARDIANS, STAFF]), uai=UAI, school_name="Collège",
        timezone="Europe/Paris", activation_ttl_s=3600, now_ms=NOW)
    view = await store.load_school(report.school.id)
    assert view is not None
    ids = {p.external_id: p.id for p in view.people.values()}
    names = {c.id: (c.name, c.kind) for c in view.classes.values()}
    assert {names[c] for c in view.members[ids["aaf-5001"]].classes} == {
        ("5eB", "class"), ("LATIN", "group"), ("LV2ESP", "group")}
    assert view.members[ids["aaf-6001"]].children == {ids["aaf-5001"]}
    again = await import_directory(
        store, parse_national([PUPILS, GUARDIANS, STAFF]), uai=UAI, school_name="Collège",
        timezone="Europe/Paris", activation_ttl_s=3600, now_ms=NOW + 1)
    assert again.created == []


def test_the_command_line_reads_aaf_files(tmp_path: Path) -> None:
    paths = []
    for name, data in (("ENT2D.ELEVE.xml", PUPILS), ("ENT2D.PERSRELELEVE.xml", GUARDIANS),
                       ("ENT2D.PERSEDUCNAT.xml", STAFF)):
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    env = {**os.environ, "PREAU_DATA_DIR": str(tmp_path / "data"), "PREAU_SEED_DEMO": "false"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", *paths, "--school", UAI,
         "--name", "Collège AAF"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr  # four records refused
    assert "ENT2D.PERSEDUCNAT.xml, élément « categoriePersonne »" in done.stderr
    assert "7 created" in done.stdout
    assert "Léa Martin" in done.stdout
