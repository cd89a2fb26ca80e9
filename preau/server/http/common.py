"""What every REST module shares: the services, who is calling, bodies and
parameters parsed into pydantic models or bounded values, and the records
several resources render (a person, a sender).

A handler is parse → authenticate → call a service → render; every error is a
:class:`PreauError` that the middleware turns into ``{"error": {…}}``.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import ClientDisconnect, Request

from preau.server.auth.service import Session
from preau.server.directory.model import Member
from preau.server.errors import ErrorCode, PreauError, bad_request
from preau.server.live.handshake import token_from_scope
from preau.server.services import Services
from preau.server.text import decimal

MAX_BODY = 16 * 1024  # the default; the middleware cuts larger bodies as they stream
MAX_SEQ = 2**62

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonOut(BaseModel):
    id: str
    name: str
    profile: str


class SenderOut(BaseModel):
    id: str
    name: str


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


# Routes a person who has not accepted the school's current charter of use may
# still call (every other one answers ``charter_required``): who am I (it says
# that the charter must be shown), reading and accepting it, logging out.
# Login and activation do not authenticate.
CHARTER_OPEN = frozenset({"/api/me", "/api/charter", "/api/charter/accept", "/api/auth/logout"})


async def authenticated(request: Request) -> tuple[Session, Member]:
    """The caller's session and member, from the cookie or the bearer token
    (never a token in the URL), or ``unauthenticated``; then, for every route
    but :data:`CHARTER_OPEN`, ``charter_required`` until the school's current
    charter of use is accepted (the one place REST enforces it)."""
    node = services(request)
    token = token_from_scope(dict(request.scope))
    session = await node.auth.resolve(token) if token else None
    member = await node.directory.member(session.person_id) if session else None
    if session is None or member is None:
        raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
    if route_path(request) not in CHARTER_OPEN:
        await node.charter.check(member)
    return session, member


def route_path(request: Request) -> str:
    """The path template of the route that matched (``/api/rooms/{room}/policy``)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else request.url.path


async def member_of(request: Request) -> Member:
    """The caller, as :func:`authenticated`, when the session is not needed."""
    _, member = await authenticated(request)
    return member


async def json_body(
    request: Request, model: type[M], *, limit: int = MAX_BODY, empty_is_object: bool = False
) -> M:
    """The body validated by ``model``: ``too_large`` over ``limit`` bytes,
    ``bad_request`` naming the first wrong field. ``empty_is_object``: an
    empty body stands for ``{}``."""
    length = request.headers.get("content-length")
    declared = None if length is None else decimal(length)
    if declared is not None and declared > limit:
        raise PreauError(ErrorCode.TOO_LARGE, f"body larger than {limit} bytes")
    try:
        raw = await request.body()
    except ClientDisconnect:
        # Gone before its body ended: nothing to answer, nothing went wrong
        # here (it was logged as two tracebacks per dropped request).
        raise bad_request("the client went away before the end of its request") from None
    if len(raw) > limit:
        raise PreauError(ErrorCode.TOO_LARGE, f"body larger than {limit} bytes")
    if not raw and empty_is_object:
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}") from None


def person_wire(member: Member) -> dict[str, str]:
    """A person as every REST answer shows one (:class:`PersonOut`)."""
    return {"id": member.id, "name": member.display_name, "profile": member.profile.value}


def path_id(request: Request, name: str) -> str:
    """A path parameter that is an id: 1 to 64 characters."""
    value: str = request.path_params[name]
    if not 1 <= len(value) <= 64:
        raise bad_request(f"{name} has 1 to 64 characters")
    return value


def path_seq(request: Request) -> int:
    """The ``{seq}`` path parameter: a message's sequence number."""
    seq = decimal(request.path_params["seq"])
    if seq is None or not 1 <= seq <= MAX_SEQ:
        raise bad_request("seq must be a positive integer")
    return seq


def query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = decimal(raw)
    if value is None or not low <= value <= high:
        raise bad_request(f"{name} must be an integer between {low} and {high}")
    return value


def query_limit(request: Request) -> int:
    """``limit`` for a page: 1 to 200, 50 when absent."""
    limit = query_int(request, "limit", 50, 1, 200)
    assert limit is not None
    return limit


def query_id(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and not 1 <= len(raw) <= 64:
        raise bad_request(f"{name} has 1 to 64 characters")
    return raw
