"""The ``/ws`` wire protocol, without I/O: frames in, requests or errors out.

Envelope (docs/protocol.md):

- request ``{"id": 7, "op": "chat.send", ...params}``
- reply ``{"re": 7, "ok": true, ...}`` or ``{"re": 7, "ok": false, "error": {"code", "message"}}``
- event ``{"ev": "chat.message", "room": "...", ...}``

Every op has a pydantic model (strict types, unknown fields refused); their
JSON Schemas are published at ``/api/ws-schema``. Parsing never raises
anything but :class:`~preau.server.errors.PreauError`, so the gateway can answer every
bad frame and keep the socket open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from preau.server.directory import quiet_hours
from preau.server.directory.model import MAX_CONVERSATION_PEOPLE
from preau.server.errors import ErrorCode, PreauError
from preau.server.live.events import encode
from preau.server.messages import DEFAULT, Lang, localise
from preau.server.moderation.rules import (
    MAX_MUTE_S,
    MAX_REASON_CHARS,
    MAX_RECALL_WINDOW_S,
    MAX_SLOW_MODE_S,
    PolicyChange,
    Premoderation,
    RoomMode,
)

RequestId = int | str | None

# Every integer a client sends is bounded: JavaScript's exact integers (2^53 - 1)
# fit both databases' 64-bit columns, so a sequence number past it is a clean
# bad_request, never a driver overflow answered ``internal``.
MAX_INT = 2**53 - 1
Seq = Annotated[StrictInt, Field(ge=1, le=MAX_INT)]

RoomId = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
# Shown to pupils and kept in the audit log: no control characters but newline and tab.
Reason = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_REASON_CHARS, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$"),
]


class Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ping(Op):
    """Application-level liveness check; the reply carries the server time."""


class RoomSubscribe(Op):
    """Receive a room's messages: first those after ``since`` (if given), then live ones."""

    room: RoomId
    since: Annotated[StrictInt, Field(ge=0, le=MAX_INT)] | None = None


class RoomUnsubscribe(Op):
    room: RoomId


class ChatSend(Op):
    """Post a message. ``txn`` is the client's id for it: a retry with the same
    ``txn`` returns the first result and never posts twice.

    ``ack``: an announcement its readers acknowledge ("J'ai lu"; moderators of
    the room, or teachers and staff in a conversation). ``urgent``: delivered
    through quiet hours (school admins only; audited). ``attachments``: the
    ids of the sender's uploads sent with it (at most 10; the body may then
    be empty)."""

    room: RoomId
    txn: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    body: StrictStr  # empty only with attachments
    ack: StrictBool = False
    urgent: StrictBool = False
    # Uploads of the sender's (POST /api/attachments) sent with the message.
    attachments: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=64)]], Field(max_length=10)
    ] = []

    @model_validator(mode="after")
    def _something_to_send(self) -> Self:
        if not self.body and not self.attachments:
            raise ValueError("a message needs a body or attachments")
        return self


class MessageRef(Op):
    """One message of a room: ``chat.ack`` (acknowledge an announcement),
    ``chat.acks`` (who acknowledged it: its sender and moderators), ``chat.read``
    (I have read the room up to here)."""

    room: RoomId
    seq: Seq


class RoomReceipts(Op):
    """A room only: ``chat.receipts`` (a private conversation's read markers,
    its participants) and ``chat.my_acks`` (the announcements I acknowledged)."""

    room: RoomId


class ScheduledList(Op):
    """Messages waiting for the end of quiet hours: one's own (moderators: all)."""

    room: RoomId


class ScheduledOne(Op):
    """One message waiting for quiet hours to end: cancel it (its author) or
    send it now (its author, or a moderator of the room)."""

    room: RoomId
    scheduled: Annotated[StrictStr, Field(min_length=1, max_length=64)]  # its id


class ChatTyping(Op):
    room: RoomId


class PresenceList(Op):
    room: RoomId


class ConversationOpen(Op):
    """Open a private conversation with ``people`` (person ids; the opener may
    be left out), or get the existing one-to-one conversation of the pair."""

    people: Annotated[list[Id], Field(min_length=1, max_length=MAX_CONVERSATION_PEOPLE)]


# -- moderation (docs/protocol.md, "Moderation") --------------------------------


class ChatReport(Op):
    """Report message ``seq`` of a room to the school's moderators."""

    room: RoomId
    seq: Seq
    reason: Reason | None = None


class ChatRedact(Op):
    """Remove message ``seq``: any message for a moderator, one's own within
    the room's recall window for its author."""

    room: RoomId
    seq: Seq
    reason: Reason | None = None


class PolicyChangeFields(Op):
    """What a policy change may set; fields left out stay as they are.
    Shared by the ``room.policy`` op and ``POST /api/rooms/{room}/policy``."""

    mode: RoomMode | None = None
    premoderation: Premoderation | None = None
    slow_mode_s: Annotated[StrictInt, Field(ge=0, le=MAX_SLOW_MODE_S)] | None = None
    recall_window_s: Annotated[StrictInt, Field(ge=0, le=MAX_RECALL_WINDOW_S)] | None = None
    # "school", "off" or the room's own delivery window "HH:MM-HH:MM"
    quiet_hours: Annotated[StrictStr, Field(max_length=16)] | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if (self.mode, self.premoderation, self.slow_mode_s, self.recall_window_s,
                self.quiet_hours) == (None, None, None, None, None):
            raise ValueError("give at least one of mode, premoderation, slow_mode_s, "
                             "recall_window_s, quiet_hours")
        if self.quiet_hours is not None:
            quiet_hours.check_room_setting(self.quiet_hours)
        return self

    def change(self) -> PolicyChange:
        return PolicyChange(self.mode, self.premoderation, self.slow_mode_s,
                            self.recall_window_s, self.quiet_hours)


class RoomPolicySet(PolicyChangeFields):
    """Change the room's policy (moderators)."""

    room: RoomId


class HeldList(Op):
    """Moderators: the room's pending messages; others: their own held ones."""

    room: RoomId


class HeldApprove(Op):
    room: RoomId
    held: Id  # the held message's id (``id`` is the request's)


class HeldReject(Op):
    room: RoomId
    held: Id
    reason: Reason | None = None


class MemberMute(Op):
    """Mute a member until ``until`` (ms since the epoch) or for ``duration_s``."""

    room: RoomId
    person: Id
    until: Annotated[StrictInt, Field(ge=0, le=MAX_INT)] | None = None
    duration_s: Annotated[StrictInt, Field(ge=1, le=MAX_MUTE_S)] | None = None
    reason: Reason | None = None


class MemberAction(Op):
    """Unmute, remove or re-admit a member."""

    room: RoomId
    person: Id
    reason: Reason | None = None


class MemberList(Op):
    room: RoomId


class ReportResolve(Op):
    """Keep or delete a reported message (the school's moderators)."""

    report: Id
    outcome: Literal["keep", "delete"]
    reason: Reason | None = None


class ReportMine(Op):
    """The reports I made, with their outcome."""


OPS: dict[str, type[Op]] = {
    "ping": Ping,
    "room.subscribe": RoomSubscribe,
    "room.unsubscribe": RoomUnsubscribe,
    "chat.send": ChatSend,
    "chat.typing": ChatTyping,
    "presence.list": PresenceList,
    "conversation.open": ConversationOpen,
    "chat.redact": ChatRedact,
    "chat.report": ChatReport,
    "room.policy": RoomPolicySet,
    "held.list": HeldList,
    "held.approve": HeldApprove,
    "held.reject": HeldReject,
    "member.mute": MemberMute,
    "member.unmute": MemberAction,
    "member.remove": MemberAction,
    "member.readmit": MemberAction,
    "member.list": MemberList,
    "scheduled.list": ScheduledList,
    "scheduled.cancel": ScheduledOne,
    "scheduled.send_now": ScheduledOne,
    "report.resolve": ReportResolve,
    "report.mine": ReportMine,
}


class Request:
    __slots__ = ("id", "op", "params")

    def __init__(self, id: RequestId, op: str, params: Op) -> None:
        self.id = id
        self.op = op
        self.params = params


class FrameError(PreauError):
    """A bad frame, with the request id when it could be read (to answer it)."""

    def __init__(self, code: ErrorCode, message: str, request_id: RequestId = None) -> None:
        super().__init__(code, message)
        self.request_id = request_id


def parse_request(
    frame: str | bytes, max_bytes: int, ops: Mapping[str, type[Op]] = OPS
) -> Request:
    """Decode and validate one inbound frame, or raise :class:`FrameError`.

    ``ops`` is the gateway's table: the core ops plus its modules' (extension.py).
    """
    if isinstance(frame, bytes):
        raise FrameError(ErrorCode.BAD_REQUEST, "send JSON in text frames")
    # The limit is in UTF-8 bytes: a character is 1 to 4 of them, so encode
    # only when the character count cannot decide. (surrogatepass: a lone
    # surrogate must not raise here; the JSON decoder refuses it below.)
    if len(frame) > max_bytes or (
        len(frame) * 4 > max_bytes
        and len(frame.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        raise FrameError(
            ErrorCode.TOO_LARGE, f"frame larger than {max_bytes} bytes", _leading_id(frame)
        )
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        # Answered with its id when it comes first, as our clients send it
        # (a browser's JSON.stringify writes a lone surrogate as an escape
        # JSON parsers refuse; the client must know which request failed).
        reason = ("a string holds half of a character (a lone surrogate)"
                  if "surrogate" in str(exc) else "malformed JSON")
        raise FrameError(ErrorCode.BAD_REQUEST, reason, _leading_id(frame)) from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.BAD_REQUEST, "a request is a JSON object")
    request_id = data.pop("id", None)
    if request_id is not None and valid_id(request_id) is None:
        raise FrameError(ErrorCode.BAD_REQUEST, "id must be an integer or a short string")
    op = data.pop("op", None)
    if not isinstance(op, str):
        raise FrameError(ErrorCode.BAD_REQUEST, "missing op", request_id)
    model = ops.get(op)
    if model is None:
        raise FrameError(ErrorCode.UNKNOWN_OP, f"unknown op {op[:40]!r}", request_id)
    try:
        params = model.model_validate(data)
    except ValidationError as exc:
        raise FrameError(ErrorCode.BAD_REQUEST, _describe(exc), request_id) from None
    return Request(request_id, op, params)


_LEADING_ID = re.compile(r'^\s*\{\s*"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,64}")\s*[,}]')


def valid_id(request_id: object) -> RequestId:
    """``request_id`` if it may be echoed back (an integer that encodes, a
    string of at most 64 characters), else None."""
    if isinstance(request_id, int) and not isinstance(request_id, bool) \
            and -(2**63) <= request_id < 2**63:
        return request_id
    if isinstance(request_id, str) and len(request_id) <= 64:
        return request_id
    return None


def _leading_id(frame: str) -> RequestId:
    """The id of a frame too large to decode, when it comes first (as our SDKs send it)."""
    match = _LEADING_ID.match(frame[:120])
    if match is None:
        return None
    token = match[1]
    return token[1:-1] if token.startswith('"') else int(token)


def _describe(exc: ValidationError) -> str:
    """Short, safe description: field names and reasons, never the values sent."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        # An unknown field's name is the client's text: cut, as the op name is.
        where = ".".join(str(p)[:40] for p in error["loc"]) or "request"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def reply(request_id: RequestId, **fields: Any) -> bytes:
    return encode({"re": request_id, "ok": True, **fields})


def error_reply(request_id: RequestId, error: PreauError, lang: Lang = DEFAULT) -> bytes:
    """An op's error, its message in the connection's language (preau/server/messages.py)."""
    words = localise(error.code, error.message, lang)
    return encode({"re": request_id, "ok": False, "error": error.to_wire(words)})


def schemas(ops: Mapping[str, type[Op]] = OPS) -> dict[str, Any]:
    """JSON Schema of every op's parameters (served at /api/ws-schema)."""
    return {name: model.model_json_schema() for name, model in ops.items()}
