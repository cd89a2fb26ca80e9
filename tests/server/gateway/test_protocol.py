"""The /ws wire protocol without sockets: frames in, requests or FrameErrors out."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preau.server.errors import ErrorCode
from preau.server.gateway.protocol import (
    OPS,
    ChatSend,
    ChatTyping,
    ConversationOpen,
    FrameError,
    MessageRef,
    Ping,
    PresenceList,
    Request,
    RoomSubscribe,
    RoomUnsubscribe,
    error_reply,
    parse_request,
    reply,
    schemas,
    valid_id,
)
from preau.server.live.events import event
from tests.server.gateway.test_moderation_protocol import MODERATION_OPS
from tests.server.gateway.test_reading_protocol import READING_CORE_OPS

MAX = 64 * 1024


def parse(obj: Any, max_bytes: int = MAX) -> Request:
    return parse_request(json.dumps(obj, ensure_ascii=False), max_bytes)


def refused(frame: str | bytes, max_bytes: int = MAX) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_request(frame, max_bytes)
    return caught.value


# -- valid requests -------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "params"),
    [
        ({"id": 1, "op": "ping"}, Ping()),
        ({"id": 2, "op": "room.subscribe", "room": "r1"}, RoomSubscribe(room="r1")),
        (
            {"id": 3, "op": "room.subscribe", "room": "r1", "since": 41},
            RoomSubscribe(room="r1", since=41),
        ),
        (
            {"id": 4, "op": "room.subscribe", "room": "r1", "since": 0},
            RoomSubscribe(room="r1", since=0),
        ),
        (
            {"id": 5, "op": "room.subscribe", "room": "r1", "since": None},
            RoomSubscribe(room="r1"),
        ),
        ({"id": 6, "op": "room.unsubscribe", "room": "r1"}, RoomUnsubscribe(room="r1")),
        (
            {"id": 7, "op": "chat.send", "room": "r1", "txn": "t-1", "body": "Bonjour 👋"},
            ChatSend(room="r1", txn="t-1", body="Bonjour 👋"),
        ),
        ({"id": 8, "op": "chat.typing", "room": "r1"}, ChatTyping(room="r1")),
        ({"id": 9, "op": "presence.list", "room": "r1"}, PresenceList(room="r1")),
        (
            {"id": 10, "op": "conversation.open", "people": ["p1", "p2"]},
            ConversationOpen(people=["p1", "p2"]),
        ),
    ],
    ids=lambda v: v["op"] if isinstance(v, dict) else "",
)
def test_every_op(request_: dict[str, Any], params: object) -> None:
    parsed = parse(request_)
    assert parsed.id == request_["id"]
    assert parsed.op == request_["op"]
    assert type(parsed.params) is OPS[request_["op"]]
    assert parsed.params == params


def test_every_op_has_a_valid_example_above() -> None:
    assert set(OPS) == {
        "ping",
        "room.subscribe",
        "room.unsubscribe",
        "chat.send",
        "chat.typing",
        "presence.list",
        "conversation.open",
    } | MODERATION_OPS | READING_CORE_OPS  # examples in those two files


@pytest.mark.parametrize("request_id", [0, -5, 2**53, "", "abc", "x" * 64, None])
def test_accepted_ids(request_id: object) -> None:
    assert parse({"id": request_id, "op": "ping"}).id == request_id


def test_id_may_be_absent() -> None:
    assert parse({"op": "ping"}).id is None


def test_limits_on_strings_are_inclusive() -> None:
    sent = parse({"op": "chat.send", "room": "r" * 64, "txn": "t" * 64, "body": "b"})
    assert isinstance(sent.params, ChatSend)
    assert sent.params.room == "r" * 64


def test_frame_of_exactly_max_bytes_is_accepted() -> None:
    frame = json.dumps({"op": "chat.send", "room": "r", "txn": "t", "body": ""})
    room = 200 - len(frame.encode())
    body = "é" * (room // 2) + "x" * (room % 2)
    frame = json.dumps(
        {"op": "chat.send", "room": "r", "txn": "t", "body": body}, ensure_ascii=False
    )
    assert len(frame.encode()) == 200
    assert parse_request(frame, 200).op == "chat.send"


# -- refusals ---------------------------------------------------------------------

SUB4 = '{"id": 4, "op": "room.subscribe", "room": "r", '
SEND5 = '{"id": 5, "op": "chat.send", "room": "r", '


@pytest.mark.parametrize(
    ("frame", "code", "request_id"),
    [
        # Not JSON, or not an object (a leading id is still answered).
        ('{"id": 1, "op": "ping"', ErrorCode.BAD_REQUEST, 1),
        ("", ErrorCode.BAD_REQUEST, None),
        ("ping", ErrorCode.BAD_REQUEST, None),
        ('{"id": 1, "op": "ping",}', ErrorCode.BAD_REQUEST, 1),
        ("[1, 2]", ErrorCode.BAD_REQUEST, None),
        ('"ping"', ErrorCode.BAD_REQUEST, None),
        ("7", ErrorCode.BAD_REQUEST, None),
        ("null", ErrorCode.BAD_REQUEST, None),
        ('[{"id": 1, "op": "ping"}]', ErrorCode.BAD_REQUEST, None),
        ("NaN", ErrorCode.BAD_REQUEST, None),
        # Bad ids: the id cannot be trusted, so the answer carries none.
        ('{"id": true, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": false, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": 1.5, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": 1.0, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": 1e400, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": 123456789012345678901234567890, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": "' + "x" * 65 + '", "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": [1], "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        ('{"id": {"n": 1}, "op": "ping"}', ErrorCode.BAD_REQUEST, None),
        # Missing or unknown op: answered with the id.
        ('{"id": 3}', ErrorCode.BAD_REQUEST, 3),
        ('{"id": 3, "op": null}', ErrorCode.BAD_REQUEST, 3),
        ('{"id": 3, "op": 5}', ErrorCode.BAD_REQUEST, 3),
        ('{"id": 3, "op": ["ping"]}', ErrorCode.BAD_REQUEST, 3),
        ('{"id": "a", "op": "chat.delete"}', ErrorCode.UNKNOWN_OP, "a"),
        ('{"id": "a", "op": ""}', ErrorCode.UNKNOWN_OP, "a"),
        ('{"id": "a", "op": "PING"}', ErrorCode.UNKNOWN_OP, "a"),
        ('{"id": "a", "op": "__class__"}', ErrorCode.UNKNOWN_OP, "a"),
        # Wrong field types or values: strict, no coercion.
        (SUB4 + '"since": "5"}', ErrorCode.BAD_REQUEST, 4),
        (SUB4 + '"since": true}', ErrorCode.BAD_REQUEST, 4),
        (SUB4 + '"since": 1.0}', ErrorCode.BAD_REQUEST, 4),
        (SUB4 + '"since": -1}', ErrorCode.BAD_REQUEST, 4),
        (SUB4 + '"since": [1]}', ErrorCode.BAD_REQUEST, 4),
        ('{"id": 4, "op": "room.subscribe"}', ErrorCode.BAD_REQUEST, 4),
        ('{"id": 4, "op": "room.subscribe", "room": 5}', ErrorCode.BAD_REQUEST, 4),
        ('{"id": 4, "op": "room.subscribe", "room": null}', ErrorCode.BAD_REQUEST, 4),
        ('{"id": 4, "op": "room.subscribe", "room": ""}', ErrorCode.BAD_REQUEST, 4),
        ('{"id": 4, "op": "room.subscribe", "room": "' + "r" * 65 + '"}', ErrorCode.BAD_REQUEST, 4),
        (SEND5 + '"body": "hi"}', ErrorCode.BAD_REQUEST, 5),
        (SEND5 + '"txn": "t"}', ErrorCode.BAD_REQUEST, 5),
        (SEND5 + '"txn": "t", "body": ""}', ErrorCode.BAD_REQUEST, 5),
        (SEND5 + '"txn": 1, "body": "hi"}', ErrorCode.BAD_REQUEST, 5),
        (SEND5 + '"txn": "", "body": "hi"}', ErrorCode.BAD_REQUEST, 5),
        (SEND5 + '"txn": "t", "body": {"x": 1}}', ErrorCode.BAD_REQUEST, 5),
        # Extra fields are refused, on every op.
        ('{"id": 6, "op": "ping", "x": 1}', ErrorCode.BAD_REQUEST, 6),
        ('{"id": 6, "op": "chat.typing", "room": "r", "since": 1}', ErrorCode.BAD_REQUEST, 6),
        ('{"id": 6, "op": "presence.list", "room": "r", "re": 1}', ErrorCode.BAD_REQUEST, 6),
    ],
)  # fmt: skip
def test_refusals(frame: str, code: ErrorCode, request_id: object) -> None:
    error = refused(frame)
    assert error.code is code
    assert error.request_id == request_id
    assert error.message


def test_binary_frame() -> None:
    error = refused(b'{"id": 1, "op": "ping"}')
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.request_id is None


def test_too_large_ascii() -> None:
    frame = json.dumps({"op": "chat.send", "room": "r", "txn": "t", "body": "x" * 300})
    error = refused(frame, 200)
    assert error.code is ErrorCode.TOO_LARGE
    assert "200 bytes" in error.message


def test_too_large_counts_bytes_not_characters() -> None:
    # 89 characters, 129 bytes of UTF-8.
    frame = json.dumps(
        {"op": "chat.send", "room": "r", "txn": "t", "body": "é" * 40}, ensure_ascii=False
    )
    assert len(frame) <= 100 < len(frame.encode())
    assert refused(frame, 100).code is ErrorCode.TOO_LARGE
    emoji = json.dumps(
        {"op": "chat.send", "room": "r", "txn": "t", "body": "👋" * 20}, ensure_ascii=False
    )
    assert len(emoji) <= 100 < len(emoji.encode())
    assert refused(emoji, 100).code is ErrorCode.TOO_LARGE


def test_too_large_keeps_a_leading_id() -> None:
    body = "x" * 300
    first = refused(
        '{"id": 42, "op": "chat.send", "room": "r", "txn": "t", "body": "' + body + '"}', 200
    )
    assert (first.code, first.request_id) == (ErrorCode.TOO_LARGE, 42)
    named = refused('{"id":"m-7","op":"chat.send","room":"r","txn":"t","body":"' + body + '"}', 200)
    assert (named.code, named.request_id) == (ErrorCode.TOO_LARGE, "m-7")
    # The id is not read where the frame does not start with it.
    later = refused(
        '{"op": "chat.send", "id": 42, "room": "r", "txn": "t", "body": "' + body + '"}', 200
    )
    assert (later.code, later.request_id) == (ErrorCode.TOO_LARGE, None)


def test_lone_surrogate_is_a_frame_error() -> None:
    frame = '{"op": "chat.send", "room": "r", "txn": "t", "body": "\ud800"}'
    assert refused(frame, 60).code is ErrorCode.BAD_REQUEST  # the size check runs encode
    assert refused(frame, MAX).code is ErrorCode.BAD_REQUEST


def test_an_escaped_lone_surrogate_is_refused_with_the_requests_id() -> None:
    """What a browser's JSON.stringify writes for half an emoji: refused, with
    its id (first, as clients send it) so the client knows which request."""
    frame = '{"id":"ls1","op":"chat.send","room":"r","txn":"t","body":"abc\\ud83d"}'
    error = refused(frame, MAX)
    assert (error.code, error.request_id) == (ErrorCode.BAD_REQUEST, "ls1")
    assert "lone surrogate" in str(error)
    assert refused('{"id": 7, "op": "ping", "x": "\\udc00"}', MAX).request_id == 7
    broken = refused('{"id": 8, "op": "ping",', MAX)  # any malformed JSON alike
    assert (broken.request_id, str(broken)) == (8, "malformed JSON")


def test_an_id_is_echoed_only_if_it_may_be() -> None:
    assert valid_id(7) == 7
    assert valid_id("x" * 64) == "x" * 64
    for bad in ("x" * 65, 2**63, True, 1.5, None, ["a"]):
        assert valid_id(bad) is None


def test_messages_never_echo_the_values_sent() -> None:
    secret = "Tr3s-Secret-Value"
    for frame in (
        {"id": 1, "op": "chat.send", "room": "r", "txn": "t", "body": 5, "extra": secret},
        {"id": 1, "op": "room.subscribe", "room": "r", "since": secret},
        {"id": 1, "op": "chat.send", "room": secret * 10, "txn": "t", "body": "b"},
        {"id": 1, "op": "ping", "x": secret, "y": [secret], "z": {"k": secret}},
    ):
        error = refused(json.dumps(frame))
        assert error.code is ErrorCode.BAD_REQUEST
        assert secret not in error.message
        assert secret not in error_reply(error.request_id, error).decode()


def test_unknown_field_names_are_cut_short() -> None:
    # Field names are echoed (they say what is wrong), but they are the
    # client's text: a huge one must not come back (or reach a log) whole.
    keys = {f"{i}{'k' * 5000}": 1 for i in range(5)}
    error = refused(json.dumps({"id": 1, "op": "ping", **keys}))
    assert error.code is ErrorCode.BAD_REQUEST
    assert "Extra inputs are not permitted" in error.message
    assert len(error.message) < 400


def test_validation_message_names_the_field() -> None:
    error = refused('{"id": 1, "op": "room.subscribe", "room": "r", "since": "5"}')
    assert "since" in error.message


# -- replies and events -------------------------------------------------------------


def test_envelopes() -> None:
    assert orjson.loads(reply(7, seq=41)) == {"re": 7, "ok": True, "seq": 41}
    error = refused('{"id": "q", "op": "nope"}')
    assert orjson.loads(error_reply(error.request_id, error, "en")) == {
        "re": "q",
        "ok": False,
        "error": {"code": "unknown_op", "message": error.message},
    }
    # In French (the default) the message is French too (preau/server/messages.py).
    assert orjson.loads(error_reply(error.request_id, error))["error"] == {
        "code": "unknown_op", "message": "opération inconnue"}
    assert orjson.loads(event("chat.message", room="r", seq=1)) == {
        "ev": "chat.message",
        "room": "r",
        "seq": 1,
    }


def test_schemas_cover_every_op_and_forbid_extra_fields() -> None:
    published = schemas()
    assert set(published) == set(OPS)
    for schema in published.values():
        assert schema["additionalProperties"] is False
    assert set(published["chat.send"]["required"]) == {"room", "txn", "body"}


# -- fuzzing: nothing but FrameError ever escapes --------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(frame: str | bytes, max_bytes: int = 512) -> None:
    error: FrameError | None = None
    try:
        parsed = parse_request(frame, max_bytes)
    except FrameError as caught:  # anything else escapes and fails the test
        error = caught
    if error is not None:
        assert error.code in (ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_OP, ErrorCode.TOO_LARGE)
        assert error.request_id is None or isinstance(error.request_id, int | str)
        return
    assert isinstance(parsed, Request)
    assert parsed.op in OPS
    assert isinstance(parsed.params, OPS[parsed.op])
    assert (
        parsed.id is None
        or (type(parsed.id) is int)
        or (isinstance(parsed.id, str) and len(parsed.id) <= 64)
    )


@FUZZ
@given(st.text(max_size=600))
def test_fuzz_text(frame: str) -> None:
    _check(frame)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_bytes(frame: bytes) -> None:
    with pytest.raises(FrameError) as caught:
        parse_request(frame, 512)
    assert caught.value.code is ErrorCode.BAD_REQUEST


@FUZZ
@given(st.text(alphabet=st.characters(categories=["Cs"]), max_size=10) | st.text())
def test_fuzz_text_with_surrogates(frame: str) -> None:
    _check('{"op": "ping", "x": "' + frame + '"}', 30)
    _check(frame, 30)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(JSON)
def test_fuzz_any_json_value(value: object) -> None:
    _check(json.dumps(value, ensure_ascii=False))


FIELDS = st.sampled_from(["id", "op", "room", "since", "txn", "body", "extra"])


@FUZZ
@given(
    st.sampled_from([*OPS, "nope", ""]),
    st.dictionaries(FIELDS, JSON, max_size=5),
    st.dictionaries(FIELDS, st.text(max_size=70) | st.integers(-3, 2**64), max_size=5),
)
def test_fuzz_request_shaped_objects(op: str, noise: dict[str, Any], near: dict[str, Any]) -> None:
    # Mostly a real op with fields near the right ones; sometimes the noise
    # replaces the op itself.
    frame = {"op": op, **noise, **near}
    _check(json.dumps(frame, ensure_ascii=False))


@pytest.mark.parametrize("people", [[], ["p"] * 9, [""], [1], "p1"])
def test_conversation_open_is_strict(people: Any) -> None:
    error = refused(json.dumps({"id": 1, "op": "conversation.open", "people": people}))
    assert error.code == "bad_request"


# chat.redact and chat.report are core ops; chat.read, chat.ack and chat.acks
# come with the reading module (preau/server/gateway/reading_ops.py) as MessageRef.
SEQ_OPS = {**OPS, "chat.read": MessageRef, "chat.ack": MessageRef, "chat.acks": MessageRef}


@pytest.mark.parametrize("op", ["chat.ack", "chat.acks", "chat.redact", "chat.report", "chat.read"])
@pytest.mark.parametrize("seq", [2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 0, -1])
def test_sequence_numbers_out_of_range_are_bad_requests(op: str, seq: int) -> None:
    # issue 21: 2^63…2^64-1 used to reach SQLite and answer `internal`.
    frame = f'{{"id": 1, "op": "{op}", "room": "r", "seq": {seq}}}'
    with pytest.raises(FrameError) as refused:
        parse_request(frame, 65536, SEQ_OPS)
    assert refused.value.code is ErrorCode.BAD_REQUEST
    assert refused.value.request_id in (1, None)


def test_the_largest_exact_integer_is_a_valid_sequence_number() -> None:
    frame = f'{{"id": 1, "op": "chat.read", "room": "r", "seq": {2**53 - 1}}}'
    params = parse_request(frame, 65536, SEQ_OPS).params
    assert isinstance(params, MessageRef)
    assert params.seq == 2**53 - 1
