"""A shared document's metadata, as the store returns it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocumentKind(StrEnum):
    """How the server reads a document's content (its root named ``content``)."""

    TEXT = "text"  # Y.Text: a report, an article of the class newspaper
    MAP = "map"  # Y.Map of JSON values: a mind map, a board


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document of a class.

    ``restricted``: only the pupils in ``editors`` edit (a group a teacher
    chose); otherwise every pupil of the class does. ``readers`` were named by
    a teacher and read only. ``locked``: nobody but the class's teachers edits.
    """

    id: str
    school_id: str
    class_id: str
    title: str
    kind: DocumentKind
    created_by: str
    created_ms: int
    restricted: bool = False
    locked: bool = False
    editors: frozenset[str] = frozenset()
    readers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DocumentVersion:
    id: str
    document_id: str
    name: str
    created_by: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class DocumentEdit:
    person_id: str
    at_ms: int
