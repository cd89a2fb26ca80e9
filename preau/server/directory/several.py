"""Several directory files imported as one (issue 19): a school's pupils,
parents and teachers in separate CSV files, the SIECLE and STS-web exports
together, an AAF set, or a mix — one preview, one report, one import.

National XML exports are read together (parse_national: a guardians' file
names pupils of the pupils' file); each CSV file is read on its own (its own
header, encoding and separator). People are then put together: an id given
by two files is kept from the first and rejected on the second, a parent of
a pupil of another file is fine (the importer matches children over the
whole set and the school). Every error names its file. No I/O here.
"""

from __future__ import annotations

import dataclasses

from preau.server.directory.csv_import import (
    FRENCH_COLUMNS,
    MAX_ROWS,
    FileRead,
    ParsedImport,
    RowError,
    parse_csv,
)
from preau.server.directory.national import kind_of, parse_national

MAX_FILES = 20


def parse_files(files: list[tuple[str, bytes]]) -> ParsedImport:
    """``files``: (name, content) pairs. One file reads exactly as it always
    did (its errors name no file); several give one ParsedImport whose
    ``files`` say what each was."""
    if len(files) == 1:
        data = files[0][1]
        return parse_national([data]) if kind_of(data) else parse_csv(data)
    result = ParsedImport()
    owner: dict[str, str] = {}  # external id -> the file that gave it
    national = [(name, data) for name, data in files if kind_of(data)]
    parts: list[tuple[str, ParsedImport, str]] = []
    if national:
        together = parse_national([data for _, data in national])
        names = {number: name for number, (name, _) in enumerate(national, start=1)}
        # National errors carry the file's number among the XML files.
        together.errors = [e._replace(file=names.get(e.line, "")) for e in together.errors]
        parts.append(("", together, ""))
    for name, data in files:
        if kind_of(data):
            continue
        parts.append((name, parse_csv(data), "csv"))
    counts: dict[str, int] = {}
    for name, parsed, _ in parts:
        if name:
            result.errors.extend(e._replace(file=name) for e in parsed.errors)
        else:
            result.errors.extend(parsed.errors)
        for person in parsed.people:
            source = name or _national_file(person.external_id, national)
            first = owner.get(person.external_id)
            if first is not None:
                result.errors.append(RowError(
                    person.line, f"id {person.external_id} already in {first}",
                    # A CSV's column as its header names it; an export's element.
                    FRENCH_COLUMNS["id"] if name else "id",
                    f"l'identifiant {person.external_id} est déjà dans {first}",
                    xml=not name, file=source))
                continue
            owner[person.external_id] = source
            counts[source] = counts.get(source, 0) + 1
            result.people.append(dataclasses.replace(person, file=source, xml=not name))
        for klass, level in parsed.levels.items():
            result.levels.setdefault(klass, level)
    for name, data in files:
        kind = kind_of(data)
        encoding = "" if kind else next(p.encoding for n, p, _ in parts if n == name)
        result.files.append(FileRead(name, kind or "csv", encoding, counts.get(name, 0)))
    encodings = [f.encoding for f in result.files if f.encoding]
    result.encoding = ", ".join(dict.fromkeys(encodings)) or "xml"
    if len(result.people) > MAX_ROWS:
        result.errors.append(RowError(0, f"more than {MAX_ROWS} people", "",
                                      f"plus de {MAX_ROWS} personnes"))
        del result.people[MAX_ROWS:]
    return result


def _national_file(external_id: str, national: list[tuple[str, bytes]]) -> str:
    """Which of the national files a person read from them came from: the
    kind their id is namespaced by (siecle-e-, siecle-r-, sts-), else the
    first AAF file."""
    wanted = ("siecle-pupils" if external_id.startswith("siecle-e-")
              else "siecle-guardians" if external_id.startswith("siecle-r-")
              else "sts-web" if external_id.startswith("sts-") else "aaf")
    for name, data in national:
        if kind_of(data) == wanted:
            return name
    return national[0][0] if national else ""
