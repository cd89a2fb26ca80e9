"""The call.* ops' parameter models (preau/server/gateway/call_ops.py): strict shapes,
stable error codes, and no frame that makes the parser raise anything else."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from preau.server.errors import ErrorCode, PreauError
from preau.server.gateway import protocol
from preau.server.gateway.call_ops import OPS, CallBreakouts, CallControls, CallSignal

TABLE = {**protocol.OPS, **OPS}


def parse(frame: dict[str, object]) -> protocol.Request:
    return protocol.parse_request(orjson.dumps(frame).decode(), 65536, TABLE)


def code(frame: dict[str, object]) -> ErrorCode:
    with pytest.raises(PreauError) as refused:
        parse(frame)
    return refused.value.code


def test_valid_call_frames() -> None:
    signal = parse({"id": 1, "op": "call.signal", "call": "c1", "peer": "pA", "to": "pB",
                    "kind": "candidate", "candidate": "", "sdpMid": "0"}).params
    assert isinstance(signal, CallSignal)
    assert signal.sdpMid == "0"
    controls = parse({"op": "call.controls", "call": "c1", "peer": "pA",
                      "lobby": "ask_moderator", "mic_locked": True}).params
    assert isinstance(controls, CallControls)
    assert (controls.lobby, controls.mic_locked, controls.camera_locked) == (
        "ask_moderator", True, None)
    breakouts = parse({"op": "call.breakouts", "call": "c1", "peer": "pA",
                       "rooms": ["Groupe 1"], "assign": {"pB": 0}, "duration_s": 600}).params
    assert isinstance(breakouts, CallBreakouts)


@pytest.mark.parametrize("frame", [
    {"op": "call.join"},
    {"op": "call.join", "call": 7},
    {"op": "call.join", "call": "c1", "extra": 1},
    {"op": "call.join", "call": "c1/../x"},
    {"op": "call.signal", "call": "c1", "peer": "pA", "to": "pB", "kind": "bye"},
    {"op": "call.signal", "call": "c1", "peer": "p A", "to": "pB", "kind": "offer", "sdp": ""},
    {"op": "call.signal", "call": "c1", "peer": "pA", "to": "pB", "kind": "candidate",
     "sdpMLineIndex": "0"},
    {"op": "call.controls", "call": "c1", "peer": "pA", "lobby": "anyone"},
    {"op": "call.controls", "call": "c1", "peer": "pA", "mic_locked": "yes"},
    {"op": "call.role", "call": "c1", "peer": "pA", "who": "pB", "role": "moderator"},
    {"op": "call.breakouts", "call": "c1", "peer": "pA", "rooms": [], "assign": {},
     "duration_s": 600},
    {"op": "call.breakouts", "call": "c1", "peer": "pA", "rooms": ["A"], "assign": {},
     "duration_s": 5},
    {"op": "call.create", "room": "r", "people": []},
    {"op": "call.create", "room": "r", "name": "x\u0007"},
])
def test_bad_call_frames_are_bad_requests(frame: dict[str, object]) -> None:
    assert code(frame) is ErrorCode.BAD_REQUEST


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=8,
)


@given(st.sampled_from(sorted(OPS)), st.dictionaries(
    st.sampled_from(["call", "peer", "to", "who", "kind", "sdp", "candidate", "sdpMid",
                     "sdpMLineIndex", "rooms", "assign", "duration_s", "lobby", "raised",
                     "role", "room", "people", "controls", "x"]), json_values, max_size=6))
def test_any_call_frame_parses_or_is_refused_with_a_code(
    op: str, fields: dict[str, object]
) -> None:
    refusal: protocol.FrameError | None = None
    try:
        parse({"id": 1, "op": op, **fields})
    except protocol.FrameError as exc:  # nothing else may escape
        refusal = exc
    if refusal is not None:
        assert refusal.code in (ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE)
        assert refusal.request_id == 1
