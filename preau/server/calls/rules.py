"""The call service's pure rules: refusals as error codes, how many people a
call seats (with or without an SFU), the transitions the service applies on
its own (seats of dead nodes, a socket gone, a right lost), a control change.
No I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from preau.rtc import room as rtc
from preau.rtc.room import CallRefused, CallState, Controls, Outcome, Refusal
from preau.server.errors import ErrorCode, PreauError
from preau.server.settings import Settings

REFUSAL_CODES: dict[Refusal, ErrorCode] = {
    Refusal.NOT_IN_CALL: ErrorCode.NOT_IN_CALL,
    Refusal.NO_SUCH_PEER: ErrorCode.NOT_FOUND,
    Refusal.FORBIDDEN: ErrorCode.FORBIDDEN,
    Refusal.REMOVED: ErrorCode.FORBIDDEN,
    Refusal.FULL: ErrorCode.CALL_FULL,
    Refusal.ENDED: ErrorCode.CALL_ENDED,
    Refusal.CONFLICT: ErrorCode.CONFLICT,
    Refusal.BAD_REQUEST: ErrorCode.BAD_REQUEST,
}


def error_of(exc: CallRefused) -> PreauError:
    return PreauError(REFUSAL_CODES[exc.reason], exc.message)


def no_such_call() -> PreauError:
    """What a join without the right gets, whatever the reason (no such call,
    another school or class, removed from the room): existence never shows."""
    return PreauError(ErrorCode.NOT_FOUND, "no such call")


def channel_of(call_id: str) -> str:
    return f"call:{call_id}"


def event_frame(ev: str, fields: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"ev": ev, **fields})


def sfu_configured(settings: Settings) -> bool:
    """Whether calls may go through an SFU (``PREAU_JANUS_URLS``): without
    one a call never leaves mesh mode (docs/video.md, "Without an SFU")."""
    return bool(settings.janus_urls)


def people_per_call(settings: Settings) -> int:
    """How many people a call seats: its capacity with an SFU; without one,
    the mesh size (beyond it a mesh does not hold, and there is no SFU)."""
    if sfu_configured(settings):
        return settings.call_capacity
    return min(settings.call_capacity, settings.call_mesh_size)


def no_sfu_error() -> PreauError:
    return PreauError(ErrorCode.BAD_REQUEST,
                      "no video server (SFU) is configured here: calls stay in mesh mode")


def check_seat_room(state: CallState, settings: Settings) -> None:
    """Refuse a seat above what the call holds, saying why when it is the
    missing SFU."""
    limit = people_per_call(settings)
    if len(state.seated()) >= limit and limit < settings.call_capacity:
        raise CallRefused(Refusal.FULL, f"this call is full: at most {limit} people without"
                                        " a video server (SFU)")


def controls_with(base: Controls, changes: Mapping[str, Any]) -> Controls:
    """``base`` with the fields of ``changes`` that are not None."""
    return replace(base, **{k: v for k, v in changes.items() if v is not None})


def expire(nodes: frozenset[str]) -> Callable[[CallState, int], Outcome]:
    return lambda state, _others: rtc.expire_seats(state, nodes)


def leave_if_seated(peer: str) -> Callable[[CallState, int], Outcome]:
    def transition(state: CallState, _others: int) -> Outcome:
        if peer not in state.seats:
            return Outcome(state)
        return rtc.leave(state, peer, "disconnected")

    return transition


def revoke_seat(peer: str) -> Callable[[CallState, int], Outcome]:
    def transition(state: CallState, _others: int) -> Outcome:
        if peer not in state.seats:
            return Outcome(state)
        return rtc.leave(state, peer, "revoked")

    return transition
