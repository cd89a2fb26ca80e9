"""REST for a school's settings: quiet hours, whether parents of a class
may write to each other and whether readers of announcement rooms may react
and which kinds of attachments are accepted (school admins; audited by the
moderation service)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, StrictBool, StrictStr, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.directory import quiet_hours
from preau.server.http.common import Strict, json_body, member_of, services
from preau.server.http.openapi import Endpoint

AttachmentKind = Literal["document", "image", "audio", "video"]


class SchoolSettingsBody(Strict):
    # The delivery window for pupils and parents, "HH:MM-HH:MM" in the school's
    # time zone, or "off" (docs/moderation.md, "Quiet hours").
    quiet_hours: Annotated[StrictStr, Field(max_length=16)] | None = None
    parents_may_message: StrictBool | None = None
    # May pupils and parents react to messages in announcement rooms?
    reactions_in_announcements: StrictBool | None = None
    # Do parents see when teachers and staff are online? (off by default)
    staff_presence_to_parents: StrictBool | None = None
    # The kinds of attachments accepted here (within the deployment's; [] : none).
    attachment_kinds: Annotated[list[AttachmentKind], Field(max_length=4)] | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if (self.quiet_hours, self.parents_may_message, self.reactions_in_announcements,
                self.staff_presence_to_parents, self.attachment_kinds) == (
                    None, None, None, None, None):
            raise ValueError("give quiet_hours, parents_may_message, reactions_in_announcements,"
                             " staff_presence_to_parents or attachment_kinds")
        if self.quiet_hours is not None:
            quiet_hours.check_school_setting(self.quiet_hours)
        return self


class SchoolSettingsOut(BaseModel):
    quiet_hours: str
    timezone: str
    parents_may_message: bool
    reactions_in_announcements: bool
    staff_presence_to_parents: bool
    attachment_kinds: list[str] | None  # None: the deployment's (PREAU_ATTACHMENT_KINDS)


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
        reactions_in_announcements=body.reactions_in_announcements,
        staff_presence_to_parents=body.staff_presence_to_parents,
        attachment_kinds=None if body.attachment_kinds is None
        else frozenset(body.attachment_kinds),
    )
    return JSONResponse(saved)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/schools/{school}/settings",
             "The school's quiet hours, parents' conversations and reactions settings "
             "(school admins)",
             school_settings, response=SchoolSettingsOut),
    Endpoint("PUT", "/api/schools/{school}/settings",
             "Change quiet hours, whether parents of a class may write to each other or "
             "whether readers of announcement rooms may react (school admins; audited)",
             set_school_settings, body=SchoolSettingsBody,
             response=SchoolSettingsOut),
]
