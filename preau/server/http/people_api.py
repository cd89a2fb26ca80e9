"""REST for people: who I am (with my school and rooms), a person's card and
the directory search — both only within the circle of trust, which the
directory service decides (preau/server/directory/service.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.directory.model import Member, Profile
from preau.server.errors import ErrorCode, PreauError, bad_request, not_found
from preau.server.http.common import PersonOut, member_of, person_wire, services
from preau.server.http.openapi import Endpoint

MAX_RESULTS = 100


class RoomOut(BaseModel):
    id: str
    name: str
    kind: str
    head: int
    class_id: str | None = None  # class and parents' rooms
    people: list[str] | None = None  # a private conversation's person ids


class ChildOut(BaseModel):
    id: str
    name: str
    class_: str = Field(alias="class")  # the child's class name(s)


class MeOut(BaseModel):
    person: PersonOut
    children: list[ChildOut] | None = None  # a parent's, named on their home page
    login: str
    is_admin: bool
    school: dict[str, str]
    rooms: list[RoomOut]
    # The charter of use: when true, show the charter (GET /api/charter) and
    # accept it (POST /api/charter/accept); every other route refuses until then.
    charter_required: bool
    charter_version: int


class CardOut(PersonOut):
    # A parent, as teachers and staff see them: whose parent (name, class).
    children: list[ChildOut] | None = None


class PeopleOut(BaseModel):
    people: list[CardOut]


async def card(request: Request, viewer: Member, target: Member) -> dict[str, Any]:
    """A person as ``viewer`` sees them: a parent comes with their children
    (name and class) for the school's teachers and staff, who must tell
    apart parents sharing a surname; other viewers get the name and profile."""
    wire: dict[str, Any] = dict(person_wire(target))
    if target.profile is Profile.PARENT and viewer.profile in (Profile.TEACHER, Profile.STAFF):
        wire["children"] = await services(request).directory.children(target)
    return wire


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
    extra: dict[str, Any] = {}
    if member.profile is Profile.PARENT:  # named on the home page
        extra["children"] = await node.directory.children(member)
    return JSONResponse({
        "person": person_wire(member),
        **extra,
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
    return JSONResponse(await card(request, viewer, target))


async def directory_search(request: Request) -> Response:
    """People of my school I may reach, optionally filtered by name (``q``)."""
    viewer = await member_of(request)
    query = (request.query_params.get("q") or "").strip().casefold()
    if len(query) > 100:
        raise bad_request("q has at most 100 characters")
    people = await services(request).directory.reachable_people(viewer, query, MAX_RESULTS)
    return JSONResponse({"people": [await card(request, viewer, m) for m in people]})


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/me", "Who am I, my school and my rooms", me, response=MeOut),
    Endpoint("GET", "/api/people/{person}", "A person within my circle of trust", person,
             response=CardOut),
    Endpoint("GET", "/api/directory", "People I may reach, by name", directory_search,
             response=PeopleOut, query={"q": "part of a name"}),
]
