"""Errors that carry a stable, client-facing code.

Handlers raise :class:`PreauError`; the HTTP layer and the WebSocket gateway
turn it into ``{"code": ..., "message": ...}``. Codes are part of the wire
protocol (docs/protocol.md): never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    ACTIVATION_REQUIRED = "activation_required"
    ACTIVATION_EXPIRED = "activation_expired"
    ACTIVATION_USED = "activation_used"
    WEAK_PASSWORD = "weak_password"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOT_SUBSCRIBED = "not_subscribed"
    CONFLICT = "conflict"
    MUTED = "muted"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    SUSPENDED = "suspended"
    CLOSED = "closed"  # a conversation closed when a relation it needed ended
    FILTERED = "filtered"  # the word filter refused a message
    NOT_IN_CALL = "not_in_call"  # no seat in this call (left, removed, never joined)
    CALL_FULL = "call_full"  # the call's or the school's capacity is reached
    CALL_ENDED = "call_ended"
    CHARTER_REQUIRED = "charter_required"  # accept the school's charter of use first
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


# HTTP status for each code, used by the REST layer.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNKNOWN_OP: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.ACTIVATION_REQUIRED: 403,
    ErrorCode.ACTIVATION_EXPIRED: 401,
    ErrorCode.ACTIVATION_USED: 401,
    ErrorCode.WEAK_PASSWORD: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_SUBSCRIBED: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.MUTED: 403,
    ErrorCode.CLOSED: 403,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SUSPENDED: 403,
    ErrorCode.FILTERED: 422,
    ErrorCode.NOT_IN_CALL: 409,
    ErrorCode.CALL_FULL: 409,
    ErrorCode.CALL_ENDED: 410,
    ErrorCode.CHARTER_REQUIRED: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class PreauError(Exception):
    """An error whose code and message may be shown to the client."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: float | None = None,
        until: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.until = until  # ``muted``: when the mute ends (ms since the epoch)

    def to_wire(self, message: str | None = None) -> dict[str, object]:
        """The wire form; ``message``: the message in the request's language
        (preau/server/messages.py), else as raised."""
        body: dict[str, object] = {"code": self.code.value,
                                   "message": self.message if message is None else message}
        if self.retry_after is not None:
            body["retry_after"] = round(self.retry_after, 3)
        if self.until is not None:
            body["until"] = self.until
        return body


def forbidden(message: str = "not allowed") -> PreauError:
    return PreauError(ErrorCode.FORBIDDEN, message)


def not_found(message: str = "no such thing") -> PreauError:
    return PreauError(ErrorCode.NOT_FOUND, message)


def bad_request(message: str) -> PreauError:
    return PreauError(ErrorCode.BAD_REQUEST, message)
