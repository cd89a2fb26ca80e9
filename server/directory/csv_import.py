"""Parse a school's directory CSV, without I/O (docs/operations.md, "Importing a school").

One row per person; a header names the columns (any order, case-insensitive,
French names accepted)::

    id;profile;last_name;first_name;classes;parent_of;admin
    E001;pupil;Martin;Léa;5eB;;
    P001;parent;Martin;Paul;;E001;
    T001;teacher;Durand;Claire;5eB|4eA;;
    S001;staff;Petit;Anne;;;yes

An optional ``niveau`` (``level``) column marks the classes of a row as
kindergarten (``maternelle``) or primary (``elementaire``; ``élémentaire``,
``primaire`` accepted): the mood of the day is for their pupils
(docs/protocol.md, "Mood of the day"). An empty cell leaves the class's level
as it is; two rows giving one class different levels is an error on the
second.

The delimiter is ``;`` (what French spreadsheets write) or ``,``, detected
from the header. Lists inside a cell are separated by ``|``. Every bad row is
reported with its line number and left out; the good rows are still imported.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from server.directory.model import Profile
from server.text import without_bidi_controls

COLUMN_ALIASES: dict[str, str] = {
    "id": "id", "identifiant": "id", "external_id": "id",
    "profile": "profile", "profil": "profile",
    "last_name": "last_name", "nom": "last_name",
    "first_name": "first_name", "prenom": "first_name", "prénom": "first_name",
    "classes": "classes", "class": "classes", "classe": "classes",
    "parent_of": "parent_of", "parent_de": "parent_of", "enfants": "parent_of",
    "admin": "admin",
    "niveau": "level", "level": "level",
}
LEVEL_ALIASES: dict[str, str] = {
    "maternelle": "maternelle", "kindergarten": "maternelle",
    "elementaire": "elementaire", "élémentaire": "elementaire", "primaire": "elementaire",
    "primary": "elementaire",
}
REQUIRED = ("id", "profile", "last_name", "first_name")

PROFILE_ALIASES: dict[str, Profile] = {
    "pupil": Profile.PUPIL, "student": Profile.PUPIL, "eleve": Profile.PUPIL,
    "élève": Profile.PUPIL,
    "teacher": Profile.TEACHER, "enseignant": Profile.TEACHER,
    "parent": Profile.PARENT, "relative": Profile.PARENT, "responsable": Profile.PARENT,
    "staff": Profile.STAFF, "personnel": Profile.STAFF,
}
TRUE = {"yes", "oui", "true", "1", "y", "o", "x"}
FALSE = {"", "no", "non", "false", "0", "n"}

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_NAME = 100
MAX_CLASS = 40
MAX_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class ParsedPerson:
    line: int
    external_id: str
    profile: Profile
    first_name: str
    last_name: str
    class_names: tuple[str, ...]
    parent_of: tuple[str, ...]
    is_admin: bool
    level: str | None = None  # the ``niveau`` of the row's classes, if given


@dataclass
class ParsedImport:
    people: list[ParsedPerson] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    # Class name → level (``maternelle``, ``elementaire``), from ``niveau``.
    levels: dict[str, str] = field(default_factory=dict)

    def error(self, line: int, message: str) -> None:
        self.errors.append((line, message))


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split("|") if part.strip())


def _clean_name(value: str) -> str | None:
    value = " ".join(without_bidi_controls(value).split())
    if not value or len(value) > MAX_NAME or any(ord(c) < 32 for c in value):
        return None
    return value


def parse_csv(text: str) -> ParsedImport:
    result = ParsedImport()
    text = text.lstrip("\ufeff")  # spreadsheets often add a byte-order mark
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        result.error(1, "empty file")
        return result
    except csv.Error as exc:
        result.error(1, f"unreadable header: {exc}")
        return result
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = COLUMN_ALIASES.get(name.strip().lower())
        if key is None:
            result.error(1, f"unknown column {name.strip()!r}")
            return result
        columns[key] = index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        result.error(1, "missing column(s): " + ", ".join(missing))
        return result

    seen: dict[str, int] = {}
    while True:
        # The line where the row starts: a quoted cell may span several lines,
        # and the row is reported where the reader sees it begin.
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.error(line, f"unreadable row: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(result.people) + len(result.errors) >= MAX_ROWS:
            result.error(line, f"more than {MAX_ROWS} rows: the rest is ignored")
            break
        person = _parse_row(row, columns, line, result)
        if person is None:
            continue
        if person.external_id in seen:
            first = seen[person.external_id]
            result.error(line, f"id {person.external_id} already on line {first}")
            continue
        if person.level is not None:
            clash = [c for c in person.class_names
                     if result.levels.get(c, person.level) != person.level]
            if clash:
                result.error(line, f"class {clash[0]} has another level on an earlier row")
                continue
            result.levels.update(dict.fromkeys(person.class_names, person.level))
        seen[person.external_id] = line
        result.people.append(person)
    return result


def _parse_row(
    row: list[str], columns: dict[str, int], line: int, result: ParsedImport
) -> ParsedPerson | None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    if len(row) > len(columns):
        result.error(line, f"{len(row)} cells for {len(columns)} columns")
        return None
    external_id = cell("id")
    if not _ID.match(external_id):
        result.error(line, "id must be 1-64 letters, digits, '.', '_' or '-'")
        return None
    profile = PROFILE_ALIASES.get(cell("profile").lower())
    if profile is None:
        result.error(line, f"unknown profile {cell('profile')[:30]!r}")
        return None
    first_name, last_name = _clean_name(cell("first_name")), _clean_name(cell("last_name"))
    if first_name is None or last_name is None:
        result.error(line, f"first and last names are required (at most {MAX_NAME} characters)")
        return None
    classes = _split(cell("classes"))
    if any(len(c) > MAX_CLASS for c in classes):
        result.error(line, f"a class name has at most {MAX_CLASS} characters")
        return None
    if profile is Profile.PUPIL and len(classes) != 1:
        result.error(line, "a pupil is in exactly one class")
        return None
    if profile in (Profile.PARENT, Profile.STAFF) and classes:
        result.error(line, f"a {profile.value} has no class (parents follow their children)")
        return None
    parent_of = _split(cell("parent_of"))
    if profile is Profile.PARENT and not parent_of:
        result.error(line, "a parent needs at least one child in parent_of")
        return None
    if profile is not Profile.PARENT and parent_of:
        result.error(line, "only parents have parent_of")
        return None
    if any(not _ID.match(child) for child in parent_of):
        result.error(line, "parent_of lists ids separated by '|'")
        return None
    admin = cell("admin").lower()
    if admin not in TRUE and admin not in FALSE:
        result.error(line, "admin is yes or no")
        return None
    level: str | None = None
    if cell("level"):
        level = LEVEL_ALIASES.get(cell("level").lower())
        if level is None:
            result.error(line, "niveau is maternelle or elementaire (or empty)")
            return None
        if not classes:
            result.error(line, "niveau is for the classes of a pupil or a teacher")
            return None
    return ParsedPerson(
        line=line,
        external_id=external_id,
        profile=profile,
        first_name=first_name,
        last_name=last_name,
        class_names=classes,
        parent_of=parent_of,
        is_admin=admin in TRUE,
        level=level,
    )
