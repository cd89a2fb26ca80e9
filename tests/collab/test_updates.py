"""preau/collab/updates.py against pycrdt: the ids an update carries, over random edits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from preau.collab import codec, updates

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                               max_size=3),
    max_leaves=8,
)
OPS = st.lists(st.tuples(st.sampled_from(
    ["insert", "delete", "format", "embed", "map", "array", "nested", "xml", "bytes"]),
    # ASCII words: pycrdt's own len() and del disagree on multi-byte text
    # (non-ASCII lengths are checked below, without deletions).
    st.integers(0, 50), st.text("abcxyz", min_size=1, max_size=6), JSON),
    min_size=1, max_size=12)


def _edit(doc: Doc[Any], op: str, n: int, word: str, value: Any) -> None:
    text = doc.get("content", type=Text)
    size = len(text)
    if op == "insert" or size == 0:
        text.insert(n % (size + 1), word)
    elif op == "delete":
        start = n % size
        del text[start:min(size, start + 3)]
    elif op == "format":
        text.format(n % size, min(size, n % size + 2), {"bold": True, "x": value})
    elif op == "embed":
        rich = doc.get("rich", type=Text)  # apart: pycrdt's len() and del miscount embeds
        rich.insert_embed(n % (len(rich) + 1), {"image": word})
    elif op == "map":
        doc.get("m", type=Map)[word] = value
    elif op == "array":
        doc.get("a", type=Array).append(value)
    elif op == "nested":
        doc.get("m", type=Map)[word] = Map({"k": Array([value, word])})
    elif op == "bytes":
        doc.get("a", type=Array).append(word.encode())
    else:
        doc.get("x", type=XmlFragment).children.append(
            XmlElement("p", {"class": word}, [XmlText(word)]))


@settings(max_examples=60, deadline=None)
@given(OPS, OPS)
def test_ids_match_what_pycrdt_says(first: list[Any], second: list[Any]) -> None:
    a: Doc[Any] = Doc()
    b: Doc[Any] = Doc()
    for op in first:
        _edit(a, *op)
    b.apply_update(a.get_update())
    before = b.get_state()
    for op in second:
        _edit(b, *op)
    whole = updates.read(b.get_update())
    state = updates.read_state_vector(b.get_state())
    assert {c: end for c, (_, end) in whole.structs.items()} == state
    assert all(start == 0 for start, _ in whole.structs.values())
    incremental = updates.read(b.get_update(before))
    held = updates.read_state_vector(before)
    for client, (start, end) in incremental.structs.items():
        assert start == held.get(client, 0)
        assert end == state[client]
    # Every item referenced exists in the document.
    for client, clock in incremental.references.items():
        assert clock < state[client]
    # The delete set is the document's.
    assert incremental.deletes == updates.read(b.get_update(b.get_state())).deletes


def test_garbage_raises_a_codec_error() -> None:
    with pytest.raises(codec.CodecError):
        updates.read(b"\x01\x01\xff\xff\xff\xff")
    with pytest.raises(codec.CodecError):
        updates.read(b"\x05")


def test_covered() -> None:
    assert updates.covered([(2, 3)], [(0, 3), (3, 4)])
    assert not updates.covered([(2, 3)], [(0, 3)])
    assert updates.covered([(5, 0)], [])


def test_string_lengths_count_utf16_units_as_yjs_does() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    for word in ("é", "😀", "a😀b", "𝒳y", "日本"):
        before = doc.get_state()
        text.insert(0, word)
        ids = updates.read(doc.get_update(before))
        state = updates.read_state_vector(doc.get_state())
        assert {c: end for c, (_, end) in ids.structs.items()} == state
