"""REST for data protection: export download, erasure request, access journal,
retention status (docs/data-protection.md).

Handlers parse and authenticate; ``PrivacyService`` authorises, journals and
acts. ``{person}`` may be ``me``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, StrictBool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from preau.server.errors import bad_request
from preau.server.http.common import Strict, json_body, member_of, path_id, services
from preau.server.http.openapi import Endpoint
from preau.server.text import decimal

MAX_BODY = 1024


class ErasureBody(Strict):
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


async def export(request: Request) -> Response:
    """The person's data as one JSON document, streamed page by page."""
    viewer = await member_of(request)
    chunks = await services(request).privacy.export(viewer, path_id(request, "person"))
    return StreamingResponse(
        chunks,
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="preau-export.json"'},
    )


async def erase(request: Request) -> Response:
    viewer = await member_of(request)
    body = await json_body(request, ErasureBody, limit=MAX_BODY, empty_is_object=True)
    out = await services(request).privacy.request_erasure(
        viewer, path_id(request, "person"), body.delete_contributions
    )
    return JSONResponse(out)


async def access_journal(request: Request) -> Response:
    viewer = await member_of(request)
    params = request.query_params
    limit = decimal(params.get("limit", "50"))
    raw_before = params.get("before")
    before = None if raw_before is None else decimal(raw_before)
    if limit is None or not 1 <= limit <= 200:
        raise bad_request("limit must be an integer between 1 and 200")
    if raw_before is not None and (before is None or not 1 <= before <= 2**62):
        raise bad_request("before must be a positive integer")
    page = await services(request).privacy.journal(
        viewer, path_id(request, "school"), before, limit
    )
    return JSONResponse(page)


async def retention(request: Request) -> Response:
    viewer = await member_of(request)
    status = await services(request).privacy.retention_status(viewer, path_id(request, "school"))
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
