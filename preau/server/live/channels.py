"""Broker channels of the live fan-out, and the room channel's message format.

A room's channel (``room.<id>``) carries committed messages, ephemeral events
and events for an :class:`Audience`; the control channels carry what must
hold on every node (docs/architecture.md, "Global state").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

SESSIONS_CHANNEL = "control.sessions"
DIRECTORY_CHANNEL = "control.directory"
ROOMS_CHANNEL = "control.rooms"
PEOPLE_CHANNEL = "control.people"  # events for people wherever their sockets are


def room_channel(room_id: str) -> str:
    return f"room.{room_id}"


@dataclass(frozen=True, slots=True)
class Audience:
    """Who among a room's subscribers receives an event: ``people``, and the
    room's moderators when ``moderators`` is set (judged by each node); or,
    when ``everyone_but`` names profiles, every subscriber but those (a
    teacher's presence, which parents see only if the school says so)."""

    people: frozenset[str] = frozenset()
    moderators: bool = False
    everyone_but: frozenset[str] = frozenset()


def pack(
    kind: str, seq: int, exclude: str | None, frame: bytes, audience: Audience | None = None,
    sent_at: float | None = None,
) -> bytes:
    """A room channel message: a small JSON header line, then the client frame as is.

    The frame is never decoded by the receiving node: it goes to sockets
    byte for byte (orjson never writes a raw newline, so the first one ends
    the header).
    """
    header: dict[str, Any] = {"k": kind, "s": seq, "x": exclude}
    if sent_at is not None:  # wall-clock seconds: the fan-out latency (preau/server/metrics.py)
        header["t"] = sent_at
    if audience is not None:
        header["p"] = sorted(audience.people)
        header["mod"] = audience.moderators
        if audience.everyone_but:
            header["xp"] = sorted(audience.everyone_but)
    return orjson.dumps(header) + b"\n" + frame


def unpack(payload: bytes) -> tuple[str, int, str | None, bytes, Audience | None]:
    kind, seq, exclude, frame, audience, _ = unpack_timed(payload)
    return kind, seq, exclude, frame, audience


def unpack_timed(
    payload: bytes,
) -> tuple[str, int, str | None, bytes, Audience | None, float | None]:
    """``unpack``, and when the publisher stamped it, the time it was sent
    (a node of an older version does not: None)."""
    header, _, frame = payload.partition(b"\n")
    data = orjson.loads(header)
    audience = None
    if "p" in data:
        audience = Audience(frozenset(str(p) for p in data["p"]), bool(data.get("mod")),
                            frozenset(str(p) for p in data.get("xp") or ()))
    sent_at = data.get("t")
    return (str(data["k"]), int(data["s"]), data.get("x"), frame, audience,
            float(sent_at) if isinstance(sent_at, int | float) else None)
