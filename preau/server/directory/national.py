"""Read the national exports French schools have, without I/O: SIECLE (pupils
and their legal guardians) and STS-web (staff and who teaches which division).

A secondary school's office exports, from the national applications:

- ``ElevesSansAdresses.xml`` (SIECLE, root ``BEE_ELEVES``): every pupil
  (``ELEVE ELEVE_ID=…`` with ``NOM_DE_FAMILLE``/``NOM_USAGE``, ``PRENOM``, and
  ``DATE_SORTIE`` once they left) and their structures (``STRUCTURES_ELEVE``:
  ``CODE_STRUCTURE`` with ``TYPE_STRUCTURE`` ``D`` for the division, ``G`` for a
  group);
- ``ResponsablesAvecAdresses.xml`` (SIECLE, root ``BEE_RESPONSABLES``): the
  people responsible for pupils (``PERSONNE PERSONNE_ID=…``) and the links
  (``RESPONSABLE_ELEVE``: ``ELEVE_ID``, ``PERSONNE_ID``, ``RESP_LEGAL`` 1 or 2
  for a legal guardian, 0 for another contact);
- ``sts_emp_<UAI>_<year>.xml`` (STS-web, root ``STS_EDT``): the staff
  (``INDIVIDU ID=… TYPE=…`` with ``NOM_USAGE``, ``PRENOM``, ``FONCTION``: ``ENS``
  for a teacher) and, per division (``DIVISION CODE=…``), the teachers of its
  services (``ENSEIGNANT ID=…``).

They become the same :class:`~preau.server.directory.csv_import.ParsedImport` as a
CSV file, so the importer (matching by external id, rollover, codes) is one.
External ids are namespaced by source (``siecle-e-…``, ``siecle-r-…``,
``sts-…``) so that the three files, and a school's own CSV, never collide.
Only legal guardians get a parent account (a contact who is not one has no
right to the child's school life); a pupil who left is not imported. A
pupil's groups (``TYPE_STRUCTURE`` ``G``: options, languages) and who teaches
them (STS-web ``GROUPE CODE=…`` with its ``ENSEIGNANT ID=…``) are read as
groups. The AAF format (``ficAlimMENESR``) is read by
``preau/server/directory/aaf.py`` and joins the same import.

The XML comes from the school's own office, and is still parsed defensively:
the standard library's expat (2.4.1 and later) refuses entity-expansion bombs
and ElementTree never fetches external entities; a file that is not one of
the three is refused whole with a clear error.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from preau.server.directory import aaf
from preau.server.directory.csv_import import (
    MAX_CLASS,
    MAX_ROWS,
    ParsedImport,
    ParsedPerson,
    _clean_name,
    normalise_class,
)
from preau.server.directory.model import Profile

KINDS = {"BEE_ELEVES": "siecle-pupils", "BEE_RESPONSABLES": "siecle-guardians",
         "STS_EDT": "sts-web", "ficAlimMENESR": "aaf"}
TEACHER_FUNCTIONS = {"ENS"}  # STS-web FONCTION of a teacher; every other is staff
LEGAL_GUARDIAN = {"1", "2"}


def kind_of(data: bytes) -> str | None:
    """Which national export ``data`` is (``siecle-pupils``, ``siecle-guardians``,
    ``sts-web``), or None for anything else (a CSV file)."""
    head = data.lstrip()[:4096]
    if not head.startswith(b"<"):
        return None
    for root, kind in KINDS.items():
        if f"<{root}".encode() in head:
            return kind
    return None


def parse_national(files: list[bytes]) -> ParsedImport:
    """The people of one or several national exports, as one import. Errors
    name the file (its kind) and the record, in French and English."""
    result = ParsedImport(xml=True)
    pupils: dict[str, ParsedPerson] = {}
    guardians: dict[str, tuple[str, str, str]] = {}  # PERSONNE_ID -> (id, first, last)
    links: dict[str, list[str]] = {}  # PERSONNE_ID -> pupils' external ids
    staff: dict[str, tuple[str, str, Profile]] = {}
    teaches: dict[str, set[str]] = {}
    in_groups: dict[str, set[str]] = {}
    aaf_records: list[aaf.Record] = []
    for number, data in enumerate(files, start=1):
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            result.error(number, f"file {number} is not readable XML: {exc}",
                         f"le fichier {number} n'est pas un XML lisible : {exc}")
            continue
        kind = KINDS.get(root.tag)
        if kind == "siecle-pupils":
            _pupils(root, number, result, pupils)
        elif kind == "siecle-guardians":
            _guardians(root, number, result, guardians, links)
        elif kind == "sts-web":
            _staff(root, number, result, staff, teaches, in_groups)
        elif kind == "aaf":
            aaf.read(root, number, result, aaf_records)
        else:
            result.error(number, f"file {number} is not a SIECLE, STS-web or AAF export"
                         f" ({root.tag})", f"le fichier {number} n'est pas un export SIECLE,"
                         f" STS-web ni AAF ({root.tag})")
    result.people.extend(pupils.values())
    known = {p.external_id for p in pupils.values()}
    for person_id, (external_id, first, last) in sorted(guardians.items()):
        children = tuple(sorted(links.get(person_id, ())))
        if not children:
            continue  # responsible for no pupil of these files (or not a legal guardian)
        unknown = [c for c in children if c not in known]
        if unknown and pupils:
            # Pupils of another year, or who left: the link goes with them.
            children = tuple(c for c in children if c in known)
            if not children:
                continue
        result.people.append(ParsedPerson(0, external_id, Profile.PARENT, first, last, (),
                                          children, False))
    for individual, (first, last, profile) in sorted(staff.items()):
        teacher = profile is Profile.TEACHER
        classes = tuple(sorted(teaches.get(individual, ()))) if teacher else ()
        own = tuple(sorted(in_groups.get(individual, set()) - set(classes))) if teacher else ()
        result.people.append(ParsedPerson(0, f"sts-{individual}", profile, first, last,
                                          classes, (), False, groups=own))
    result.people.extend(aaf.people(aaf_records))
    if len(result.people) > MAX_ROWS:
        result.error(0, f"more than {MAX_ROWS} people", f"plus de {MAX_ROWS} personnes")
        del result.people[MAX_ROWS:]
    return result


def _text(element: ET.Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _name(element: ET.Element, number: int, what: str, result: ParsedImport,
          first_tag: str = "PRENOM") -> tuple[str, str] | None:
    last = _clean_name(_text(element, "NOM_USAGE") or _text(element, "NOM_DE_FAMILLE")
                       or _text(element, "NOM_PATRONYMIQUE"))
    first = _clean_name(_text(element, first_tag))
    if first is None or last is None:
        result.error(number, f"{what}: first and last names are required",
                     f"{what} : le nom et le prénom sont obligatoires", "nom")
        return None
    return (first.title() if first.isupper() else first,
            last.title() if last.isupper() else last)


def _pupils(root: ET.Element, number: int, result: ParsedImport,
            pupils: dict[str, ParsedPerson]) -> None:
    divisions: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for links in root.iter("STRUCTURES_ELEVE"):
        pupil_id = links.get("ELEVE_ID", "")
        for structure in links.iter("STRUCTURE"):
            code = _text(structure, "CODE_STRUCTURE")
            if _text(structure, "TYPE_STRUCTURE") == "D":
                divisions[pupil_id] = normalise_class(code)
            elif _text(structure, "TYPE_STRUCTURE") == "G" and _group(code):
                groups.setdefault(pupil_id, []).append(_group(code))
    for pupil in root.iter("ELEVE"):
        pupil_id = pupil.get("ELEVE_ID", "")
        what = f"ELEVE {pupil_id[:20]}"
        if not pupil_id.isalnum() or len(pupil_id) > 40:
            result.error(number, f"{what}: no ELEVE_ID", f"{what} : pas d'ELEVE_ID", "ELEVE_ID")
            continue
        if _text(pupil, "DATE_SORTIE"):
            continue  # left the school
        names = _name(pupil, number, what, result)
        if names is None:
            continue
        division = divisions.get(pupil_id)
        if not division:
            result.error(number, f"{what}: in no division", f"{what} : dans aucune division",
                         "STRUCTURE")
            continue
        own = tuple(dict.fromkeys(g for g in groups.get(pupil_id, ()) if g != division))
        pupils[pupil_id] = ParsedPerson(0, f"siecle-e-{pupil_id}", Profile.PUPIL, names[0],
                                        names[1], (division,), (), False, groups=own)


def _guardians(root: ET.Element, number: int, result: ParsedImport,
               guardians: dict[str, tuple[str, str, str]], links: dict[str, list[str]]) -> None:
    for person in root.iter("PERSONNE"):
        person_id = person.get("PERSONNE_ID", "")
        what = f"PERSONNE {person_id[:20]}"
        if not person_id.isalnum() or len(person_id) > 40:
            result.error(number, f"{what}: no PERSONNE_ID", f"{what} : pas de PERSONNE_ID",
                         "PERSONNE_ID")
            continue
        names = _name(person, number, what, result)
        if names is not None:
            guardians[person_id] = (f"siecle-r-{person_id}", names[0], names[1])
    for link in root.iter("RESPONSABLE_ELEVE"):
        if _text(link, "RESP_LEGAL") not in LEGAL_GUARDIAN:
            continue
        pupil_id, person_id = _text(link, "ELEVE_ID"), _text(link, "PERSONNE_ID")
        if pupil_id.isalnum() and person_id in guardians:
            links.setdefault(person_id, []).append(f"siecle-e-{pupil_id}")


def _group(code: str) -> str:
    """A group's name as written, single spaces; "" when empty or too long."""
    name = " ".join(code.split())
    return name if 0 < len(name) <= MAX_CLASS and name.isprintable() else ""


def _staff(root: ET.Element, number: int, result: ParsedImport,
           staff: dict[str, tuple[str, str, Profile]], teaches: dict[str, set[str]],
           in_groups: dict[str, set[str]]) -> None:
    for individual in root.iter("INDIVIDU"):
        individual_id = individual.get("ID", "")
        what = f"INDIVIDU {individual_id[:20]}"
        if not individual_id.isalnum() or len(individual_id) > 40:
            result.error(number, f"{what}: no ID", f"{what} : pas d'ID", "ID")
            continue
        names = _name(individual, number, what, result)
        if names is None:
            continue
        profile = (Profile.TEACHER if _text(individual, "FONCTION") in TEACHER_FUNCTIONS
                   else Profile.STAFF)
        staff[individual_id] = (names[0], names[1], profile)
    for division in root.iter("DIVISION"):
        code = normalise_class(division.get("CODE", ""))
        if not code:
            continue
        for teacher in division.iter("ENSEIGNANT"):
            teaches.setdefault(teacher.get("ID", ""), set()).add(code)
    for group in root.iter("GROUPE"):
        code = _group(group.get("CODE", ""))
        if not code:
            continue
        for teacher in group.iter("ENSEIGNANT"):
            in_groups.setdefault(teacher.get("ID", ""), set()).add(code)
