"""Parse a school's directory CSV, without I/O (docs/operations.md, "Importing a school").

One row per person; a header names the columns (any order, case-insensitive,
French names accepted)::

    id;profile;last_name;first_name;classes;parent_of;admin
    E001;pupil;Martin;Léa;5eB;;
    P001;parent;Martin;Paul;;E001;
    T001;teacher;Durand;Claire;5eB|4eA;;
    S001;staff;Petit;Anne;;;yes

An optional ``groupes`` (``groups``, ``options``) column lists the groups
of a pupil or a teacher (options, languages, half-classes: ``LV2 espagnol|
Latin``), besides the pupil's one class.

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

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from preau.server.directory.model import Profile
from preau.server.text import without_bidi_controls

COLUMN_ALIASES: dict[str, str] = {
    "id": "id", "identifiant": "id", "external_id": "id",
    "profile": "profile", "profil": "profile",
    "last_name": "last_name", "nom": "last_name",
    "first_name": "first_name", "prenom": "first_name", "prénom": "first_name",
    "classes": "classes", "class": "classes", "classe": "classes",
    "parent_of": "parent_of", "parent_de": "parent_of", "enfants": "parent_of",
    "admin": "admin",
    "niveau": "level", "level": "level",
    "email": "email", "e-mail": "email", "courriel": "email", "mel": "email", "mél": "email",
    "adresse electronique": "email", "adresse électronique": "email",
    "parent de": "parent_of", "parents de": "parent_of", "responsable de": "parent_of",
    "division": "classes", "divisions": "classes",
    "groups": "groups", "group": "groups", "groupes": "groups", "groupe": "groups",
    "options": "groups",
}
LEVEL_ALIASES: dict[str, str] = {
    "maternelle": "maternelle", "kindergarten": "maternelle",
    "elementaire": "elementaire", "élémentaire": "elementaire", "primaire": "elementaire",
    "primary": "elementaire",
}
REQUIRED = ("id", "profile", "last_name", "first_name")

# Compared without accents or case (``_plain``); a trailing number goes
# ("Responsable légal 1"). Then, the prefixes schools' exports use.
PROFILE_ALIASES: dict[str, Profile] = {
    "pupil": Profile.PUPIL, "student": Profile.PUPIL, "eleve": Profile.PUPIL,
    "eleves": Profile.PUPIL, "apprenant": Profile.PUPIL,
    "teacher": Profile.TEACHER, "enseignant": Profile.TEACHER, "enseignante": Profile.TEACHER,
    "professeur": Profile.TEACHER, "professeure": Profile.TEACHER, "prof": Profile.TEACHER,
    "parent": Profile.PARENT, "relative": Profile.PARENT, "responsable": Profile.PARENT,
    "pere": Profile.PARENT, "mere": Profile.PARENT, "tuteur": Profile.PARENT,
    "tutrice": Profile.PARENT, "famille": Profile.PARENT,
    "staff": Profile.STAFF, "personnel": Profile.STAFF, "direction": Profile.STAFF,
    "cpe": Profile.STAFF, "vie scolaire": Profile.STAFF, "secretariat": Profile.STAFF,
    "principal": Profile.STAFF, "principale": Profile.STAFF, "proviseur": Profile.STAFF,
    "proviseure": Profile.STAFF, "directeur": Profile.STAFF, "directrice": Profile.STAFF,
}
PROFILE_PREFIXES: tuple[tuple[str, Profile], ...] = (
    ("responsable", Profile.PARENT), ("representant", Profile.PARENT),
    ("parent", Profile.PARENT), ("eleve", Profile.PUPIL), ("enseignant", Profile.TEACHER),
    ("professeur", Profile.TEACHER), ("personnel", Profile.STAFF),
    ("principal adjoint", Profile.STAFF), ("proviseur adjoint", Profile.STAFF),
)
FRENCH_PROFILES = {Profile.PUPIL: "élève", Profile.PARENT: "parent",
                   Profile.TEACHER: "enseignant", Profile.STAFF: "personnel"}
# How errors name the columns, in the French of the documented header.
FRENCH_COLUMNS = {"id": "identifiant", "profile": "profil", "last_name": "nom",
                  "first_name": "prénom", "classes": "classes", "parent_of": "parent_de",
                  "admin": "admin", "level": "niveau", "email": "courriel",
                  "groups": "groupes"}
TRUE = {"yes", "oui", "true", "1", "y", "o", "x", "vrai"}
FALSE = {"", "no", "non", "false", "0", "n", "faux"}

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
    email: str | None = None  # the optional ``courriel`` column (notification e-mails)
    groups: tuple[str, ...] = ()  # the ``groupes`` column: options, languages (pupils, teachers)
    file: str = ""  # several files imported together: the one it came from (several.py)
    xml: bool = False  # read from a national export: ``line`` is the file's number

    def error(self, message: str, field: str, message_fr: str) -> RowError:
        """A rejection of this person's row, named like the parser's errors."""
        return RowError(self.line, message, field, message_fr, self.xml, self.file)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+")


def valid_email(text: str) -> str | None:
    """The address as it will be used (lower-case domain), or None: one
    plain ``local@domain.tld`` (HTML5's rule), at most 254 characters."""
    text = text.strip()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        return None
    local, domain = text.rsplit("@", 1)
    if len(local) > 64 or ".." in local or local.startswith(".") or local.endswith("."):
        return None
    return f"{local}@{domain.lower()}"


class RowError(NamedTuple):
    """A rejected row (or file): its line, what is wrong in English and in
    French, and the column at fault ("" when it is the whole row)."""

    line: int  # the line of a CSV file; the file's number for XML exports
    message: str
    field: str = ""
    message_fr: str = ""
    xml: bool = False  # a record of an XML export (preau/server/directory/national.py)
    # The file's name when several were imported together (several.py); "": one file.
    file: str = ""

    def shown(self, lang: str = "fr") -> str:
        """``ligne 4, colonne « classes » : …`` (or in English); with several
        files, the file first: ``parents.csv, ligne 4, …``."""
        if lang == "en":
            where = f"file {self.line}" if self.xml else f"line {self.line}"
            if self.file:
                where = self.file if self.xml else f"{self.file}, {where}"
            where += f", {'element' if self.xml else 'column'} {self.field!r}" if self.field else ""
            return f"{where}: {self.message}"
        where = f"fichier {self.line}" if self.xml else f"ligne {self.line}"
        if self.file:
            where = self.file if self.xml else f"{self.file}, {where}"
        where += (f", {'élément' if self.xml else 'colonne'} « {self.field} »"
                  if self.field else "")
        return f"{where} : {self.message_fr or self.message}"


def in_order(errors: Iterable[RowError]) -> list[RowError]:
    """Errors file by file (in the order given), then by line."""
    errors = list(errors)
    files: dict[str, int] = {}
    for error in errors:
        files.setdefault(error.file, len(files))
    return sorted(errors, key=lambda e: (files[e.file], e.line, e.field, e.message))


@dataclass(frozen=True, slots=True)
class FileRead:
    """One of several files imported together: its name, what it was
    (``csv``, ``siecle-pupils``, ``sts-web``, ``aaf``…), as what encoding a
    CSV was read, and how many people it gave."""

    name: str
    kind: str
    encoding: str
    people: int


@dataclass
class ParsedImport:
    people: list[ParsedPerson] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # Class name → level (``maternelle``, ``elementaire``), from ``niveau``.
    levels: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"  # what the file was read as (decode_csv)
    xml: bool = False  # read from national XML exports: errors name files, not lines
    # Several files imported together (several.py): what each was.
    files: list[FileRead] = field(default_factory=list)

    def error(self, line: int, message: str, fr: str, column: str = "") -> None:
        self.errors.append(RowError(line, message, column, fr, self.xml))


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split("|") if part.strip())


def _clean_name(value: str) -> str | None:
    value = " ".join(without_bidi_controls(value).split())
    if not value or len(value) > MAX_NAME or any(ord(c) < 32 for c in value):
        return None
    return value


def _plain(value: str) -> str:
    """Lower case, no accents, single spaces: how names are compared."""
    decomposed = unicodedata.normalize("NFKD", value.strip().lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


_SECONDARY = re.compile(r"^(\d{1,2})\s*(?:e|eme|ème|è|°|em)\s*([a-z0-9]{1,4})$", re.IGNORECASE)


def normalise_class(name: str) -> str:
    """One spelling per class: "5e B", "5eB", "5ème b", "5°B" and "5EME B" are
    all "5eB" (the secondary-school division as French schools write it);
    other names ("CM1-CM2", "MS", "Petite section") keep their words, with
    single spaces."""
    name = " ".join(without_bidi_controls(name).split())
    match = _SECONDARY.match(name)
    if match:
        return f"{int(match[1])}e{match[2].upper()}"
    return name


def profile_of(value: str) -> Profile | None:
    """The profile a school's own word means (French or English, any case,
    with or without accents, "Responsable légal 1" included)."""
    plain = _plain(value).rstrip("0123456789 ").strip()
    if plain in PROFILE_ALIASES:
        return PROFILE_ALIASES[plain]
    for prefix, profile in PROFILE_PREFIXES:
        if plain.startswith(prefix):
            return profile
    return None


# A character written in UTF-8 (two to four bytes): in a file that is not
# UTF-8 throughout, the sign of rows in two encodings.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


class MixedEncoding(ValueError):
    """Part of the file is UTF-8 and part is not (or a UTF-8 mark heads
    bytes that are not): no single reading gives every name right."""

    def __init__(self, data: bytes, offset: int) -> None:
        super().__init__("mixed encodings")
        self.line = data.count(b"\n", 0, offset) + 1


def decode_csv(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read as: UTF-8 (with or without
    a byte-order mark), UTF-16 with one, else Windows-1252 (what Excel writes
    in France when it saves "CSV (séparateur : point-virgule)")."""
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8):]
        try:
            return body.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise MixedEncoding(body, exc.start) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if _UTF8_SEQUENCE.search(data):
            # Accents written in UTF-8 and others not (rows pasted from two
            # files): read as Windows-1252, "Chloé" would become "ChloÃ©" and
            # her login be made from it, for good.
            raise MixedEncoding(data, exc.start) from None
    # Windows-1252 leaves five bytes undefined; Latin-1 reads them as controls,
    # which the name checks then refuse row by row.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _delimiter(header: str) -> str:
    """``;`` (French spreadsheets), ``,`` or a tab: the most frequent in the header."""
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ";"))


def parse_csv(text: str | bytes) -> ParsedImport:
    result = ParsedImport()
    if isinstance(text, bytes):
        try:
            text, result.encoding = decode_csv(text)
        except MixedEncoding as mixed:
            result.error(
                mixed.line, "this line is not in the same encoding as the rest of the file"
                " (save it all as UTF-8): nothing was imported",
                "cette ligne n'est pas dans le même encodage que le reste du fichier"
                " (enregistrez-le en UTF-8) : rien n'a été importé")
            return result
    text = text.lstrip("\ufeff")  # spreadsheets often add a byte-order mark
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(first_line), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        result.error(1, "empty file", "fichier vide")
        return result
    except csv.Error as exc:
        result.error(1, f"unreadable header: {exc}", f"en-tête illisible : {exc}")
        return result
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = COLUMN_ALIASES.get(_plain(name)) or COLUMN_ALIASES.get(name.strip().lower())
        if key is None:
            result.error(1, f"unknown column {name.strip()!r}",
                         f"colonne inconnue « {name.strip()} »", name.strip())
            return result
        columns[key] = index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        result.error(1, "missing column(s): " + ", ".join(missing),
                     "colonne(s) manquante(s) : " + ", ".join(FRENCH_COLUMNS[c] for c in missing))
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
            if "unexpected end of data" in str(exc):
                # A quote opened and never closed: the reader took the rest of
                # the file into that one cell, so no row after it can be told
                # apart. Nothing is imported rather than half the school.
                result.people.clear()
                result.error(
                    line, "a quote opened in this row is never closed: the file cannot be"
                    " read past it, nothing was imported",
                    "un guillemet ouvert dans cette ligne n'est jamais fermé : la suite du"
                    " fichier est illisible, rien n'a été importé")
                break
            result.error(line, f"unreadable row: {exc}", f"ligne illisible : {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(result.people) + len(result.errors) >= MAX_ROWS:
            result.error(line, f"more than {MAX_ROWS} rows: the rest is ignored",
                         f"plus de {MAX_ROWS} lignes : la suite est ignorée")
            break
        person = _parse_row(row, columns, line, result)
        if person is None:
            continue
        if person.external_id in seen:
            first = seen[person.external_id]
            result.error(line, f"id {person.external_id} already on line {first}",
                         f"l'identifiant {person.external_id} est déjà ligne {first}",
                         FRENCH_COLUMNS["id"])
            continue
        if person.level is not None:
            clash = [c for c in person.class_names
                     if result.levels.get(c, person.level) != person.level]
            if clash:
                result.error(line, f"class {clash[0]} has another level on an earlier row",
                             f"la classe {clash[0]} a un autre niveau plus haut", "niveau")
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

    def refuse(column: str, en: str, fr: str) -> None:
        result.error(line, en, fr, FRENCH_COLUMNS.get(column, column))

    if len(row) > len(columns):
        result.error(line, f"{len(row)} cells for {len(columns)} columns",
                     f"{len(row)} cases pour {len(columns)} colonnes")
        return None
    external_id = cell("id")
    if not _ID.match(external_id):
        refuse("id", "id must be 1-64 letters, digits, '.', '_' or '-'",
               "l'identifiant fait 1 à 64 lettres, chiffres, « . », « _ » ou « - »")
        return None
    profile = profile_of(cell("profile"))
    if profile is None:
        refuse("profile", f"unknown profile {cell('profile')[:30]!r}",
               f"profil inconnu « {cell('profile')[:30]} » (élève, parent, enseignant,"
               " personnel)")
        return None
    first_name, last_name = _clean_name(cell("first_name")), _clean_name(cell("last_name"))
    if first_name is None or last_name is None:
        refuse("first_name" if first_name is None else "last_name",
               f"first and last names are required (at most {MAX_NAME} characters)",
               f"le nom et le prénom sont obligatoires ({MAX_NAME} caractères au plus)")
        return None
    classes = tuple(dict.fromkeys(normalise_class(c) for c in _split(cell("classes"))))
    if any(len(c) > MAX_CLASS for c in classes):
        refuse("classes", f"a class name has at most {MAX_CLASS} characters",
               f"un nom de classe a {MAX_CLASS} caractères au plus")
        return None
    if profile is Profile.PUPIL and len(classes) != 1:
        refuse("classes", "a pupil is in exactly one class",
               "un élève est dans une classe et une seule")
        return None
    if profile in (Profile.PARENT, Profile.STAFF) and classes:
        refuse("classes", f"a {profile.value} has no class (parents follow their children)",
               f"un {FRENCH_PROFILES[profile]} n'a pas de classe (les parents suivent"
               " leurs enfants)")
        return None
    groups = tuple(dict.fromkeys(" ".join(without_bidi_controls(g).split())
                                 for g in _split(cell("groups"))))
    if any(len(g) > MAX_CLASS or any(ord(c) < 32 for c in g) for g in groups):
        refuse("groups", f"a group name has at most {MAX_CLASS} characters",
               f"un nom de groupe a {MAX_CLASS} caractères au plus")
        return None
    if groups and profile not in (Profile.PUPIL, Profile.TEACHER):
        refuse("groups", "only pupils and teachers are in groups",
               "seuls les élèves et les enseignants sont dans des groupes")
        return None
    if set(groups) & set(classes):
        refuse("groups", "a group has the name of a class",
               "un groupe porte le nom d'une classe")
        return None
    parent_of = _split(cell("parent_of"))
    if profile is Profile.PARENT and not parent_of:
        refuse("parent_of", "a parent needs at least one child in parent_of",
               "un parent a au moins un enfant dans « parent_de »")
        return None
    if profile is not Profile.PARENT and parent_of:
        refuse("parent_of", "only parents have parent_of",
               "seuls les parents ont « parent_de »")
        return None
    if any(not _ID.match(child) for child in parent_of):
        refuse("parent_of", "parent_of lists ids separated by '|'",
               "« parent_de » liste des identifiants séparés par « | »")
        return None
    admin = _plain(cell("admin"))
    if admin not in TRUE and admin not in FALSE:
        refuse("admin", "admin is yes or no", "admin vaut oui ou non")
        return None
    level: str | None = None
    if cell("level"):
        level = LEVEL_ALIASES.get(_plain(cell("level")))
        if level is None:
            refuse("level", "niveau is maternelle or elementaire (or empty)",
                   "le niveau est maternelle ou élémentaire (ou vide)")
            return None
        if not classes:
            refuse("level", "niveau is for the classes of a pupil or a teacher",
                   "le niveau concerne les classes d'un élève ou d'un enseignant")
            return None
    email: str | None = None
    if cell("email"):
        email = valid_email(cell("email"))
        if email is None:
            # The row is kept, without the address: reported with its line.
            refuse("email", "not a valid e-mail address: kept without it",
                   "adresse électronique invalide : la ligne est gardée sans elle")
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
        email=email,
        groups=groups,
    )
