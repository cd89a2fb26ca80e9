"""REST for data protection: export download, erasure request, access journal,
retention status (docs/data-protection.md). Appended to ``api.ENDPOINTS``.

Handlers parse and authenticate; ``PrivacyService`` authorises, journals and
acts. ``{person}`` may be ``me``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from server.directory.model import Member
from server.errors import ErrorCode, PreauError, bad_request
from server.http.openapi import Endpoint
from server.live.handshake import token_from_scope
from server.services import Services

MAX_BODY = 1024


class ErasureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Also delete (instead of anonymising) what the person wrote in shared rooms.
    delete_contributions: StrictBool = False


class ErasureOut(BaseModel):
    erased: bool
    delete_contributions: bool


class JournalActor(BaseModel):
    id: str
    name: str


class JournalEntryOut(BaseModel):
    id: str
    ts: int
    view: str
    subject: str
    actor: JournalActor


class JournalOut(BaseModel):
    entries: list[JournalEntryOut]
    next: int | None = None  # pass as ``before`` for the next (older) page


class RetentionOut(BaseModel):
    periods_days: dict[str, int]
    job: dict[str, Any] | None
    counts: dict[str, int]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _member(request: Request) -> Member:
    services = _services(request)
    token = token_from_scope(dict(request.scope))
    session = await services.auth.resolve(token) if token else None
    member = await services.directory.member(session.person_id) if session else None
    if member is None:
        raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
    return member


def _id(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not 1 <= len(value) <= 64:
        raise bad_request(f"{name} has 1 to 64 characters")
    return value


async def export(request: Request) -> Response:
    """The person's data as one JSON document, streamed page by page."""
    viewer = await _member(request)
    chunks = await _services(request).privacy.export(viewer, _id(request, "person"))
    return StreamingResponse(
        chunks,
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="preau-export.json"'},
    )


async def erase(request: Request) -> Response:
    viewer = await _member(request)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PreauError(ErrorCode.TOO_LARGE, f"body larger than {MAX_BODY} bytes")
    try:
        body = ErasureBody.model_validate_json(raw) if raw else ErasureBody()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}") from None
    out = await _services(request).privacy.request_erasure(
        viewer, _id(request, "person"), body.delete_contributions
    )
    return JSONResponse(out)


async def access_journal(request: Request) -> Response:
    viewer = await _member(request)
    params = request.query_params
    limit, before = params.get("limit", "50"), params.get("before")
    if not limit.isdigit() or not 1 <= int(limit) <= 200:
        raise bad_request("limit must be an integer between 1 and 200")
    if before is not None and (not before.isdigit() or not 1 <= int(before) <= 2**62):
        raise bad_request("before must be a positive integer")
    page = await _services(request).privacy.journal(
        viewer, _id(request, "school"), None if before is None else int(before), int(limit)
    )
    return JSONResponse(page)


async def retention(request: Request) -> Response:
    viewer = await _member(request)
    status = await _services(request).privacy.retention_status(viewer, _id(request, "school"))
    return JSONResponse(status)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/people/{person}/export",
             "Download all of a person's data as JSON (themselves, their parents, the "
             "school's admins; streamed)", export),
    Endpoint("POST", "/api/people/{person}/erasure",
             "Erase a person's data now (themselves, their parents, the school's admins)",
             erase, body=ErasureBody, response=ErasureOut),
    Endpoint("GET", "/api/schools/{school}/access-journal",
             "Who read what in moderation and admin views, newest first (school admins)",
             access_journal, response=JournalOut,
             query={"before": "the next cursor of the previous page",
                    "limit": "1-200, default 50"}),
    Endpoint("GET", "/api/schools/{school}/retention",
             "Retention periods, the last retention pass, closed accounts and erasures "
             "(school admins)", retention, response=RetentionOut),
]
