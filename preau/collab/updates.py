"""A Yjs v1 update read the way a stock Yjs client reads it, without integrating it.

pycrdt answers "does it decode" and "what is beyond this state vector", but
neither "which client ids does it carry" (the room needs that to refuse the
later updates of a client whose change it refused: docs/collab.md, "Refused
edits") nor "would a Yjs client read these bytes as yrs does" (it needs that
to refuse a poisoned update: docs/collab.md, "Poisoned updates"). This module
parses the v1 format exactly as Yjs' ``readClientsStructRefs``,
``readItemContent`` and ``readDeleteSet`` do, value by value, so that
:mod:`preau.collab.integrity` can compare an update with yrs' re-encoding of it and
check what it builds on.

It reads untrusted bytes: anything a Yjs client would not read, or would read
differently from yrs, raises :class:`~preau.collab.codec.CodecError`, and the
caller refuses the update. Where Yjs is lax and yrs is not (or the reverse),
this parser is strict: a client block listed twice (Yjs keeps the second,
yrs both), trailing bytes, invalid UTF-8 (Yjs reads U+FFFD, yrs refuses),
JSON that Yjs' ``JSON.parse`` would throw on, content or type numbers no
Yjs version knows.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from preau.collab.codec import CodecError, Reader

# Item info byte (Yjs structs/Item.js)
_HAS_ORIGIN = 0x80
_HAS_RIGHT_ORIGIN = 0x40
_HAS_PARENT_SUB = 0x20
_CONTENT = 0x1F

GC = 0
DELETED = 1
JSON_CONTENT = 2
BINARY = 3
STRING = 4
EMBED = 5
FORMAT = 6
TYPE = 7
ANY = 8
SUBDOC = 9
SKIP = 10

_XML_ELEMENT = 3  # type refs that carry a node name
_XML_HOOK = 5
_TYPE_REFS = 7  # YArray … YXmlText
_MAX_DEPTH = 64  # nesting of lib0 "any" values
_MAX_SAFE = 2**53 - 1

ID = tuple[int, int]  # (client, clock)


@dataclass(slots=True)
class Struct:
    """One struct as a Yjs client decodes it.

    ``parent`` is ``("root", name)``, ``("item", client, clock)`` or None when
    the item takes its parent from its origins. ``content`` is the decoded
    value(s), comparable across encodings (JSON parsed, strings as text).
    """

    client: int
    clock: int
    length: int
    kind: int
    origin: ID | None = None
    right: ID | None = None
    parent: tuple[Any, ...] | None = None
    parent_sub: str | None = None
    content: Any = None


@dataclass(slots=True)
class UpdateIds:
    """The ids an update mentions.

    ``structs``: client → (first clock, end clock) of the structs it carries
    for that client (GC and skip ranges included). ``references``: client →
    the highest clock an item's origin, right origin or parent points at.
    ``deletes``: client → the (clock, length) ranges its delete set names.
    """

    structs: dict[int, tuple[int, int]] = field(default_factory=dict)
    references: dict[int, int] = field(default_factory=dict)
    deletes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def _refer(self, client: int, clock: int) -> None:
        if clock > self.references.get(client, -1):
            self.references[client] = clock


@dataclass(slots=True)
class Parsed:
    """A whole update: its structs in wire order, and the ids it mentions."""

    structs: list[Struct] = field(default_factory=list)
    ids: UpdateIds = field(default_factory=UpdateIds)


def read(update: bytes) -> UpdateIds:
    """The ids of a v1 update; raises CodecError if a Yjs client would not read it."""
    return parse(update).ids


def parse(update: bytes) -> Parsed:
    """Every struct and deletion of a v1 update; raises CodecError if a Yjs
    client would not read it exactly as written."""
    reader = Reader(update)
    parsed = Parsed()
    ids = parsed.ids
    for _ in range(_count(reader, update)):
        count = _count(reader, update)
        client = reader.var_uint()
        first = clock = reader.var_uint()
        if client in ids.structs:
            # Yjs keeps only the last block of a client, yrs merges them.
            raise CodecError("bad_update", "a client's structs listed twice")
        for _ in range(count):
            item = _struct(reader, client, clock)
            parsed.structs.append(item)
            for ref in (item.origin, item.right):
                if ref is not None:
                    ids._refer(*ref)
            if item.parent is not None and item.parent[0] == "item":
                ids._refer(item.parent[1], item.parent[2])
            clock += item.length
            if clock > _MAX_SAFE:
                raise CodecError("bad_update", "clock beyond 2**53")
        if count:
            ids.structs[client] = (first, clock)
    for _ in range(_count(reader, update)):
        client = reader.var_uint()
        ranges = ids.deletes.setdefault(client, [])
        for _ in range(_count(reader, update)):
            start = reader.var_uint()
            length = reader.var_uint()
            if length == 0:  # no encoder writes one; Yjs may throw on it
                raise CodecError("bad_update", "empty deletion")
            if start + length > _MAX_SAFE:
                raise CodecError("bad_update", "deletion beyond 2**53")
            ranges.append((start, length))
    reader.end()
    return parsed


def _count(reader: Reader, data: bytes) -> int:
    count = reader.var_uint()
    if count > len(data):  # every counted element takes at least one byte
        raise CodecError("truncated", "count larger than the update")
    return count


def _byte(reader: Reader) -> int:
    if reader.pos >= len(reader.data):
        raise CodecError("truncated", "update ends inside a struct")
    value = reader.data[reader.pos]
    reader.pos += 1
    return value


def _take(reader: Reader, size: int) -> bytes:
    if reader.pos + size > len(reader.data):
        raise CodecError("truncated", "update ends inside a value")
    chunk = reader.data[reader.pos:reader.pos + size]
    reader.pos += size
    return chunk


def _string(reader: Reader) -> str:
    try:
        return reader.var_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("bad_update", "string is not UTF-8") from None


def _json(text: str) -> Any:
    """What JavaScript's JSON.parse makes of it (refused if it would throw)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise CodecError("bad_update", "content is not JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: Python reads them, JSON.parse does not


def _struct(reader: Reader, client: int, clock: int) -> Struct:
    info = _byte(reader)
    kind = info & _CONTENT
    if kind in (GC, SKIP):
        length = reader.var_uint()
        if length == 0:
            raise CodecError("bad_update", "empty struct")
        return Struct(client, clock, length, kind)
    item = Struct(client, clock, 0, kind)
    if info & _HAS_ORIGIN:
        item.origin = (reader.var_uint(), reader.var_uint())
    if info & _HAS_RIGHT_ORIGIN:
        item.right = (reader.var_uint(), reader.var_uint())
    if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
        if reader.var_uint() == 1:
            item.parent = ("root", _string(reader))
        else:
            item.parent = ("item", reader.var_uint(), reader.var_uint())
        if info & _HAS_PARENT_SUB:
            item.parent_sub = _string(reader)
    item.length, item.content = _content(reader, kind)
    if item.length == 0:
        raise CodecError("bad_update", "empty item")
    return item


def _content(reader: Reader, kind: int) -> tuple[int, Any]:
    """(length in clock units, decoded content) of one item's content."""
    if kind == DELETED:
        return reader.var_uint(), None
    if kind == JSON_CONTENT:  # n strings, "undefined" or JSON
        values = []
        for _ in range(_count(reader, reader.data)):
            text = _string(reader)
            values.append(_UNDEFINED if text == "undefined" else _json(text))
        return len(values), values
    if kind == BINARY:
        return 1, reader.var_bytes()
    if kind == STRING:  # its length in UTF-16 code units, as Yjs counts
        text = _string(reader)
        return len(text.encode("utf-16-le")) // 2, text
    if kind == EMBED:
        return 1, _json(_string(reader))
    if kind == FORMAT:
        return 1, (_string(reader), _json(_string(reader)))
    if kind == TYPE:
        ref = reader.var_uint()
        if ref >= _TYPE_REFS:
            raise CodecError("bad_update", f"unknown type {ref}")
        return 1, (ref, _string(reader) if ref in (_XML_ELEMENT, _XML_HOOK) else None)
    if kind == ANY:
        values = [_any(reader, 0) for _ in range(_count(reader, reader.data))]
        return len(values), values
    if kind == SUBDOC:
        return 1, (_string(reader), _any(reader, 0))
    raise CodecError("bad_update", f"unknown content type {kind}")


class _Undefined:
    """JavaScript's undefined, as a comparable value."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Undefined)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED = _Undefined()
_NAN = "\x00NaN"  # NaN compares equal to itself once read


def _number(value: float) -> Any:
    return _NAN if math.isnan(value) else value


def _any(reader: Reader, depth: int) -> Any:
    """One lib0 ``any`` value (lib0/decoding.js readAny)."""
    if depth > _MAX_DEPTH:
        raise CodecError("bad_update", "value nested too deep")
    tag = _byte(reader)
    if tag == 127:
        return _UNDEFINED
    if tag == 126:
        return None
    if tag == 125:
        return _var_int(reader)
    if tag == 124:
        return _number(struct.unpack(">f", _take(reader, 4))[0])
    if tag == 123:
        return _number(struct.unpack(">d", _take(reader, 8))[0])
    if tag == 122:
        return ("bigint", struct.unpack(">q", _take(reader, 8))[0])
    if tag == 121:
        return False
    if tag == 120:
        return True
    if tag == 119:
        return _string(reader)
    if tag == 118:
        out = {}
        for _ in range(_count(reader, reader.data)):
            key = _string(reader)
            out[key] = _any(reader, depth + 1)
        # By key: yrs keeps an object's entries in a hash map, so its
        # re-encoding may list them in another order (the same value).
        return ("object", tuple(sorted(out.items(), key=lambda item: item[0])))
    if tag == 117:
        return ("array", tuple(_any(reader, depth + 1)
                               for _ in range(_count(reader, reader.data))))
    if tag == 116:
        return ("bytes", reader.var_bytes())
    raise CodecError("bad_update", f"unknown value tag {tag}")


def _var_int(reader: Reader) -> int:
    """lib0 readVarInt: sign in the first byte's bit 6, then 7 bits per byte."""
    byte = _byte(reader)
    value = byte & 0x3F
    sign = -1 if byte & 0x40 else 1
    shift = 6
    while byte & 0x80:
        byte = _byte(reader)
        value |= (byte & 0x7F) << shift
        shift += 7
        if value > _MAX_SAFE:
            raise CodecError("varint_too_long", "integer above 2**53")
    return sign * value


def read_state_vector(state_vector: bytes) -> dict[int, int]:
    """A Yjs state vector (varUint count, then client/clock pairs) as a dict."""
    reader = Reader(state_vector)
    out = {}
    for _ in range(_count(reader, state_vector)):
        client = reader.var_uint()
        out[client] = reader.var_uint()
    reader.end()
    return out


def covered(ranges: list[tuple[int, int]], by: list[tuple[int, int]]) -> bool:
    """Is every (clock, length) range of ``ranges`` inside the union of ``by``?"""
    merged = merge_ranges(by)
    for start, length in ranges:
        if length == 0:
            continue
        if not any(lo <= start and start + length <= hi for lo, hi in merged):
            return False
    return True


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(clock, length) ranges as sorted, disjoint [start, end) intervals."""
    merged: list[list[int]] = []
    for start, length in sorted(ranges):
        if length == 0:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], start + length)
        else:
            merged.append([start, start + length])
    return [(lo, hi) for lo, hi in merged]
