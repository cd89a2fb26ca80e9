"""What a Yjs update touches, read without integrating it: whose structs, which
items it builds on, what it deletes.

pycrdt answers "does it decode" and "what is beyond this state vector", but
not "which client ids does it carry": the room needs that to refuse the later
updates of a client whose change it refused (docs/collab.md, "Refused
edits"). This module walks the v1 update format (Yjs ``readClientsStructRefs``
and ``readDeleteSet``) and keeps only the ids, skipping every content.

It reads untrusted bytes: anything it cannot walk raises
:class:`~collab.codec.CodecError`, and the caller treats that update as not
decodable (pycrdt would refuse it as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collab.codec import CodecError, Reader

# Item info byte (Yjs structs/Item.js)
_HAS_ORIGIN = 0x80
_HAS_RIGHT_ORIGIN = 0x40
_HAS_PARENT_SUB = 0x20
_CONTENT = 0x1F

_XML_ELEMENT = 3  # type refs that carry a node name
_XML_HOOK = 5
_MAX_DEPTH = 64  # nesting of lib0 "any" values


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


def read(update: bytes) -> UpdateIds:
    """The ids of a v1 update; raises CodecError if it cannot be walked."""
    reader = Reader(update)
    ids = UpdateIds()
    for _ in range(_count(reader, update)):
        structs = _count(reader, update)
        client = reader.var_uint()
        first = clock = reader.var_uint()
        for _ in range(structs):
            clock += _struct(reader, ids)
        if structs:
            start, end = ids.structs.get(client, (first, clock))
            ids.structs[client] = (min(start, first), max(end, clock))
    for _ in range(_count(reader, update)):
        client = reader.var_uint()
        ranges = ids.deletes.setdefault(client, [])
        for _ in range(_count(reader, update)):
            start = reader.var_uint()
            ranges.append((start, reader.var_uint()))
    reader.end()
    return ids


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


def _skip(reader: Reader, size: int) -> None:
    if reader.pos + size > len(reader.data):
        raise CodecError("truncated", "update ends inside a value")
    reader.pos += size


def _struct(reader: Reader, ids: UpdateIds) -> int:
    """Walk one struct; its length in clock units."""
    info = _byte(reader)
    content = info & _CONTENT
    if content == 0 or content == 10:  # GC, skip
        return reader.var_uint()
    if info & _HAS_ORIGIN:
        client = reader.var_uint()
        ids._refer(client, reader.var_uint())
    if info & _HAS_RIGHT_ORIGIN:
        client = reader.var_uint()
        ids._refer(client, reader.var_uint())
    if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
        if reader.var_uint() == 1:
            reader.var_bytes()  # a root type's name
        else:
            client = reader.var_uint()
            ids._refer(client, reader.var_uint())  # the parent item
        if info & _HAS_PARENT_SUB:
            reader.var_bytes()
    return _content(reader, content)


def _content(reader: Reader, kind: int) -> int:
    if kind == 1:  # deleted
        return reader.var_uint()
    if kind == 2:  # JSON: n strings
        count = _count(reader, reader.data)
        for _ in range(count):
            reader.var_bytes()
        return count
    if kind == 3:  # binary
        reader.var_bytes()
        return 1
    if kind == 4:  # string: its length in UTF-16 code units, as Yjs counts
        try:
            text = reader.var_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError("bad_update", "string is not UTF-8") from None
        return len(text.encode("utf-16-le")) // 2
    if kind == 5:  # embed (JSON)
        reader.var_bytes()
        return 1
    if kind == 6:  # format: key, JSON value
        reader.var_bytes()
        reader.var_bytes()
        return 1
    if kind == 7:  # type
        if reader.var_uint() in (_XML_ELEMENT, _XML_HOOK):
            reader.var_bytes()
        return 1
    if kind == 8:  # any: n values
        count = _count(reader, reader.data)
        for _ in range(count):
            _any(reader, 0)
        return count
    if kind == 9:  # subdocument: guid, options
        reader.var_bytes()
        _any(reader, 0)
        return 1
    raise CodecError("bad_update", f"unknown content type {kind}")


def _any(reader: Reader, depth: int) -> None:
    """Skip one lib0 ``any`` value."""
    if depth > _MAX_DEPTH:
        raise CodecError("bad_update", "value nested too deep")
    tag = _byte(reader)
    if tag in (127, 126, 121, 120):  # undefined, null, false, true
        return
    if tag == 125:  # varInt
        while _byte(reader) & 0x80:
            pass
    elif tag == 124:
        _skip(reader, 4)
    elif tag in (123, 122):
        _skip(reader, 8)
    elif tag in (119, 116):  # string, bytes
        reader.var_bytes()
    elif tag == 118:  # object
        for _ in range(_count(reader, reader.data)):
            reader.var_bytes()
            _any(reader, depth + 1)
    elif tag == 117:  # array
        for _ in range(_count(reader, reader.data)):
            _any(reader, depth + 1)
    else:
        raise CodecError("bad_update", f"unknown value tag {tag}")


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
    merged: list[list[int]] = []
    for start, length in sorted(by):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], start + length)
        else:
            merged.append([start, start + length])
    for start, length in ranges:
        if length == 0:
            continue
        if not any(lo <= start and start + length <= hi for lo, hi in merged):
            return False
    return True
