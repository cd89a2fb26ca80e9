"""REST for the charter of use (docs/moderation.md, "Charter of use"): read
and accept my school's current charter (open before acceptance: see
``CHARTER_OPEN`` in common.py), and for the school's admins publish a new
version (audited) and see who has not accepted it yet."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.charter.service import MAX_BODY_CHARS
from preau.server.http.common import PersonOut, Strict, json_body, member_of, path_id, services
from preau.server.http.openapi import Endpoint

BODY_LIMIT = 4 * MAX_BODY_CHARS + 1024  # two texts of UTF-8, with room for JSON escapes


class CharterOut(BaseModel):
    version: int
    body: str  # Markdown, French
    body_en: str | None  # its English translation, if any
    published: int  # ms
    accepted: bool | None = None  # mine (GET /api/charter)


class AcceptBody(Strict):
    version: Annotated[StrictInt, Field(ge=1, le=2**53 - 1)]


class AcceptOut(BaseModel):
    version: int
    duplicate: bool


class PublishBody(Strict):
    body: Annotated[StrictStr, Field(min_length=1, max_length=MAX_BODY_CHARS)]
    body_en: Annotated[StrictStr, Field(min_length=1, max_length=MAX_BODY_CHARS)] | None = None


class AcceptedOut(BaseModel):
    person: PersonOut
    at: int


class AcceptancesOut(BaseModel):
    version: int
    accepted: list[AcceptedOut]
    pending: list[PersonOut]


async def my_charter(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).charter.read(member))


async def accept(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, AcceptBody)
    return JSONResponse(await services(request).charter.accept(member, body.version))


async def publish(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, PublishBody, limit=BODY_LIMIT)
    charter = await services(request).charter.publish(
        member, path_id(request, "school"), body.body, body.body_en)
    return JSONResponse(charter)


async def acceptances(request: Request) -> Response:
    member = await member_of(request)
    found = await services(request).charter.acceptances(member, path_id(request, "school"))
    return JSONResponse(found)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/charter", "My school's current charter of use, and whether I "
             "accepted it (allowed before acceptance)", my_charter, response=CharterOut),
    Endpoint("POST", "/api/charter/accept", "Accept the current version of the charter "
             "(allowed before acceptance; idempotent)", accept, body=AcceptBody,
             response=AcceptOut),
    Endpoint("POST", "/api/schools/{school}/charter", "Publish a new version of the charter: "
             "everyone must accept it again (school admins; audited)", publish,
             body=PublishBody, response=CharterOut),
    Endpoint("GET", "/api/schools/{school}/charter/acceptances", "Who accepted the current "
             "version and who has not yet (school admins)", acceptances,
             response=AcceptancesOut),
]
