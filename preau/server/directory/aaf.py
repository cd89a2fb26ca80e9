"""Read the AAF format (Annuaire Académique Fédérateur: the academy's feed to
ENTs, as Open ENT NG's feeder reads it), without I/O (docs/operations.md,
"AAF", field by field).

An AAF export is a set of XML files, one per kind of person, each rooted in
``ficAlimMENESR``, one request per person (``addRequest``; ``modifyRequest``
in the daily deltas reads alike; ``deleteRequest`` is left to a rollover)::

    <addRequest>
      <operationalAttributes>
        <attr name="categoriePersonne"><value>Eleve</value></attr>
      </operationalAttributes>
      <identifier><id>5012345</id></identifier>
      <attributes>
        <attr name="sn"><value>MARTIN</value></attr>
        <attr name="givenName"><value>Léa</value></attr>
        <attr name="ENTEleveClasses"><value>0751234A$5EB</value></attr>
        ...

``categoriePersonne`` is ``Eleve`` (pupils), ``PersRelEleve`` (the people
responsible for pupils) or ``PersEducNat`` (staff: teachers when
``ENTPersonProfils`` holds ``National_ENS``). Classes and groups are
``UAI$CODE`` values. External ids are ``aaf-<id>``, so they never collide
with another source's. Only the people a pupil names in
``ENTEleveAutoriteParentale`` (or, when a pupil has none, in
``ENTElevePersRelEleve``), or who name a pupil in
``ENTAuxPersRelEleveEleve``, get a parent account.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from preau.server.directory.csv_import import (
    MAX_CLASS,
    ParsedImport,
    ParsedPerson,
    _clean_name,
    normalise_class,
    valid_email,
)
from preau.server.directory.model import Profile

CATEGORIES = {"Eleve": Profile.PUPIL, "PersRelEleve": Profile.PARENT,
              "PersEducNat": Profile.STAFF}
TEACHER_PROFILES = {"National_ENS"}
REQUESTS = ("addRequest", "modifyRequest")


@dataclass
class Record:
    """One person of an AAF file, before the links between files are made."""

    file: int
    id: str
    profile: Profile
    first_name: str
    last_name: str
    classes: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    guardians: list[str] = field(default_factory=list)  # a pupil's, by AAF id
    children: list[str] = field(default_factory=list)  # a guardian's, by AAF id
    email: str | None = None


def _values(attributes: ET.Element | None, name: str) -> list[str]:
    if attributes is None:
        return []
    for attr in attributes.iter("attr"):
        if attr.get("name") == name:
            return [(v.text or "").strip() for v in attr.iter("value") if (v.text or "").strip()]
    return []


def _code(value: str) -> str:
    """``UAI$CODE`` (sometimes ``UAI$CODE$more``) → ``CODE``."""
    parts = value.split("$")
    return " ".join((parts[1] if len(parts) > 1 else parts[0]).split())


def read(root: ET.Element, number: int, result: ParsedImport, records: list[Record]) -> None:
    """Every person of one AAF file into ``records``; bad ones into ``result``."""
    for request in (r for tag in REQUESTS for r in root.iter(tag)):
        identifier = request.find("identifier/id")
        aaf_id = (identifier.text or "").strip() if identifier is not None else ""
        what = f"AAF {aaf_id[:20]}"
        if not aaf_id.isalnum() or len(aaf_id) > 40:
            result.error(number, f"{what}: no identifier", f"{what} : pas d'identifiant", "id")
            continue
        category = (_values(request.find("operationalAttributes"), "categoriePersonne")
                    or [""])[0]
        profile = CATEGORIES.get(category)
        if profile is None:
            result.error(number, f"{what}: unknown categoriePersonne {category[:30]!r}",
                         f"{what} : categoriePersonne inconnue « {category[:30]} »",
                         "categoriePersonne")
            continue
        attributes = request.find("attributes")
        last = _clean_name((_values(attributes, "sn") or _values(attributes, "ENTPersonNomPatro")
                            or [""])[0])
        first = _clean_name((_values(attributes, "givenName") or [""])[0])
        if first is None or last is None:
            result.error(number, f"{what}: first and last names are required",
                         f"{what} : le nom et le prénom sont obligatoires", "sn")
            continue
        record = Record(number, aaf_id, profile, first.title() if first.isupper() else first,
                        last.title() if last.isupper() else last)
        mail = (_values(attributes, "mail") or [""])[0]
        record.email = valid_email(mail) if mail else None
        if profile is Profile.PUPIL:
            record.classes = [normalise_class(_code(v))
                              for v in _values(attributes, "ENTEleveClasses")][:1]
            if not record.classes or not record.classes[0]:
                result.error(number, f"{what}: in no class", f"{what} : dans aucune classe",
                             "ENTEleveClasses")
                continue
            record.groups = [_code(v) for v in _values(attributes, "ENTEleveGroupes")]
            record.guardians = (_values(attributes, "ENTEleveAutoriteParentale")
                                or _values(attributes, "ENTElevePersRelEleve"))
        elif profile is Profile.PARENT:
            record.children = _values(attributes, "ENTAuxPersRelEleveEleve")
        else:
            if TEACHER_PROFILES & set(_values(attributes, "ENTPersonProfils")):
                record.profile = Profile.TEACHER
                record.classes = [normalise_class(_code(v))
                                  for v in _values(attributes, "ENTAuxEnsClasses")]
                record.groups = [_code(v) for v in _values(attributes, "ENTAuxEnsGroupes")]
        record.classes = [c for c in dict.fromkeys(record.classes) if 0 < len(c) <= MAX_CLASS]
        record.groups = [g for g in dict.fromkeys(record.groups)
                         if 0 < len(g) <= MAX_CLASS and g.isprintable()
                         and g not in record.classes]
        records.append(record)


def people(records: list[Record]) -> list[ParsedPerson]:
    """The people of every AAF file read, their parent links made (a person
    read twice, an addRequest then a modifyRequest: the last one counts)."""
    records = list({r.id: r for r in records}.values())
    pupils = {r.id: r for r in records if r.profile is Profile.PUPIL}
    children: dict[str, set[str]] = {}
    for pupil in pupils.values():
        for guardian in pupil.guardians:
            children.setdefault(guardian, set()).add(pupil.id)
    for record in records:
        if record.profile is Profile.PARENT:
            children.setdefault(record.id, set()).update(
                c for c in record.children if c in pupils)
    out: list[ParsedPerson] = []
    for record in records:
        parent_of: tuple[str, ...] = ()
        if record.profile is Profile.PARENT:
            parent_of = tuple(sorted(f"aaf-{c}" for c in children.get(record.id, ())
                                     if c in pupils))
            if not parent_of:
                continue  # responsible for no pupil of these files
        out.append(ParsedPerson(
            0, f"aaf-{record.id}", record.profile, record.first_name, record.last_name,
            tuple(record.classes), parent_of, False, email=record.email,
            groups=tuple(record.groups)))
    return out
