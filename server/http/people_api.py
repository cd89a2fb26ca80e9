"""REST for people: who I am (with my school and rooms), a person's card and
the directory search — both only within the circle of trust, which the
directory service decides (server/directory/service.py)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.errors import ErrorCode, PreauError, bad_request, not_found
from server.http.common import PersonOut, member_of, person_wire, services
from server.http.openapi import Endpoint

MAX_RESULTS = 100


class RoomOut(BaseModel):
    id: str
    name: str
    kind: str
    head: int
    class_id: str | None = None  # class and parents' rooms
    people: list[str] | None = None  # a private conversation's person ids


class MeOut(BaseModel):
    person: PersonOut
    login: str
    is_admin: bool
    school: dict[str, str]
    rooms: list[RoomOut]
    # The charter of use: when true, show the charter (GET /api/charter) and
    # accept it (POST /api/charter/accept); every other route refuses until then.
    charter_required: bool
    charter_version: int


class PeopleOut(BaseModel):
    people: list[PersonOut]


async def me(request: Request) -> Response:
    member = await member_of(request)
    node = services(request)
    view = await node.directory.school(member.school_id)
    found = await node.directory.person(member.id)
    if view is None or found is None:
        raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
    charter = await node.charter.status(member)
    if charter["charter_required"]:  # no rooms yet: only the charter is open
        return JSONResponse({
            "person": person_wire(member), "login": found.login, "is_admin": found.is_admin,
            "school": {"id": view.school.id, "name": view.school.name}, "rooms": [], **charter,
        })
    return JSONResponse({
        "person": person_wire(member),
        "login": found.login,
        "is_admin": found.is_admin,
        "school": {"id": view.school.id, "name": view.school.name},
        "rooms": await node.receipts.room_list(member),
        **charter,
    })


async def person(request: Request) -> Response:
    """A person's public card, only if the circle of trust lets the viewer reach them."""
    viewer = await member_of(request)
    target = await services(request).directory.reachable(viewer, request.path_params["person"])
    if target is None:  # out of reach answers exactly as unknown
        raise not_found("no such person")
    return JSONResponse(person_wire(target))


async def directory_search(request: Request) -> Response:
    """People of my school I may reach, optionally filtered by name (``q``)."""
    viewer = await member_of(request)
    query = (request.query_params.get("q") or "").strip().casefold()
    if len(query) > 100:
        raise bad_request("q has at most 100 characters")
    people = await services(request).directory.reachable_people(viewer, query, MAX_RESULTS)
    return JSONResponse({"people": [person_wire(m) for m in people]})


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/me", "Who am I, my school and my rooms", me, response=MeOut),
    Endpoint("GET", "/api/people/{person}", "A person within my circle of trust", person,
             response=PersonOut),
    Endpoint("GET", "/api/directory", "People I may reach, by name", directory_search,
             response=PeopleOut, query={"q": "part of a name"}),
]
