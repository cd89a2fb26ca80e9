"""The state vector reader: always exactly the full reading, whatever changed."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Text

from preau.collab import codec
from preau.collab.statevector import StateVectorReader
from preau.collab.updates import read_state_vector


def _encode(pairs: list[tuple[int, int]]) -> bytes:
    return codec.var_uint(len(pairs)) + b"".join(
        codec.var_uint(client) + codec.var_uint(clock) for client, clock in pairs)


# One step of a vector's life: a clock moves on (its varint may grow a byte),
# a client is added or removed, the order changes, or another vector comes.
_STEP = st.one_of(
    st.tuples(st.just("tick"), st.integers(0, 50), st.integers(1, 300)),
    st.tuples(st.just("add"), st.integers(0, 2**53 - 1), st.integers(0, 2**40)),
    st.tuples(st.just("drop"), st.integers(0, 50), st.just(0)),
    st.tuples(st.just("swap"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("other"), st.integers(0, 2**32), st.integers(0, 2**20)),
)


@given(
    st.lists(st.tuples(st.integers(0, 2**53 - 1), st.integers(0, 2**40)), max_size=12,
             unique_by=lambda pair: pair[0]),
    st.lists(_STEP, max_size=30),
)
def test_every_read_is_the_full_reading(
    start: list[tuple[int, int]], steps: list[tuple[str, int, int]]
) -> None:
    reader = StateVectorReader(whole_below=0)  # the finding of changes, even when small
    pairs = list(start)
    assert reader.read(_encode(pairs)) == dict(pairs)
    whole = StateVectorReader()
    for kind, a, b in steps:
        if kind == "tick" and pairs:
            client, clock = pairs[a % len(pairs)]
            pairs[a % len(pairs)] = (client, clock + b)
        elif kind == "add" and all(client != a for client, _ in pairs):
            pairs.insert(b % (len(pairs) + 1), (a, b))
        elif kind == "drop" and pairs:
            del pairs[a % len(pairs)]
        elif kind == "swap" and pairs:
            i, j = a % len(pairs), b % len(pairs)
            pairs[i], pairs[j] = pairs[j], pairs[i]
        elif kind == "other":
            pairs = [(a, b), (a + 1, b)]
        encoded = _encode(pairs)
        assert reader.read(encoded) == read_state_vector(encoded) == dict(pairs)
        assert whole.read(encoded) == dict(pairs)


def test_a_document_of_many_sessions_read_keystroke_by_keystroke() -> None:
    # 300 editor sessions typed once, then one types on: yrs' own vectors.
    doc: Doc[Any] = Doc()
    for _ in range(300):
        session: Doc[Any] = Doc()
        session.apply_update(doc.get_update())
        session.get("content", type=Text).insert(0, "x")
        doc.apply_update(session.get_update(doc.get_state()))
    writer: Doc[Any] = Doc()
    writer.apply_update(doc.get_update())
    text = writer.get("content", type=Text)
    reader = StateVectorReader()
    reader.read(doc.get_state())
    for n in range(200):  # clocks cross 127 and 16,383: varints grow a byte
        text.insert(n % 7, "ab" * 40)
        doc.apply_update(writer.get_update(doc.get_state()))
        encoded = doc.get_state()
        before = reader.pairs_read
        assert reader.read(encoded) == read_state_vector(encoded)
        if n:  # only the writer's pair is read again (its first keystroke added it)
            assert reader.pairs_read - before == 1
