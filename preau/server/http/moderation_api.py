"""REST for moderation (docs/moderation.md): a room's policy, held messages,
redactions, members (mute, remove), reports, and the school's tools — the
audit log, the word filter, paused accounts and the messaging kill switch.

Handlers parse and call the moderation service (preau/server/moderation/service.py),
which decides who may do what and audits it; the matching WebSocket ops are
preau/server/gateway/moderation_ops.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.directory.model import Profile
from preau.server.errors import bad_request, not_found
from preau.server.gateway.protocol import PolicyChangeFields, Reason
from preau.server.http.common import (
    MAX_SEQ,
    SenderOut,
    Strict,
    json_body,
    member_of,
    path_seq,
    query_id,
    query_int,
    query_limit,
    services,
)
from preau.server.http.openapi import Endpoint
from preau.server.moderation.rules import MAX_MUTE_S, Premoderation, RoomMode
from preau.server.moderation.wordfilter import MAX_ENTRIES, WordLists, clean_list
from preau.server.store import AuditAction, AuditQuery


class PolicyFields(BaseModel):
    mode: RoomMode
    premoderation: Premoderation
    slow_mode_s: int
    recall_window_s: int


class RoomPolicyOut(BaseModel):
    room: str
    role: Literal["moderator", "member", "reader"]
    policy: PolicyFields
    muted_until: int | None = None


# The body of POST /api/rooms/{room}/policy is the op's fields without the room.
PolicyBody = PolicyChangeFields


class ReasonBody(Strict):
    reason: Reason | None = None


class MuteBody(Strict):
    until: Annotated[StrictInt, Field(ge=0)] | None = None
    duration_s: Annotated[StrictInt, Field(ge=1, le=MAX_MUTE_S)] | None = None
    reason: Reason | None = None


class HeldOut(BaseModel):
    room: str
    id: str
    sender: SenderOut
    body: str
    txn: str
    ts: int
    status: Literal["pending", "approved", "rejected"]
    reason: str | None = None
    seq: int | None = None


class HeldListOut(BaseModel):
    held: list[HeldOut]


class DecisionOut(BaseModel):
    held: HeldOut
    duplicate: bool


class RedactOut(BaseModel):
    room: str
    seq: int
    redacts: int
    duplicate: bool


class MemberStateOut(BaseModel):
    room: str
    person: str
    removed: bool
    until: int | None = None
    duplicate: bool


class RoomMemberOut(BaseModel):
    id: str
    name: str
    profile: str
    role: Literal["moderator", "member"]
    removed: bool
    muted_until: int | None = None


class RoomMembersOut(BaseModel):
    members: list[RoomMemberOut]


class AuditEntryOut(BaseModel):
    id: str
    seq: int  # the school's entries in commit order
    ts: int
    action: AuditAction
    actor: SenderOut
    room: dict[str, str] | None = None
    target: SenderOut | None = None
    message_seq: int | None = None  # the message the action concerned
    held: str | None = None
    reason: str | None = None
    details: dict[str, Any] | None = None
    content: str | None = None


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]
    next: int | None = None  # pass as ``before`` for the next (older) page


class MessagingBody(BaseModel):  # as Strict (ruff sees pydantic's defaults only here)
    model_config = ConfigDict(extra="forbid")
    suspend: list[Profile] = []
    resume: list[Profile] = []
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


class MessagingOut(BaseModel):
    suspended: list[str]


class ResolveBody(Strict):
    outcome: Literal["keep", "delete"]
    reason: Reason | None = None


class WordFilterBody(Strict):
    block: Annotated[list[StrictStr], Field(max_length=MAX_ENTRIES)]
    hold: Annotated[list[StrictStr], Field(max_length=MAX_ENTRIES)]
    alert: Annotated[list[StrictStr], Field(max_length=MAX_ENTRIES)]


class WordFilterOut(BaseModel):
    block: list[str]
    hold: list[str]
    alert: list[str]


async def _reason(request: Request) -> ReasonBody:
    """The optional ``{"reason": …}`` body of most actions; empty is ``{}``."""
    return await json_body(request, ReasonBody, empty_is_object=True)


# -- a room -----------------------------------------------------------------------
async def room_policy(request: Request) -> Response:
    member = await member_of(request)
    access = await services(request).chat.open_room(member, request.path_params["room"])
    return JSONResponse({"room": access.room.id, **access.to_wire()})


async def set_room_policy(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, PolicyBody)
    room = request.path_params["room"]
    await services(request).moderation.set_policy(member, room, body.change(), body.reason)
    access = await services(request).chat.open_room(member, room)
    return JSONResponse({"room": access.room.id, **access.to_wire()})


async def held_list(request: Request) -> Response:
    member = await member_of(request)
    held = await services(request).moderation.held(member, request.path_params["room"])
    return JSONResponse({"held": held})


async def _decide(request: Request, approve: bool) -> Response:
    member = await member_of(request)
    body = await _reason(request)
    if approve and body.reason is not None:
        raise bad_request("an approval takes no reason")
    out = await services(request).moderation.decide(
        member, request.path_params["room"], request.path_params["held"], approve, body.reason
    )
    return JSONResponse(out)


async def approve_held(request: Request) -> Response:
    return await _decide(request, True)


async def reject_held(request: Request) -> Response:
    return await _decide(request, False)


async def redact(request: Request) -> Response:
    member = await member_of(request)
    seq = path_seq(request)
    body = await _reason(request)
    room = request.path_params["room"]
    event, created = await services(request).moderation.redact(member, room, seq, body.reason)
    return JSONResponse({"room": room, "seq": event.seq, "redacts": event.redacts,
                         "duplicate": not created})


async def _member_action(request: Request, action: AuditAction) -> Response:
    member = await member_of(request)
    room, person_id = request.path_params["room"], request.path_params["person"]
    moderation = services(request).moderation
    if action is AuditAction.MEMBER_MUTE:
        mute = await json_body(request, MuteBody)
        state, changed = await moderation.moderate_member(
            member, room, person_id, action, mute.reason,
            until_ms=mute.until, duration_s=mute.duration_s,
        )
    else:
        body = await _reason(request)
        state, changed = await moderation.moderate_member(
            member, room, person_id, action, body.reason
        )
    return JSONResponse({"room": room, "person": person_id, "removed": state.removed,
                         "until": state.muted_until_ms, "duplicate": not changed})


async def mute_member(request: Request) -> Response:
    return await _member_action(request, AuditAction.MEMBER_MUTE)


async def unmute_member(request: Request) -> Response:
    return await _member_action(request, AuditAction.MEMBER_UNMUTE)


async def remove_member(request: Request) -> Response:
    return await _member_action(request, AuditAction.MEMBER_REMOVE)


async def readmit_member(request: Request) -> Response:
    return await _member_action(request, AuditAction.MEMBER_READMIT)


async def room_members(request: Request) -> Response:
    member = await member_of(request)
    members = await services(request).moderation.members(member, request.path_params["room"])
    return JSONResponse({"members": members})


# -- reports ----------------------------------------------------------------------
async def report_message(request: Request) -> Response:
    member = await member_of(request)
    seq = path_seq(request)
    body = await _reason(request)
    made = await services(request).moderation.report(
        member, request.path_params["room"], seq, body.reason
    )
    return JSONResponse(made)


async def my_reports(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse({"reports": await services(request).moderation.my_reports(member)})


async def reports(request: Request) -> Response:
    member = await member_of(request)
    found = await services(request).moderation.reports(member, request.path_params["school"])
    return JSONResponse({"reports": found})


async def resolve_report(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, ResolveBody)
    result = await services(request).moderation.resolve_report(
        member, request.path_params["report"], body.outcome == "delete", body.reason,
        school_id=request.path_params["school"],
    )
    return JSONResponse(result)


# -- the school's tools -----------------------------------------------------------
async def audit_log(request: Request) -> Response:
    """The school's moderation log, newest first; for the school's admins."""
    member = await member_of(request)
    limit = query_limit(request)
    action = request.query_params.get("action")
    if action is not None and action not in {a.value for a in AuditAction}:
        raise bad_request("unknown action")
    before = query_int(request, "before", None, 1, MAX_SEQ)
    query = AuditQuery(
        room_id=query_id(request, "room"),
        actor_id=query_id(request, "actor"),
        target_person_id=query_id(request, "target"),
        action=None if action is None else AuditAction(action),
        before=before,
        limit=limit,
    )
    page = await services(request).moderation.audit(
        member, request.path_params["school"], query
    )
    return JSONResponse(page)


async def paused_accounts(request: Request) -> Response:
    member = await member_of(request)
    found = await services(request).moderation.paused(member, request.path_params["school"])
    return JSONResponse({"paused": found})


async def resume_account(request: Request) -> Response:
    member = await member_of(request)
    body = await _reason(request)
    resumed = await services(request).moderation.resume_account(
        member, request.path_params["school"], request.path_params["person"], body.reason
    )
    if not resumed:
        raise not_found("this account is not paused")
    return JSONResponse({"resumed": True})


async def messaging_state(request: Request) -> Response:
    member = await member_of(request)
    suspended = await services(request).moderation.messaging(
        member, request.path_params["school"]
    )
    return JSONResponse({"suspended": suspended})


async def set_messaging(request: Request) -> Response:
    """The kill switch: suspend or resume posting for whole profiles of the school."""
    member = await member_of(request)
    body = await json_body(request, MessagingBody)
    if bool(body.suspend) == bool(body.resume):
        raise bad_request("give either suspend or resume, with at least one profile")
    suspended = await services(request).moderation.set_messaging(
        member, request.path_params["school"], body.suspend or body.resume,
        bool(body.suspend), body.reason,
    )
    return JSONResponse({"suspended": suspended})


async def word_filter(request: Request) -> Response:
    member = await member_of(request)
    lists = await services(request).moderation.word_filter(
        member, request.path_params["school"]
    )
    return JSONResponse(lists)


async def set_word_filter(request: Request) -> Response:
    """Replace the school's word lists (all three), audited."""
    member = await member_of(request)
    body = await json_body(request, WordFilterBody)
    lists = WordLists(clean_list(body.block), clean_list(body.hold), clean_list(body.alert))
    saved = await services(request).moderation.set_word_filter(
        member, request.path_params["school"], lists
    )
    return JSONResponse(saved)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/rooms/{room}/policy", "The room's policy, my role, my mute",
             room_policy, response=RoomPolicyOut),
    Endpoint("POST", "/api/rooms/{room}/policy", "Change the room's policy (moderators)",
             set_room_policy, body=PolicyBody, response=RoomPolicyOut),
    Endpoint("GET", "/api/rooms/{room}/held",
             "Held messages: all pending ones (moderators), my own (others)", held_list,
             response=HeldListOut),
    Endpoint("POST", "/api/rooms/{room}/held/{held}/approve",
             "Publish a held message (moderators)", approve_held, response=DecisionOut),
    Endpoint("POST", "/api/rooms/{room}/held/{held}/reject",
             "Reject a held message, optionally saying why (moderators)", reject_held,
             body=ReasonBody, response=DecisionOut),
    Endpoint("POST", "/api/rooms/{room}/messages/{seq}/redact",
             "Delete a message (moderators) or recall my own (within the recall window)",
             redact, body=ReasonBody, response=RedactOut),
    Endpoint("GET", "/api/rooms/{room}/members", "The room's people, roles and states "
             "(moderators)", room_members, response=RoomMembersOut),
    Endpoint("POST", "/api/rooms/{room}/members/{person}/mute",
             "Mute a member until a time or for a duration (moderators)", mute_member,
             body=MuteBody, response=MemberStateOut),
    Endpoint("POST", "/api/rooms/{room}/members/{person}/unmute", "Lift a mute (moderators)",
             unmute_member, body=ReasonBody, response=MemberStateOut),
    Endpoint("POST", "/api/rooms/{room}/members/{person}/remove",
             "Remove a member from the room, on every node at once (moderators)",
             remove_member, body=ReasonBody, response=MemberStateOut),
    Endpoint("POST", "/api/rooms/{room}/members/{person}/readmit",
             "Re-admit a removed member (moderators)", readmit_member, body=ReasonBody,
             response=MemberStateOut),
    Endpoint("POST", "/api/rooms/{room}/messages/{seq}/report",
             "Report a message to the school's moderators (members of the room)",
             report_message, body=ReasonBody),
    Endpoint("GET", "/api/me/reports", "The reports I made and their outcome", my_reports),
    Endpoint("GET", "/api/schools/{school}/reports",
             "Open reports with each message and its context (the rooms' moderators, admins)",
             reports),
    Endpoint("POST", "/api/schools/{school}/reports/{report}/resolve",
             "Keep or delete a reported message; the reporters are told (moderators)",
             resolve_report, body=ResolveBody),
    Endpoint("GET", "/api/schools/{school}/audit",
             "The school's moderation audit log, newest first (school admins)", audit_log,
             response=AuditOut,
             query={"room": "only this room", "actor": "only this actor's actions",
                    "target": "only actions on this person",
                    "action": "only this action (policy.change, message.delete, …)",
                    "before": "the next cursor of the previous page",
                    "limit": "1-200, default 50"}),
    Endpoint("GET", "/api/schools/{school}/paused",
             "Accounts paused for posting into many rooms at once (school admins)",
             paused_accounts),
    Endpoint("POST", "/api/schools/{school}/paused/{person}/resume",
             "Let a paused account post again (school admins; audited)", resume_account,
             body=ReasonBody),
    Endpoint("GET", "/api/schools/{school}/messaging",
             "Profiles whose messaging is suspended (school admins)", messaging_state,
             response=MessagingOut),
    Endpoint("POST", "/api/schools/{school}/messaging",
             "Kill switch: suspend or resume posting for whole profiles (school admins)",
             set_messaging, body=MessagingBody, response=MessagingOut),
    Endpoint("GET", "/api/schools/{school}/word-filter",
             "The school's word lists: block, hold, alert (school admins)", word_filter,
             response=WordFilterOut),
    Endpoint("PUT", "/api/schools/{school}/word-filter",
             "Replace the school's word lists, audited (school admins)", set_word_filter,
             body=WordFilterBody, response=WordFilterOut),
]
