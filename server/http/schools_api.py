"""REST for a school's settings: quiet hours and whether parents of a class
may write to each other (school admins; audited by the moderation service)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, StrictBool, StrictStr, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.directory import quiet_hours
from server.http.common import Strict, json_body, member_of, services
from server.http.openapi import Endpoint


class SchoolSettingsBody(Strict):
    # The delivery window for pupils and parents, "HH:MM-HH:MM" in the school's
    # time zone, or "off" (docs/moderation.md, "Quiet hours").
    quiet_hours: Annotated[StrictStr, Field(max_length=16)] | None = None
    parents_may_message: StrictBool | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.quiet_hours is None and self.parents_may_message is None:
            raise ValueError("give quiet_hours or parents_may_message")
        if self.quiet_hours is not None:
            quiet_hours.check_school_setting(self.quiet_hours)
        return self


class SchoolSettingsOut(BaseModel):
    quiet_hours: str
    timezone: str
    parents_may_message: bool


async def school_settings(request: Request) -> Response:
    member = await member_of(request)
    found = await services(request).moderation.school_settings(
        member, request.path_params["school"]
    )
    return JSONResponse(found)


async def set_school_settings(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, SchoolSettingsBody)
    saved = await services(request).moderation.set_school_settings(
        member, request.path_params["school"], quiet_hours=body.quiet_hours,
        parents_may_message=body.parents_may_message,
    )
    return JSONResponse(saved)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/schools/{school}/settings",
             "The school's quiet hours and parents' conversations setting (school admins)",
             school_settings, response=SchoolSettingsOut),
    Endpoint("PUT", "/api/schools/{school}/settings",
             "Change quiet hours or whether parents of a class may write to each other "
             "(school admins; audited)", set_school_settings, body=SchoolSettingsBody,
             response=SchoolSettingsOut),
]
