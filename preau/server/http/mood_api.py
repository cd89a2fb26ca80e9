"""REST for the mood of the day (docs/protocol.md, "Mood of the day"): one's
own picks and what one may see, a class's board, a pupil's picks this school
year, and a class's level (school admins; audited)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StrictStr, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.http.common import Strict, json_body, member_of, path_id, services
from preau.server.http.openapi import Endpoint

Picture = Annotated[StrictStr, Field(min_length=1, max_length=32)]


class MoodPicks(Strict):
    """Today's pictures, one or more of the three questions (ids from ``questions``)."""

    mood: Picture | None = None
    night: Picture | None = None
    breakfast: Picture | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.mood is None and self.night is None and self.breakfast is None:
            raise ValueError("pick at least one of mood, night, breakfast")
        return self

    def picks(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ClassLevelBody(Strict):
    # null: the class is neither (no mood of the day, the ordinary screen).
    level: Literal["maternelle", "elementaire"] | None


async def my_mood(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).mood.summary(member))


async def pick_mood(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, MoodPicks)
    return JSONResponse(await services(request).mood.pick(member, body.picks()))


async def class_board(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).mood.board(member, path_id(request, "class")))


async def person_moods(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(
        await services(request).mood.of_person(member, path_id(request, "person")))


async def set_class_level(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, ClassLevelBody)
    return JSONResponse(await services(request).mood.set_level(
        member, path_id(request, "school"), path_id(request, "class"), body.level))


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/mood",
             "The mood of the day: the pictures, my own picks (pupils of kindergarten and "
             "primary classes), the boards I see, my children's picks", my_mood),
    Endpoint("PUT", "/api/mood",
             "Pick today's pictures (pupils of kindergarten and primary classes; changeable "
             "until noon, school time)", pick_mood, body=MoodPicks),
    Endpoint("GET", "/api/mood/classes/{class}",
             "A class's board today: counts and who (its teachers, the school's staff)",
             class_board),
    Endpoint("GET", "/api/mood/people/{person}",
             "A pupil's picks this school year (the pupil, their parents, their class's "
             "teachers, the school's staff)", person_moods),
    Endpoint("PUT", "/api/schools/{school}/classes/{class}/level",
             "Mark a class kindergarten or primary, or neither (school admins; audited)",
             set_class_level, body=ClassLevelBody),
]
