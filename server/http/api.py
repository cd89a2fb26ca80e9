"""REST under ``/api/``: what is not live (login, directory, history, health).

Handlers only parse, authenticate and call the services; errors are
:class:`PreauError` turned into ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import __version__
from server.auth.service import IssuedSession, Session
from server.directory.model import Member
from server.directory.rules import may_communicate
from server.errors import ErrorCode, PreauError, bad_request, forbidden, not_found
from server.gateway.endpoint import SESSION_COOKIE, token_from_scope
from server.gateway.protocol import schemas as ws_schemas
from server.http.openapi import Endpoint, openapi_document
from server.services import Services

MAX_BODY = 16 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Strict):
    login: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    kind: Literal["cookie", "bearer"] = "cookie"


class ActivateBody(Strict):
    login: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    code: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    kind: Literal["cookie", "bearer"] = "cookie"


class PasswordBody(Strict):
    current: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    new: Annotated[StrictStr, Field(min_length=1, max_length=256)]


class PersonOut(BaseModel):
    id: str
    name: str
    profile: str


class SessionOut(BaseModel):
    person: PersonOut
    expires: int
    token: str | None = None  # bearer sessions only: browsers get an HttpOnly cookie


class RoomOut(BaseModel):
    id: str
    name: str
    kind: str
    head: int


class MeOut(BaseModel):
    person: PersonOut
    login: str
    is_admin: bool
    school: dict[str, str]
    rooms: list[RoomOut]


class SenderOut(BaseModel):
    id: str
    name: str


class MessageOut(BaseModel):
    room: str
    seq: int
    id: str
    sender: SenderOut
    body: str
    txn: str
    ts: int


class HistoryOut(BaseModel):
    messages: list[MessageOut]


class PeopleOut(BaseModel):
    people: list[PersonOut]


class HealthOut(BaseModel):
    status: str
    node: str
    version: str
    store: dict[str, Any]
    broker: dict[str, Any]
    gateway: dict[str, int]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _json_body(request: Request, model: type[Strict]) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise PreauError(ErrorCode.TOO_LARGE, f"body larger than {MAX_BODY} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PreauError(ErrorCode.TOO_LARGE, f"body larger than {MAX_BODY} bytes")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}") from None


async def _authenticated(request: Request) -> tuple[Session, Member]:
    services = _services(request)
    token = token_from_scope(dict(request.scope))
    session = await services.auth.resolve(token) if token else None
    member = await services.directory.member(session.person_id) if session else None
    if session is None or member is None:
        raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
    return session, member


def _person(member: Member) -> dict[str, str]:
    return {"id": member.id, "name": member.display_name, "profile": member.profile.value}


async def _session_response(request: Request, issued: IssuedSession) -> Response:
    services = _services(request)
    member = await services.directory.member(issued.session.person_id)
    if member is None:
        raise PreauError(ErrorCode.INVALID_CREDENTIALS, "wrong login or password")
    body: dict[str, Any] = {"person": _person(member), "expires": issued.session.expires_ms}
    if issued.session.kind == "bearer":
        body["token"] = issued.token
    response = JSONResponse(body)
    if issued.session.kind == "cookie":
        response.set_cookie(
            SESSION_COOKIE,
            issued.token,
            max_age=services.settings.session_max_s,
            httponly=True,
            samesite="lax",
            secure=services.settings.cookie_secure,
            path="/",
        )
    return response


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- handlers -----------------------------------------------------------------
async def login(request: Request) -> Response:
    body: LoginBody = await _json_body(request, LoginBody)
    issued = await _services(request).auth.login(
        body.login, body.password, _client_ip(request), body.kind
    )
    return await _session_response(request, issued)


async def activate(request: Request) -> Response:
    body: ActivateBody = await _json_body(request, ActivateBody)
    issued = await _services(request).auth.activate(
        body.login, body.code, body.password, _client_ip(request), body.kind
    )
    return await _session_response(request, issued)


async def logout(request: Request) -> Response:
    session, _ = await _authenticated(request)
    await _services(request).auth.logout(session)
    response = JSONResponse({})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def change_password(request: Request) -> Response:
    session, _ = await _authenticated(request)
    body: PasswordBody = await _json_body(request, PasswordBody)
    await _services(request).auth.change_password(session, body.current, body.new)
    return JSONResponse({})


async def _rooms_out(services: Services, member: Member) -> list[dict[str, Any]]:
    rooms = await services.directory.rooms_of(member)
    return [
        {"id": r.id, "name": r.name, "kind": r.kind.value,
         "head": await services.store.room_head(r.id)}
        for r in rooms
    ]


async def me(request: Request) -> Response:
    _, member = await _authenticated(request)
    services = _services(request)
    view = await services.directory.school(member.school_id)
    person = await services.directory.person(member.id)
    if view is None or person is None:
        raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
    return JSONResponse({
        "person": _person(member),
        "login": person.login,
        "is_admin": person.is_admin,
        "school": {"id": view.school.id, "name": view.school.name},
        "rooms": await _rooms_out(services, member),
    })


async def my_rooms(request: Request) -> Response:
    _, member = await _authenticated(request)
    return JSONResponse({"rooms": await _rooms_out(_services(request), member)})


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be an integer between {low} and {high}")
    return int(raw)


async def history(request: Request) -> Response:
    _, member = await _authenticated(request)
    before = _int_param(request, "before", None, 1, 2**62)
    after = _int_param(request, "after", None, 0, 2**62)
    if before is not None and after is not None:
        raise bad_request("give before or after, not both")
    limit = _int_param(request, "limit", 50, 1, 200)
    assert limit is not None
    messages = await _services(request).chat.history(
        member, request.path_params["room"], before=before, after=after, limit=limit
    )
    return JSONResponse({"messages": messages})


async def person(request: Request) -> Response:
    """A person's public card, only if the circle of trust lets the viewer reach them."""
    _, viewer = await _authenticated(request)
    services = _services(request)
    view = await services.directory.school(viewer.school_id)
    target = None if view is None else view.members.get(request.path_params["person"])
    if view is None or target is None:
        raise not_found("no such person")
    if not may_communicate(viewer, target, view.rules):
        raise forbidden("this person is outside your circle")
    return JSONResponse(_person(target))


async def directory_search(request: Request) -> Response:
    """People of my school I may reach, optionally filtered by name (``q``)."""
    _, viewer = await _authenticated(request)
    services = _services(request)
    view = await services.directory.school(viewer.school_id)
    query = (request.query_params.get("q") or "").strip().casefold()
    if len(query) > 100:
        raise bad_request("q has at most 100 characters")
    people = [] if view is None else [
        _person(m) for m in view.members.values()
        if m.id != viewer.id
        and query in m.display_name.casefold()
        and may_communicate(viewer, m, view.rules)
    ]
    people.sort(key=lambda p: p["name"])
    return JSONResponse({"people": people[:100]})


async def health(request: Request) -> Response:
    services = _services(request)
    store_ok, broker_ok = True, await services.broker.healthy()
    try:
        await services.store.ping()
    except Exception:
        store_ok = False
    ok = store_ok and broker_ok
    body = {
        "status": "ok" if ok else "degraded",
        "node": services.settings.node_id,
        "version": __version__,
        "store": {"ok": store_ok, "kind": services.settings.effective_store_url.split(":")[0]},
        "broker": {"ok": broker_ok, "kind": services.settings.broker_url.split(":")[0]},
        "gateway": services.hub.stats(),
    }
    return Response(orjson.dumps(body), status_code=200 if ok else 503,
                    media_type="application/json")


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(ENDPOINTS, __version__))


async def ws_schema(request: Request) -> Response:
    return JSONResponse(ws_schemas())


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/api/auth/login", "Log in with login and password", login,
             body=LoginBody, response=SessionOut, auth=False),
    Endpoint("POST", "/api/auth/activate",
             "First login: activation code and the new password", activate,
             body=ActivateBody, response=SessionOut, auth=False),
    Endpoint("POST", "/api/auth/logout", "End this session and close its sockets", logout),
    Endpoint("POST", "/api/auth/password",
             "Change password; other sessions end, sockets included", change_password,
             body=PasswordBody),
    Endpoint("GET", "/api/me", "Who am I, my school and my rooms", me, response=MeOut),
    Endpoint("GET", "/api/rooms", "Rooms I belong to", my_rooms),
    Endpoint("GET", "/api/rooms/{room}/messages", "A page of a room's history", history,
             response=HistoryOut,
             query={"before": "page ending below this seq (default: newest)",
                    "after": "page starting above this seq", "limit": "1-200, default 50"}),
    Endpoint("GET", "/api/people/{person}", "A person within my circle of trust", person,
             response=PersonOut),
    Endpoint("GET", "/api/directory", "People I may reach, by name", directory_search,
             response=PeopleOut, query={"q": "part of a name"}),
    Endpoint("GET", "/api/health", "Node, store and broker status", health,
             response=HealthOut, auth=False),
    Endpoint("GET", "/api/openapi.json", "This description", openapi, auth=False),
    Endpoint("GET", "/api/ws-schema", "JSON Schemas of the WebSocket ops", ws_schema,
             auth=False),
]


def routes() -> list[Route]:
    return [Route(ep.path, ep.handler, methods=[ep.method]) for ep in ENDPOINTS]
