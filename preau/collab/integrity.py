"""Would a stock Yjs client integrate this update exactly as yrs does?

The server's replica is yrs (pycrdt); its users' replicas are Yjs. Both accept
updates that the other reads or integrates differently, and a pupil with a
copy of a document can send any bytes. Each such update left the replicas
apart for good: stock clients threw (``Unexpected case``, ``reading 'id'``),
the browser showed other text than the export, the stored state itself became
unreadable to Yjs. Five checks close that class (docs/collab.md, "Poisoned
updates"):

1. **Read alike.** The update is parsed as Yjs reads it (:mod:`preau.collab.updates`)
   and compared, value by value, with yrs' re-encoding of it
   (``merge_updates``): a byte yrs and Yjs read differently makes them differ.
   The room relays and stores yrs' re-encoding, never the bytes as received.
2. **Built on what exists.** An item's origins and parent must name a struct
   the document or the update holds before it (Yjs throws on an own-client
   reference to the future); a parent must be a shared type.
3. **In its place.** Yjs gives an item the parent written in the update, or
   its origin's, or its right origin's: both neighbours must be in the same
   type, text content may not go into an array (nor the reverse), and a
   struct may not rewrite the part of one the document holds with another
   parent (preau/collab/places.py).
4. **In order.** An insertion's left neighbour (origin) comes before its
   right one in the document, and is not the same character.
5. **No half characters.** Yjs counts text in UTF-16 code units and replaces
   a surrogate pair it must split with two U+FFFD; yrs does not, and then
   encodes a state Yjs cannot read. An insertion next to, or a deletion
   bounded by, the middle of a pair is refused. (A stock client makes one only
   if asked for an index inside an emoji; its copy is then reset.)

References to structs nobody has yet (a client that built on another node's
update this node has not received) stay allowed: they wait as pending structs
in every replica alike, and the room replays the store when they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, StickyIndex, Transaction, merge_updates

from preau.collab import updates
from preau.collab.codec import CodecError, var_uint
from preau.collab.places import Places, lookup, place_all, shape_of
from preau.collab.updates import ID, Parsed, Struct

_GAPS = {updates.GC, updates.SKIP}
_MERGEABLE = {updates.STRING, updates.ANY, updates.JSON_CONTENT, updates.DELETED}


class Poisoned(ValueError):
    """An update a Yjs client would not integrate as yrs does; ``args[0]`` says why."""


class Unknown(ValueError):
    """An update that builds on, or deletes, structs the replica does not hold
    (every replica would keep it pending): wait for them, or refuse it."""


def admit(parsed: Parsed, update: bytes, index: DocIndex, state: dict[int, int]) -> bytes:
    """The bytes to integrate for ``update`` (parsed by
    :func:`preau.collab.updates.parse`) into the replica whose state vector
    is ``state`` (client → next clock); raises Unknown or Poisoned. The caller
    integrates them, then calls :func:`check_placed` (Poisoned: the replica
    must be rebuilt), and only then notes them in ``index``, stores and
    relays them."""
    if unknown(parsed, state):
        raise Unknown("builds on changes the document does not have")
    return check(parsed, update, index, state)


@dataclass(slots=True)
class DocIndex:
    """What the checks need to know of the document: per client, the clocks
    of its shared-type items and of the second halves of surrogate pairs in
    its strings. Filled from every update the replica integrates."""

    types: dict[int, set[int]] = field(default_factory=dict)
    low_surrogates: dict[int, set[int]] = field(default_factory=dict)
    # client -> (end clock, right origin) of its last item: typing goes on
    # from there, and its order was checked when that item came.
    typing: dict[int, tuple[int, ID | None]] = field(default_factory=dict)
    places: Places = field(default_factory=Places)

    def add(self, parsed: Parsed) -> None:
        _index(parsed.structs, self.types, self.low_surrogates)
        placed, _ = place_all(parsed.structs, self.places)
        for item, place in zip(parsed.structs, placed, strict=True):
            self.places.record(item, place)
        for item in parsed.structs:  # in wire order: per client, clock order
            if item.kind not in (updates.GC, updates.SKIP):
                self.typing[item.client] = (item.clock + item.length, item.right)


def reencode(update: bytes) -> bytes:
    """yrs' encoding of ``update`` (what the room stores and relays)."""
    try:
        return merge_updates(update)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pyo3 panics derive from BaseException
        raise Poisoned("yrs cannot read it") from exc


def check(parsed: Parsed, update: bytes, index: DocIndex, state: dict[int, int]) -> bytes:
    """The bytes to store and relay for ``update`` (parsed by
    :func:`preau.collab.updates.parse`), or Poisoned. ``state`` is the replica's
    state vector (client → next clock)."""
    canonical = reencode(update)
    if canonical != update:  # the same bytes, read strictly: read alike
        try:
            again = updates.parse(canonical)
        except CodecError as exc:
            raise Poisoned(f"yrs re-encodes it as something Yjs cannot read ({exc})") from None
        if _normal(parsed) != _normal(again):
            raise Poisoned("Yjs and yrs read it differently")
    _check_references(parsed, index, state)
    _check_places(parsed, index, state)
    return canonical


def unknown(parsed: Parsed, state: dict[int, int]) -> bool:
    """Does the update build on, or delete, structs that neither the replica
    (``state``) nor the update itself holds? Every replica would keep such
    an update pending until they arrive."""
    # Per client of the update, the end of what the replica and it hold
    # (not a copy of the whole state: it may hold a thousand clients).
    ends: dict[int, int] = {}
    for client, (first, end) in parsed.ids.structs.items():
        held = state.get(client, 0)
        if first > held:
            return True  # a gap before its first struct
        ends[client] = max(held, end)

    def known_end(client: int) -> int:
        return ends[client] if client in ends else state.get(client, 0)

    for client, clock in parsed.ids.references.items():
        if clock >= known_end(client):
            return True
    for client, ranges in parsed.ids.deletes.items():
        end = known_end(client)
        if any(length and start + length > end for start, length in ranges):
            return True
    return False


def _check_references(parsed: Parsed, index: DocIndex, state: dict[int, int]) -> None:
    own_types: dict[int, set[int]] = {}
    own_lows: dict[int, set[int]] = {}
    _index(parsed.structs, own_types, own_lows)
    lows = _Union(index.low_surrogates, own_lows)
    types = _Union(index.types, own_types)
    carried = parsed.ids.structs
    for item in parsed.structs:
        if item.kind in (updates.GC, updates.SKIP):
            continue
        held = state.get(item.client, 0)
        if item.clock < held < item.clock + item.length and held in own_lows.get(item.client, ()):
            raise Poisoned("the part of a string this document lacks starts inside a character")
        for ref in _references(item):
            if ref[0] == item.client and ref[1] >= item.clock:
                raise Poisoned("an item builds on its own future")
        if item.origin is not None and item.origin == item.right:
            raise Poisoned("an insertion's left and right are the same character")
        if item.origin is not None and lows.has(item.origin[0], item.origin[1] + 1):
            raise Poisoned("an insertion splits a character in two")
        if item.right is not None and lows.has(*item.right):
            raise Poisoned("an insertion splits a character in two")
        if item.parent is not None and item.parent[0] == "item":
            client, clock = item.parent[1], item.parent[2]
            known = clock < state.get(client, 0) or _inside(carried.get(client), clock)
            if known and not types.has(client, clock):
                raise Poisoned("an item's parent is not a shared type")
    for client, ranges in parsed.ids.deletes.items():
        for start, length in ranges:
            if length and (lows.has(client, start) or lows.has(client, start + length)):
                raise Poisoned("a deletion splits a character in two")


def _check_places(parsed: Parsed, index: DocIndex, state: dict[int, int]) -> None:
    """Every item goes where Yjs and yrs both put it (preau/collab/places.py)."""
    placed, own = place_all(parsed.structs, index.places)
    for item, place in zip(parsed.structs, placed, strict=True):
        if item.kind in (updates.GC, updates.SKIP):
            continue
        if item.origin is not None and item.right is not None:
            left = lookup(item.origin, own, index.places)
            right = lookup(item.right, own, index.places)
            if left is not None and right is not None and left != right:
                raise Poisoned("an insertion's neighbours are in different places")
        held = state.get(item.client, 0)
        if item.clock < held < item.clock + item.length:
            kept = index.places.at(item.client, held - 1)
            if kept is not None and kept != place:
                raise Poisoned("a change rewrites part of what the document holds")
        shape = shape_of(item.kind)
        if place is not None and place[1] is None and shape is not None:
            established = index.places.shapes.get(place[0]) or own.shapes.get(place[0])
            if established is not None and established != shape:
                raise Poisoned("content that does not belong in that place")


def check_placed(parsed: Parsed, index: DocIndex, doc: Doc[Any]) -> None:
    """Once ``parsed`` is integrated into ``doc`` (and before it goes anywhere):
    every insertion's left neighbour (origin) comes before its right one.

    An item is created between the two, and items never move, so that holds
    in every replica; Yjs and yrs place an item whose origins are in the
    wrong order differently (and Yjs itself differently when it loads a
    whole state). Read after integration, when the update's own items have a
    position too. Positions cost a walk from the item to the start of its
    parent (yrs), so they are skipped for typing that goes on where the same
    client's previous item was (already checked)."""
    typing = dict(index.typing)
    to_place = []
    for item in parsed.structs:
        if item.kind in (updates.GC, updates.SKIP):
            continue
        origin, right = item.origin, item.right
        if origin is not None and right is not None and not (
                origin == (item.client, item.clock - 1)
                and typing.get(item.client) == (item.clock, right)):
            to_place.append((origin, right))
        typing[item.client] = (item.clock + item.length, right)
    if not to_place:
        return
    with doc.transaction() as txn:
        for origin, right in to_place:
            left_at, right_at = _position(origin, txn), _position(right, txn)
            if left_at is not None and right_at is not None and left_at > right_at:
                raise Poisoned("an insertion's left comes after its right")


def _position(at: ID, txn: Transaction) -> int | None:
    """Where the item ``at`` is in its parent (deleted items count for
    nothing: they are where the next live one is)."""
    encoded = b"\x00" + var_uint(at[0]) + var_uint(at[1]) + b"\x00"  # Yjs RelativePosition
    try:
        return StickyIndex.decode(encoded).get_index(txn)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:  # not in a sequence (a map entry): nothing to compare
        return None


def _references(item: Struct) -> Iterable[ID]:
    if item.origin is not None:
        yield item.origin
    if item.right is not None:
        yield item.right
    if item.parent is not None and item.parent[0] == "item":
        yield item.parent[1], item.parent[2]


def _inside(span: tuple[int, int] | None, clock: int) -> bool:
    return span is not None and span[0] <= clock < span[1]


class _Union:
    """Two client → clocks indexes read as one, without copying either."""

    __slots__ = ("first", "second")

    def __init__(self, first: dict[int, set[int]], second: dict[int, set[int]]) -> None:
        self.first = first
        self.second = second

    def has(self, client: int, clock: int) -> bool:
        return clock in self.first.get(client, ()) or clock in self.second.get(client, ())


def _index(
    structs: list[Struct], types: dict[int, set[int]], lows: dict[int, set[int]]
) -> None:
    for item in structs:
        if item.kind == updates.TYPE:
            types.setdefault(item.client, set()).add(item.clock)
        elif item.kind == updates.STRING and not item.content.isascii():
            units = item.content.encode("utf-16-le")
            found = [item.clock + i // 2 for i in range(2, len(units), 2)
                     if 0xDC <= units[i + 1] <= 0xDF]
            if found:
                lows.setdefault(item.client, set()).update(found)


def _normal(parsed: Parsed) -> tuple[Any, ...]:
    """The update as a value: structs per client, adjacent mergeable items
    joined (encoders may or may not split them), deletions as sorted
    disjoint ranges."""
    by_client: dict[int, list[Struct]] = {}
    for item in parsed.structs:
        by_client.setdefault(item.client, []).append(item)
    structs = []
    for client in sorted(by_client):
        runs: list[list[Any]] = []
        for item in sorted(by_client[client], key=lambda s: s.clock):
            last = runs[-1] if runs else None
            if (last is not None and item.kind == last[2] and item.kind in _GAPS
                    and item.clock == last[0] + last[1]):
                last[1] += item.length
                continue
            if (last is not None and item.kind == last[2] and item.kind in _MERGEABLE
                    and item.clock == last[0] + last[1]
                    and item.origin == (client, item.clock - 1) and item.right == last[4]
                    and item.parent is None):
                last[1] += item.length
                last[7] = _join(item.kind, last[7], item.content, last[1])
                continue
            runs.append([item.clock, item.length, item.kind, item.origin, item.right,
                         item.parent, item.parent_sub, item.content])
        structs.append((client, tuple(tuple(run) for run in runs)))
    deletes = tuple(sorted(
        (client, tuple(updates.merge_ranges(ranges)))
        for client, ranges in parsed.ids.deletes.items()
        if updates.merge_ranges(ranges)))
    return tuple(structs), deletes


def _join(kind: int, left: Any, right: Any, length: int) -> Any:
    if kind == updates.STRING:
        return left + right
    if kind == updates.DELETED:
        return None
    return list(left) + list(right)
