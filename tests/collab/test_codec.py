"""The y-websocket codec without a network: round trips, pycrdt's encoders, bad bytes."""

from __future__ import annotations

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Text

from preau.collab import codec

varuints = st.integers(min_value=0, max_value=codec.MAX_VARUINT)
payloads = st.binary(max_size=300)
json_states = st.one_of(
    st.just("null"),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4).map(
        lambda d: __import__("json").dumps(d)
    ),
)
entries = st.builds(codec.AwarenessEntry, varuints, varuints, json_states)
messages = st.one_of(
    st.builds(codec.SyncStep1, payloads),
    st.builds(codec.SyncStep2, payloads),
    st.builds(codec.Update, payloads),
    st.builds(codec.Awareness, st.lists(entries, max_size=5).map(tuple)),
    st.just(codec.QueryAwareness()),
    st.builds(codec.PermissionDenied, st.text(max_size=40)),
)


@given(varuints)
def test_varuint_round_trip_and_matches_pycrdt(value: int) -> None:
    encoded = codec.var_uint(value)
    assert encoded == pycrdt.write_var_uint(value)
    reader = codec.Reader(encoded)
    assert reader.var_uint() == value
    reader.end()


@given(messages)
def test_every_message_round_trips(message: codec.Message) -> None:
    assert codec.decode(codec.encode(message)) == message


def test_frames_match_pycrdt_and_lib0() -> None:
    doc: Doc[object] = Doc()
    doc.get("content", type=Text).insert(0, "bonjour")
    assert codec.sync_step1(doc.get_state()) == pycrdt.create_sync_message(doc)
    update = doc.get_update()
    assert codec.update(update) == pycrdt.create_update_message(update)
    # lib0 reference bytes: type 1, payload length, count 1, client 5, clock 2, "null".
    assert codec.awareness([codec.AwarenessEntry(5, 2, "null")]) == (
        b"\x01\x08\x01\x05\x02\x04null"
    )
    assert codec.permission_denied("non") == b"\x02\x00\x03non"


@given(messages, st.data())
def test_every_truncation_is_refused_cleanly(message: codec.Message, data: st.DataObject) -> None:
    frame = codec.encode(message)
    cut = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    truncated = frame[:cut]
    # A strict prefix is never a whole message of the same content: decoding
    # either refuses it with a CodecError (never another exception) or, for a
    # prefix that is itself a complete shorter message, yields something else.
    outcome: codec.Message | str
    try:
        outcome = codec.decode(truncated)
    except codec.CodecError as exc:
        outcome = exc.code
    if isinstance(outcome, str):
        assert outcome in {"truncated", "trailing_bytes", "bad_awareness", "unknown_type",
                           "unknown_sync_type", "varint_too_long"}
    else:
        assert outcome != message


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_codec_error(frame: bytes) -> None:
    try:
        message = codec.decode(frame)
    except codec.CodecError as exc:
        refused: codec.CodecError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.code
    else:
        # What parses is a real message: it survives a round trip unchanged.
        assert codec.decode(codec.encode(message)) == message


@pytest.mark.parametrize(("frame", "code"), [
    (b"", "truncated"),
    (b"\x80", "truncated"),
    (b"\x00\x02\xff", "truncated"),
    (b"\x00\x02\x05ab", "truncated"),
    (b"\x04", "unknown_type"),
    (b"\x00\x03\x00", "unknown_sync_type"),
    (b"\x02\x01\x00", "unknown_type"),
    (b"\x03\x00", "trailing_bytes"),
    (b"\xff" * 9, "varint_too_long"),
    (b"\x01\x04\x01\x01\x01\x01", "truncated"),  # state length past the payload
    (b"\x01\x05\x01\x01\x01\x01[", "bad_awareness"),  # not JSON
    (b"\x01\x05\x01\x01\x01\x01" + b"7", "bad_awareness"),  # JSON, not an object
    (b"\x01\x02\x7f\x00", "truncated"),  # a count larger than the payload can hold
    (b"\x02\x00\x02\xff\xfe", "bad_awareness"),  # a reason that is not UTF-8
])
def test_malformed_frames(frame: bytes, code: str) -> None:
    with pytest.raises(codec.CodecError) as refused:
        codec.decode(frame)
    assert refused.value.code == code


def test_varuint_above_2_53_is_refused() -> None:
    with pytest.raises(codec.CodecError) as refused:
        codec.Reader(b"\xff\xff\xff\xff\xff\xff\xff\x7f").var_uint()
    assert refused.value.code == "varint_too_long"
    with pytest.raises(ValueError, match="out of range"):
        codec.var_uint(-1)
