"""The WebSocket upgrade checks ``/ws`` and ``/collab`` share, written once.

Origin → token → session → member → socket cap: :func:`admit` runs them in
that order and either returns who is connecting, or refuses the upgrade
itself (:func:`deny`) and returns None. The endpoint then adds its own
checks (``/collab``: the document's rights) and accepts.

A refusal is an HTTP answer with a JSON error body when the server supports
the ``websocket.http.response`` ASGI extension (uvicorn does), else a plain
close 1008. The session token comes from the Authorization header, the
cookie, or — on these upgrades only — ``?token=`` (:func:`token_from_scope`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.types import Scope, Send

from preau.server.directory.model import Member
from preau.server.errors import HTTP_STATUS, ErrorCode, PreauError
from preau.server.live.connection import SessionRef
from preau.server.messages import language, localise

log = logging.getLogger(__name__)

SESSION_COOKIE = "preau_session"


class People(Protocol):
    """Who a session's person is (``preau.server.directory.service.Directory`` has it)."""

    async def member(self, person_id: str) -> Member | None: ...


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def token_from_scope(scope: Scope, *, allow_query: bool = False) -> str | None:
    """A session token from the Authorization header, the cookie, or — with
    ``allow_query``, on the WebSocket upgrades only — ``?token=``.

    The query parameter exists for clients that cannot set headers on a
    WebSocket (y-websocket in browsers); logs redact it (preau/server/log_redaction.py).
    REST never takes it: a URL ends up in proxies' logs and browser histories.
    """
    auth = header(scope, b"authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie_header = header(scope, b"cookie")
    if cookie_header:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(cookie_header)
        except Exception:
            cookie = SimpleCookie()
        if SESSION_COOKIE in cookie:
            return cookie[SESSION_COOKIE].value
    if not allow_query:
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


def origin_allowed(scope: Scope, allowed: frozenset[str]) -> bool:
    """Exact match against the allow-list; with no list, same origin as the Host.

    No Origin header means no browser (an SDK, a bot): cross-site hijacking is a
    browser attack, and such clients still need a valid token.
    """
    origin = header(scope, b"origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return origin in allowed
    host = header(scope, b"host")
    parts = urlsplit(origin)
    return host is not None and parts.scheme in ("http", "https") and parts.netloc == host


async def deny(scope: Scope, send: Send, status: int, code: ErrorCode, message: str) -> None:
    """Refuse the upgrade: an HTTP answer with a JSON error where the server
    can send one, else close 1008."""
    extensions: dict[str, Any] = scope.get("extensions") or {}
    if "websocket.http.response" in extensions:
        lang = language(header(scope, b"accept-language"),
                        (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang")
                         or [None])[0])
        body = orjson.dumps({"error": {"code": code.value,
                                       "message": localise(code, message, lang)}})
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def admit(
    scope: Scope,
    send: Send,
    *,
    allowed_origins: frozenset[str],
    resolve: Callable[[str], Awaitable[SessionRef | None]],
    people: People,
    sockets_of: Callable[[str], int],
    max_sockets: int,
    label: str,
    too_many: str,
) -> tuple[SessionRef, Member] | None:
    """Run the shared upgrade checks: who is connecting, or None once refused.

    ``resolve`` turns a token into a live session (``AuthService.resolve``);
    ``sockets_of(person)`` counts the person's open sockets on this endpoint,
    refused at ``max_sockets`` with ``too_many``. ``label`` names the endpoint
    in the log line of a refused origin.
    """
    state = getattr(scope.get("app"), "state", None)
    if getattr(state, "draining", False):
        # Shutting down (preau/server/serving.py): the load balancer is taking this
        # node out; a new socket goes to another node at once.
        await deny(scope, send, 503, ErrorCode.UNAVAILABLE,
                   "this node is restarting: connect to another")
        return None
    if not origin_allowed(scope, allowed_origins):
        log.warning("%s refused: origin not allowed", label)
        await deny(scope, send, 403, ErrorCode.FORBIDDEN, "origin not allowed")
        return None
    token = token_from_scope(scope, allow_query=True)
    try:
        session = await resolve(token) if token is not None else None
        member = await people.member(session.person_id) if session is not None else None
    except PreauError as exc:  # the store is down (unavailable): try again later
        await deny(scope, send, HTTP_STATUS[exc.code], exc.code, exc.message)
        return None
    if session is None or member is None:
        await deny(scope, send, 401, ErrorCode.UNAUTHENTICATED, "log in first")
        return None
    if sockets_of(member.id) >= max_sockets:
        await deny(scope, send, 429, ErrorCode.RATE_LIMITED, too_many)
        return None
    return session, member
