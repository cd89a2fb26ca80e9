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
    PASSWORD_LOGIN_OFF = "password_login_off"  # this profile signs in through its SSO only
    SSO_REFUSED = "sso_refused"  # the identity provider's person is no one here
    SSO_FAILED = "sso_failed"  # the SSO login did not complete (state, token, ticket)
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
    # Attachments (docs/protocol.md, "Attachments"); the content checks' codes
    # are preau/server/attachments/refused.py's.
    ATTACHMENT_TOO_LARGE = "attachment.too_large"  # over PREAU_ATTACHMENT_MAX_BYTES
    ATTACHMENT_QUOTA = "attachment.quota_exceeded"  # the person's or the school's
    ATTACHMENT_LENGTH_REQUIRED = "attachment.length_required"  # no Content-Length
    ATTACHMENT_TRUNCATED = "attachment.truncated"  # fewer bytes than announced
    ATTACHMENT_PENDING = "attachment.pending"  # not scanned yet: nobody gets its bytes
    ATTACHMENT_TYPE_REFUSED = "attachment.type_refused"
    ATTACHMENT_TYPE_MISMATCH = "attachment.type_mismatch"
    ATTACHMENT_INFECTED = "attachment.infected"
    ATTACHMENT_IMAGE_INVALID = "attachment.image_invalid"
    ATTACHMENT_IMAGE_TOO_LARGE = "attachment.image_too_large"
    ATTACHMENT_NAME_INVALID = "attachment.name_invalid"


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
    ErrorCode.PASSWORD_LOGIN_OFF: 403,
    ErrorCode.SSO_REFUSED: 403,
    ErrorCode.SSO_FAILED: 400,
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
    ErrorCode.ATTACHMENT_TOO_LARGE: 413,
    ErrorCode.ATTACHMENT_QUOTA: 413,
    ErrorCode.ATTACHMENT_LENGTH_REQUIRED: 411,
    ErrorCode.ATTACHMENT_TRUNCATED: 400,
    ErrorCode.ATTACHMENT_PENDING: 409,
    ErrorCode.ATTACHMENT_TYPE_REFUSED: 415,
    ErrorCode.ATTACHMENT_TYPE_MISMATCH: 415,
    ErrorCode.ATTACHMENT_INFECTED: 422,
    ErrorCode.ATTACHMENT_IMAGE_INVALID: 422,
    ErrorCode.ATTACHMENT_IMAGE_TOO_LARGE: 413,
    ErrorCode.ATTACHMENT_NAME_INVALID: 400,
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
