"""Plain ASGI middleware: error bodies, security headers, cross-site request refusal."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from preau.server.errors import HTTP_STATUS, ErrorCode, PreauError
from preau.server.live.handshake import origin_allowed
from preau.server.messages import Lang, language, localise
from preau.server.text import decimal

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    # Préau's pages use the camera and microphone (calls) on its own origin only.
    (b"permissions-policy",
     b"camera=(self), microphone=(self), display-capture=(self), geolocation=(), "
     b"payment=(), usb=(), serial=(), bluetooth=(), interest-cohort=()"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


# Request bodies, per route (the first matching prefix), enforced while they
# stream in: a chunked body with no length is cut as soon as it passes the
# limit, never read whole first. Handlers may check a smaller size of their own.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/api/documents", 64 * 1024),  # named versions, rights lists
    # A SAML provider's signed Response, posted by the browser (form-encoded).
    ("/api/auth/sso/", 384 * 1024),
    ("/api/", 16 * 1024),
)
DEFAULT_BODY_LIMIT = 16 * 1024


# A school's directory file, sent from the admin console (a large lycée's
# CSV is a few hundred kilobytes).
IMPORT_BODY_LIMIT = 8 * 1024 * 1024
# Several files at once come as JSON, base64 (4/3 of their bytes): the
# request may be that much larger; the files' bytes are bounded as above.
IMPORT_REQUEST_LIMIT = IMPORT_BODY_LIMIT * 4 // 3 + 64 * 1024


def body_limit(path: str) -> int:
    if path.startswith("/api/schools/") and path.endswith(("/import", "/import/preview")):
        return IMPORT_REQUEST_LIMIT
    for prefix, limit in BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_BODY_LIMIT


# The upload of an attachment: its own limit (PREAU_ATTACHMENT_MAX_BYTES),
# checked by the service against a required Content-Length, whose answers
# (411, 413 ``attachment.too_large``) the client shows; the body is streamed
# to disk, never held, and never longer than its Content-Length (the HTTP
# parser's framing), so it is not bounded here.
UPLOAD_PATH = "/api/attachments"


class BodyLimitMiddleware:
    """``too_large`` (413) for a body over its route's limit: at once from its
    ``Content-Length``, else as soon as the streamed bytes pass it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["path"] == UPLOAD_PATH and scope["method"] == "POST"
        ):
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        too_large = PreauError(ErrorCode.TOO_LARGE, f"body larger than {limit} bytes")
        declared = dict(scope.get("headers", [])).get(b"content-length")
        size = None if declared is None else decimal(declared.decode("latin-1"))
        if size is not None and size > limit:
            await error_response(too_large, scope_lang(scope))(scope, receive, send)
            return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large  # answered 413 by the app's error handler
            return message

        await self.app(scope, bounded_receive, send)


def scope_lang(scope: Scope) -> Lang:
    """The request's language (``Accept-Language``; French unless it asks for English)."""
    raw = dict(scope.get("headers") or []).get(b"accept-language")
    return language(None if raw is None else raw.decode("latin-1"))


def error_response(exc: PreauError, lang: Lang) -> Response:
    """The error as JSON, its message in ``lang`` (preau/server/messages.py)."""
    headers = {}
    if exc.retry_after is not None:
        headers["retry-after"] = str(max(1, int(exc.retry_after + 0.999)))
    return Response(
        orjson.dumps({"error": exc.to_wire(localise(exc.code, exc.message, lang))}),
        status_code=HTTP_STATUS[exc.code],
        media_type="application/json",
        headers=headers,
    )


async def preau_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PreauError)
    return error_response(exc, scope_lang(request.scope))


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no route, wrong method): under /api/ they
    answer like every other API error, in JSON (``not_found``, ``bad_request``);
    elsewhere (the web client's pages) as Starlette does."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if path != "/api" and not path.startswith("/api/"):
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code,
                                 headers=exc.headers)
    code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.BAD_REQUEST
    message = "no such route" if exc.status_code == 404 else str(exc.detail).lower()
    words = localise(code, message, scope_lang(request.scope))
    return Response(orjson.dumps({"error": PreauError(code, message).to_wire(words)}),
                    status_code=exc.status_code, media_type="application/json",
                    headers=exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(PreauError(ErrorCode.INTERNAL, "internal error"),
                          scope_lang(request.scope))


# The one write a browser sends from another site: a single sign-on provider's
# page posts its answer (a SAML Response, HTTP-POST binding) to the callback.
# It is bound to the browser that started the login by the state cookie and
# to the provider by its signature (preau/server/sso), not by the Origin.
CROSS_SITE_POSTS = re.compile(r"/api/auth/sso/[^/]+/callback")


class SecurityMiddleware:
    """Adds security headers to API responses and refuses cross-site writes.

    Browsers send ``Origin`` on every POST; a POST from another site riding on
    the session cookie is refused (SameSite=Lax already stops most of them).
    """

    def __init__(self, app: Any, allowed_origins: frozenset[str]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and not origin_allowed(
            scope, self.allowed_origins
        ) and not CROSS_SITE_POSTS.fullmatch(scope["path"]):
            response = error_response(PreauError(ErrorCode.FORBIDDEN, "cross-site request"),
                                      scope_lang(scope))
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A response that chose its own caching keeps it (the web
                # client's hashed assets are immutable); the rest is no-store.
                own = {name.lower() for name, _ in headers}
                message["headers"] = headers + [
                    h for h in SECURITY_HEADERS if h[0] not in own
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
