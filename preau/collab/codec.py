"""The y-websocket wire protocol, without I/O: bytes in, messages out, and back.

One WebSocket frame carries exactly one message (y-websocket never batches):
``varUint type`` then a payload (docs/collab.md, shared/reference/yjs-protocol.md).
Parsing is strict because the bytes come from anyone: a truncated varint, a
length running past the frame, trailing bytes, an unknown type or an awareness
state that is not JSON all raise :class:`CodecError` with a stable code, and
nothing is half-decoded. Yjs *updates* are carried opaquely here; checking that
an update decodes is the room's job (it needs pycrdt).

lib0 encodes unsigned integers up to 2**53 (JavaScript's safe integers); a
varint longer than that is refused rather than turned into a huge Python int.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum

MAX_VARUINT = 2**53 - 1
_MAX_VARUINT_BYTES = 8  # 8 x 7 bits = 56 bits > 53


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class CodecError(ValueError):
    """A frame that is not a well-formed y-websocket message.

    ``code`` is stable (the room turns it into a client-facing error):
    ``truncated``, ``varint_too_long``, ``trailing_bytes``, ``unknown_type``,
    ``unknown_sync_type``, ``bad_awareness``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- messages ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes


@dataclass(frozen=True, slots=True)
class Update:
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's awareness state; ``state`` is its JSON text, ``"null"`` when removed."""

    client_id: int
    clock: int
    state: str

    @property
    def removed(self) -> bool:
        return self.state == "null"


@dataclass(frozen=True, slots=True)
class Awareness:
    entries: tuple[AwarenessEntry, ...]


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


@dataclass(frozen=True, slots=True)
class PermissionDenied:
    reason: str


Message = SyncStep1 | SyncStep2 | Update | Awareness | QueryAwareness | PermissionDenied


# -- decoding ------------------------------------------------------------------


class Reader:
    """A cursor over one frame; every read checks the bounds."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        data = self.data
        pos = self.pos
        if pos < len(data) and data[pos] < 0x80:  # one byte: most of them
            self.pos = pos + 1
            return data[pos]
        value = 0
        shift = 0
        for _ in range(_MAX_VARUINT_BYTES):
            if self.pos >= len(data):
                raise CodecError("truncated", "frame ends inside a varint")
            byte = data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > MAX_VARUINT:
                    raise CodecError("varint_too_long", "varint above 2**53")
                return value
            shift += 7
        raise CodecError("varint_too_long", f"varint longer than {_MAX_VARUINT_BYTES} bytes")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise CodecError("truncated", "length runs past the end of the frame")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        raw = self.var_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError("bad_awareness", "string is not UTF-8") from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise CodecError("trailing_bytes", "bytes left after the message")


def decode(frame: bytes) -> Message:
    """Parse one frame; raise :class:`CodecError` if it is not exactly one message."""
    reader = Reader(frame)
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC:
        sub = reader.var_uint()
        payload = reader.var_bytes()
        if sub == SyncType.STEP1:
            message = SyncStep1(payload)
        elif sub == SyncType.STEP2:
            message = SyncStep2(payload)
        elif sub == SyncType.UPDATE:
            message = Update(payload)
        else:
            raise CodecError("unknown_sync_type", f"unknown sync message type {sub}")
    elif kind == MessageType.AWARENESS:
        message = Awareness(decode_awareness(reader.var_bytes()))
    elif kind == MessageType.AUTH:
        sub = reader.var_uint()
        if sub != 0:
            raise CodecError("unknown_type", f"unknown auth message type {sub}")
        message = PermissionDenied(reader.var_string())
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwareness()
    else:
        raise CodecError("unknown_type", f"unknown message type {kind}")
    reader.end()
    return message


def decode_awareness(payload: bytes) -> tuple[AwarenessEntry, ...]:
    """The entries of an awareness update; each state must be JSON (an object or null)."""
    reader = Reader(payload)
    count = reader.var_uint()
    # Each entry takes at least 3 bytes: a count beyond that is a lie, refused
    # before it sizes anything.
    if count * 3 > len(payload):
        raise CodecError("truncated", "awareness count larger than the payload")
    entries = []
    for _ in range(count):
        client_id = reader.var_uint()
        clock = reader.var_uint()
        state = reader.var_string()
        try:
            value = json.loads(state)
        except (ValueError, RecursionError):  # deep nesting is refused, not a crash
            raise CodecError("bad_awareness", "awareness state is not JSON") from None
        if value is not None and not isinstance(value, dict):
            raise CodecError("bad_awareness", "awareness state is not an object or null")
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.end()
    return tuple(entries)


# -- encoding ------------------------------------------------------------------


def var_uint(value: int) -> bytes:
    if value < 0 or value > MAX_VARUINT:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def var_bytes(data: bytes) -> bytes:
    return var_uint(len(data)) + data


def sync_step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return b"\x00\x01" + var_bytes(update)


def update(data: bytes) -> bytes:
    return b"\x00\x02" + var_bytes(data)


def awareness_payload(entries: tuple[AwarenessEntry, ...] | list[AwarenessEntry]) -> bytes:
    parts = [var_uint(len(entries))]
    for entry in entries:
        parts.append(var_uint(entry.client_id))
        parts.append(var_uint(entry.clock))
        parts.append(var_bytes(entry.state.encode("utf-8")))
    return b"".join(parts)


def awareness(entries: tuple[AwarenessEntry, ...] | list[AwarenessEntry]) -> bytes:
    return b"\x01" + var_bytes(awareness_payload(entries))


def query_awareness() -> bytes:
    return b"\x03"


def permission_denied(reason: str) -> bytes:
    return b"\x02\x00" + var_bytes(reason.encode("utf-8"))


def encode(message: Message) -> bytes:
    """The frame of ``message`` (inverse of :func:`decode`)."""
    if isinstance(message, SyncStep1):
        return sync_step1(message.state_vector)
    if isinstance(message, SyncStep2):
        return sync_step2(message.update)
    if isinstance(message, Update):
        return update(message.update)
    if isinstance(message, Awareness):
        return awareness(message.entries)
    if isinstance(message, QueryAwareness):
        return query_awareness()
    return permission_denied(message.reason)
