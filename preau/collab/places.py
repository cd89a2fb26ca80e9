"""Where each struct of a document lives: its parent type and map key, by clock.

Yjs gives an item the parent written in the update, or else its origin's, or
else its right origin's (``Item.getMissing``). yrs mostly does the same, but
not when an update's structs disagree with one another or with the document
(neighbours in two different types, text content in an array, a struct that
rewrites part of one the document holds): then each puts the item somewhere
else. ``preau/collab/integrity.py`` refuses those; this module answers "where is
(client, clock)?" for it, for the document (kept up to date as updates are
integrated) and for an update's own structs.

A place is ``(parent, key)``: ``parent`` is ``("root", name)`` or
``("item", client, clock)`` (a nested type), ``key`` the map key or None for
a sequence. Runs of consecutive clocks in the same place are kept as one
entry, so typing costs nothing per keystroke.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from preau.collab import updates
from preau.collab.updates import Struct

Place = tuple[Any, str | None]

TEXT = "text"
LIST = "list"
_SHAPES = {
    updates.STRING: TEXT, updates.FORMAT: TEXT, updates.EMBED: TEXT,
    updates.ANY: LIST, updates.JSON_CONTENT: LIST, updates.BINARY: LIST, updates.SUBDOC: LIST,
}


def shape_of(kind: int) -> str | None:
    """Which kind of sequence content ``kind`` is (types and deletions fit both)."""
    return _SHAPES.get(kind)


class Places:
    """Per client, runs of clocks and their place; per parent, its shape."""

    __slots__ = ("_ends", "_places", "_starts", "shapes")

    def __init__(self) -> None:
        self._starts: dict[int, list[int]] = {}
        self._places: dict[int, list[Place | None]] = {}
        self._ends: dict[int, int] = {}
        self.shapes: dict[Any, str] = {}  # parent -> TEXT or LIST, from its sequence items

    def at(self, client: int, clock: int) -> Place | None:
        """The place of (client, clock), or None if unknown here (or GC'd)."""
        starts = self._starts.get(client)
        if not starts or clock >= self._ends[client]:
            return None
        i = bisect_right(starts, clock) - 1
        return self._places[client][i] if i >= 0 else None

    def end(self, client: int) -> int:
        return self._ends.get(client, 0)

    def record(self, item: Struct, place: Place | None) -> None:
        """Note ``item`` (the part of it beyond what is known) at ``place``."""
        end = item.clock + item.length
        known = self._ends.get(item.client, 0)
        if end <= known:
            return
        start = max(item.clock, known)
        starts = self._starts.setdefault(item.client, [])
        places = self._places.setdefault(item.client, [])
        if not (starts and places[-1] == place and known == start):
            starts.append(start)
            places.append(place)
        self._ends[item.client] = end
        shape = shape_of(item.kind)
        if place is not None and place[1] is None and shape is not None:
            self.shapes.setdefault(place[0], shape)


def place_all(structs: Sequence[Struct], known: Places) -> tuple[list[Place | None], Places]:
    """The place of each struct of an update, in wire order, as Yjs gives it,
    and the update's own places (its items can build on one another)."""
    own = Places()
    out: list[Place | None] = []
    for item in structs:
        place = where(item, own, known)
        out.append(place)
        own.record(item, place)
    return out, own


def where(item: Struct, *places: Places) -> Place | None:
    if item.kind in (updates.GC, updates.SKIP):
        return None
    if item.parent is not None:
        return item.parent, item.parent_sub
    ref = item.origin if item.origin is not None else item.right
    if ref is None:
        return None
    return lookup(ref, *places)


def lookup(ref: tuple[int, int], *places: Places) -> Place | None:
    for table in places:
        found = table.at(*ref)
        if found is not None:
            return found
    return None
