"""REST under ``/api/``: what is not live (login, directory, history,
moderation queues and the audit log, health).

Handlers only parse, authenticate and call the services; errors are
:class:`PreauError` turned into ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import __version__
from server.auth.service import IssuedSession, Session
from server.chat.service import room_wire
from server.directory import quiet_hours
from server.directory.model import MAX_CONVERSATION_PEOPLE, Member, Profile
from server.directory.rules import may_communicate
from server.errors import ErrorCode, PreauError, bad_request, not_found
from server.gateway.protocol import PolicyChangeFields, Reason
from server.gateway.protocol import schemas as ws_schemas
from server.http import auth_api, documents_api, privacy_api
from server.http.openapi import Endpoint, openapi_document
from server.live.handshake import SESSION_COOKIE, token_from_scope
from server.moderation.rules import (
    MAX_MUTE_S,
    Premoderation,
    RoomMode,
)
from server.moderation.wordfilter import MAX_ENTRIES, WordLists, clean_list
from server.services import Services
from server.store import AuditAction, AuditQuery

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
    class_id: str | None = None  # class and parents' rooms
    people: list[str] | None = None  # a private conversation's person ids


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
    """A timeline entry, as the live event: a message (``body``, ``txn``), a
    redacted message (``redacted``, no body or txn), or a redaction
    (``ev`` = ``chat.redaction``, ``redacts``, ``by``)."""

    ev: Literal["chat.message", "chat.redaction"]
    room: str
    seq: int
    id: str
    ts: int
    sender: SenderOut | None = None
    body: str | None = None
    txn: str | None = None
    redacted: bool | None = None
    redacts: int | None = None
    by: SenderOut | None = None
    reason: str | None = None


class HistoryOut(BaseModel):
    messages: list[MessageOut]


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


class PeopleOut(BaseModel):
    people: list[PersonOut]


class HealthOut(BaseModel):
    status: str
    node: str
    version: str
    store: dict[str, Any]
    broker: dict[str, Any]
    gateway: dict[str, int]
    documents: dict[str, int] | None = None  # open documents and their sockets, this node


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _json_body(request: Request, model: type[BaseModel]) -> Any:
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


async def _optional_body(request: Request, model: type[Strict]) -> Any:
    """Like ``_json_body``, but an empty body stands for ``{}``."""
    if not await request.body():
        return model()
    return await _json_body(request, model)


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
    await _services(request).auth.change_password(
        session, body.current, body.new, _client_ip(request)
    )
    return JSONResponse({})


async def _rooms_out(services: Services, member: Member) -> list[dict[str, Any]]:
    rooms = await services.chat.rooms_of(member)
    unread = await services.receipts.unread(member, [r.id for r in rooms])
    return [
        {**room_wire(r), "head": await services.store.room_head(r.id), "unread": unread[r.id]}
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


class ConversationBody(Strict):
    people: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=MAX_CONVERSATION_PEOPLE),
    ]


class ConversationOut(BaseModel):
    id: str
    name: str
    kind: Literal["class", "parents", "private"]
    class_id: str | None = None
    people: list[str] | None = None


class OpenedRoomOut(BaseModel):
    room: ConversationOut
    created: bool


class ConversationsOut(BaseModel):
    rooms: list[ConversationOut]


async def open_conversation(request: Request) -> Response:
    _, member = await _authenticated(request)
    body = await _json_body(request, ConversationBody)
    room, created = await _services(request).chat.open_conversation(member, body.people)
    return JSONResponse({"room": room_wire(room), "created": created})


async def my_conversations(request: Request) -> Response:
    _, member = await _authenticated(request)
    rooms = await _services(request).chat.conversations(member)
    return JSONResponse({"rooms": [room_wire(r) for r in rooms]})


async def parents_room(request: Request) -> Response:
    _, member = await _authenticated(request)
    room, created = await _services(request).chat.parents_room(
        member, request.path_params["class"]
    )
    return JSONResponse({"room": room_wire(room), "created": created})


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


# -- moderation ---------------------------------------------------------------------
async def room_policy(request: Request) -> Response:
    _, member = await _authenticated(request)
    access = await _services(request).chat.open_room(member, request.path_params["room"])
    return JSONResponse({"room": access.room.id, **access.to_wire()})


async def set_room_policy(request: Request) -> Response:
    _, member = await _authenticated(request)
    body: PolicyBody = await _json_body(request, PolicyBody)
    room = request.path_params["room"]
    change = body.change()
    await _services(request).moderation.set_policy(member, room, change, body.reason)
    access = await _services(request).chat.open_room(member, room)
    return JSONResponse({"room": access.room.id, **access.to_wire()})


async def held_list(request: Request) -> Response:
    _, member = await _authenticated(request)
    held = await _services(request).moderation.held(member, request.path_params["room"])
    return JSONResponse({"held": held})


async def _decide(request: Request, approve: bool) -> Response:
    _, member = await _authenticated(request)
    body: ReasonBody = await _optional_body(request, ReasonBody)
    if approve and body.reason is not None:
        raise bad_request("an approval takes no reason")
    out = await _services(request).moderation.decide(
        member, request.path_params["room"], request.path_params["held"], approve, body.reason
    )
    return JSONResponse(out)


async def approve_held(request: Request) -> Response:
    return await _decide(request, True)


async def reject_held(request: Request) -> Response:
    return await _decide(request, False)


async def redact(request: Request) -> Response:
    _, member = await _authenticated(request)
    raw = request.path_params["seq"]
    if not raw.isdigit() or not 1 <= int(raw) <= 2**62:
        raise bad_request("seq must be a positive integer")
    body: ReasonBody = await _optional_body(request, ReasonBody)
    room = request.path_params["room"]
    event, created = await _services(request).moderation.redact(
        member, room, int(raw), body.reason
    )
    return JSONResponse({"room": room, "seq": event.seq, "redacts": event.redacts,
                         "duplicate": not created})


async def _member_action(request: Request, action: AuditAction) -> Response:
    _, member = await _authenticated(request)
    room, person_id = request.path_params["room"], request.path_params["person"]
    moderation = _services(request).moderation
    if action is AuditAction.MEMBER_MUTE:
        mute: MuteBody = await _json_body(request, MuteBody)
        state, changed = await moderation.moderate_member(
            member, room, person_id, action, mute.reason,
            until_ms=mute.until, duration_s=mute.duration_s,
        )
    else:
        body: ReasonBody = await _optional_body(request, ReasonBody)
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
    _, member = await _authenticated(request)
    members = await _services(request).moderation.members(member, request.path_params["room"])
    return JSONResponse({"members": members})


def _id_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and not 1 <= len(raw) <= 64:
        raise bad_request(f"{name} has 1 to 64 characters")
    return raw


async def audit_log(request: Request) -> Response:
    """The school's moderation log, newest first; for the school's admins."""
    _, member = await _authenticated(request)
    limit = _int_param(request, "limit", 50, 1, 200)
    assert limit is not None
    action = request.query_params.get("action")
    if action is not None and action not in {a.value for a in AuditAction}:
        raise bad_request("unknown action")
    before = _int_param(request, "before", None, 1, 2**62)
    query = AuditQuery(
        room_id=_id_param(request, "room"),
        actor_id=_id_param(request, "actor"),
        target_person_id=_id_param(request, "target"),
        action=None if action is None else AuditAction(action),
        before=before,
        limit=limit,
    )
    page = await _services(request).moderation.audit(
        member, request.path_params["school"], query
    )
    return JSONResponse(page)


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
    _, member = await _authenticated(request)
    found = await _services(request).moderation.school_settings(
        member, request.path_params["school"]
    )
    return JSONResponse(found)


async def set_school_settings(request: Request) -> Response:
    _, member = await _authenticated(request)
    body: SchoolSettingsBody = await _json_body(request, SchoolSettingsBody)
    saved = await _services(request).moderation.set_school_settings(
        member, request.path_params["school"], quiet_hours=body.quiet_hours,
        parents_may_message=body.parents_may_message,
    )
    return JSONResponse(saved)


async def school_parents_room(request: Request) -> Response:
    _, member = await _authenticated(request)
    if request.path_params["school"] != member.school_id:
        raise not_found("no such school")
    room, created = await _services(request).chat.parents_room(member, None)
    return JSONResponse({"room": room_wire(room), "created": created})


async def paused_accounts(request: Request) -> Response:
    _, member = await _authenticated(request)
    found = await _services(request).moderation.paused(member, request.path_params["school"])
    return JSONResponse({"paused": found})


async def resume_account(request: Request) -> Response:
    _, member = await _authenticated(request)
    body: ReasonBody = await _optional_body(request, ReasonBody)
    resumed = await _services(request).moderation.resume_account(
        member, request.path_params["school"], request.path_params["person"], body.reason
    )
    if not resumed:
        raise not_found("this account is not paused")
    return JSONResponse({"resumed": True})


async def my_reports(request: Request) -> Response:
    _, member = await _authenticated(request)
    return JSONResponse({"reports": await _services(request).moderation.my_reports(member)})


class MessagingBody(Strict):
    suspend: list[Profile] = []
    resume: list[Profile] = []
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


class MessagingOut(BaseModel):
    suspended: list[str]


async def messaging_state(request: Request) -> Response:
    _, member = await _authenticated(request)
    suspended = await _services(request).moderation.messaging(
        member, request.path_params["school"]
    )
    return JSONResponse({"suspended": suspended})


async def set_messaging(request: Request) -> Response:
    """The kill switch: suspend or resume posting for whole profiles of the school."""
    _, member = await _authenticated(request)
    body: MessagingBody = await _json_body(request, MessagingBody)
    if bool(body.suspend) == bool(body.resume):
        raise bad_request("give either suspend or resume, with at least one profile")
    moderation = _services(request).moderation
    suspended = await moderation.set_messaging(
        member, request.path_params["school"], body.suspend or body.resume,
        bool(body.suspend), body.reason,
    )
    return JSONResponse({"suspended": suspended})


async def report_message(request: Request) -> Response:
    _, member = await _authenticated(request)
    raw = request.path_params["seq"]
    if not raw.isdigit() or not 1 <= int(raw) <= 2**62:
        raise bad_request("seq must be a positive integer")
    body: ReasonBody = await _optional_body(request, ReasonBody)
    made = await _services(request).moderation.report(
        member, request.path_params["room"], int(raw), body.reason
    )
    return JSONResponse(made)


async def reports(request: Request) -> Response:
    _, member = await _authenticated(request)
    found = await _services(request).moderation.reports(member, request.path_params["school"])
    return JSONResponse({"reports": found})


class ResolveBody(Strict):
    outcome: Literal["keep", "delete"]
    reason: Reason | None = None


async def resolve_report(request: Request) -> Response:
    _, member = await _authenticated(request)
    body: ResolveBody = await _json_body(request, ResolveBody)
    moderation = _services(request).moderation
    if request.path_params["school"] != member.school_id:
        raise not_found("no such report")
    result = await moderation.resolve_report(
        member, request.path_params["report"], body.outcome == "delete", body.reason
    )
    return JSONResponse(result)


class WordFilterBody(Strict):
    block: Annotated[list[StrictStr], Field(max_length=MAX_ENTRIES)]
    hold: Annotated[list[StrictStr], Field(max_length=MAX_ENTRIES)]
    alert: Annotated[list[StrictStr], Field(max_length=MAX_ENTRIES)]


class WordFilterOut(BaseModel):
    block: list[str]
    hold: list[str]
    alert: list[str]


async def word_filter(request: Request) -> Response:
    _, member = await _authenticated(request)
    lists = await _services(request).moderation.word_filter(
        member, request.path_params["school"]
    )
    return JSONResponse(lists)


async def set_word_filter(request: Request) -> Response:
    """Replace the school's word lists (all three), audited."""
    _, member = await _authenticated(request)
    body: WordFilterBody = await _json_body(request, WordFilterBody)
    lists = WordLists(clean_list(body.block), clean_list(body.hold), clean_list(body.alert))
    saved = await _services(request).moderation.set_word_filter(
        member, request.path_params["school"], lists
    )
    return JSONResponse(saved)


async def person(request: Request) -> Response:
    """A person's public card, only if the circle of trust lets the viewer reach them."""
    _, viewer = await _authenticated(request)
    services = _services(request)
    view = await services.directory.school(viewer.school_id)
    target = None if view is None else view.members.get(request.path_params["person"])
    # Out of reach answers exactly as unknown: existence does not leak.
    if view is None or target is None or not may_communicate(viewer, target, view.rules):
        raise not_found("no such person")
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
    status = 200 if ok else 503
    if not _operator(request, services.settings.ops_token):
        # Load balancers need the status only; the node's id, version and
        # counters are for its operators.
        return Response(orjson.dumps({"status": "ok" if ok else "degraded",
                                      "store": {"ok": store_ok}, "broker": {"ok": broker_ok}}),
                        status_code=status, media_type="application/json")
    body = {
        "status": "ok" if ok else "degraded",
        "node": services.settings.node_id,
        "version": __version__,
        "store": {"ok": store_ok, "kind": services.settings.effective_store_url.split(":")[0]},
        "broker": {"ok": broker_ok, "kind": services.settings.broker_url.split(":")[0],
                   **services.broker.stats()},
        "gateway": services.hub.stats(),
        "documents": services.documents.rooms.stats(),
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _operator(request: Request, ops_token: str) -> bool:
    """An operator: ``Authorization: Bearer <PREAU_OPS_TOKEN>``, or a caller on
    this machine (the address as uvicorn sees it: trusted proxies only)."""
    auth = request.headers.get("authorization", "")
    if ops_token and auth.lower().startswith("bearer ") and hmac.compare_digest(
        auth[7:].strip().encode(), ops_token.encode()
    ):
        return True
    client = request.client.host if request.client else ""
    return client in ("127.0.0.1", "::1")


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(ENDPOINTS, __version__))


async def ws_schema(request: Request) -> Response:
    gateway = getattr(request.app.state, "gateway", None)
    return JSONResponse(ws_schemas() if gateway is None else gateway.schemas())


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
    Endpoint("POST", "/api/conversations",
             "Open a private conversation (or get my one-to-one with that person)",
             open_conversation, body=ConversationBody, response=OpenedRoomOut),
    Endpoint("GET", "/api/conversations", "My private conversations", my_conversations,
             response=ConversationsOut),
    Endpoint("POST", "/api/classes/{class}/parents-room",
             "The class's parents' room, created if missing (staff, the class's teachers)",
             parents_room, response=OpenedRoomOut),
    Endpoint("GET", "/api/rooms/{room}/messages", "A page of a room's history", history,
             response=HistoryOut,
             query={"before": "page ending below this seq (default: newest)",
                    "after": "page starting above this seq", "limit": "1-200, default 50"}),
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
    Endpoint("GET", "/api/schools/{school}/audit",
             "The school's moderation audit log, newest first (school admins)", audit_log,
             response=AuditOut,
             query={"room": "only this room", "actor": "only this actor's actions",
                    "target": "only actions on this person",
                    "action": "only this action (policy.change, message.delete, …)",
                    "before": "the next cursor of the previous page",
                    "limit": "1-200, default 50"}),
    Endpoint("GET", "/api/schools/{school}/settings",
             "The school's quiet hours and parents' conversations setting (school admins)",
             school_settings, response=SchoolSettingsOut),
    Endpoint("PUT", "/api/schools/{school}/settings",
             "Change quiet hours or whether parents of a class may write to each other "
             "(school admins; audited)", set_school_settings, body=SchoolSettingsBody,
             response=SchoolSettingsOut),
    Endpoint("POST", "/api/schools/{school}/parents-room",
             "Open (or get) the school-wide parents' room (staff)", school_parents_room,
             response=OpenedRoomOut),
    Endpoint("GET", "/api/me/reports", "The reports I made and their outcome", my_reports),
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
    Endpoint("POST", "/api/rooms/{room}/messages/{seq}/report",
             "Report a message to the school's moderators (members of the room)",
             report_message, body=ReasonBody),
    Endpoint("GET", "/api/schools/{school}/reports",
             "Open reports with each message and its context (the rooms' moderators, admins)",
             reports),
    Endpoint("POST", "/api/schools/{school}/reports/{report}/resolve",
             "Keep or delete a reported message; the reporters are told (moderators)",
             resolve_report, body=ResolveBody),
    Endpoint("GET", "/api/schools/{school}/word-filter",
             "The school's word lists: block, hold, alert (school admins)", word_filter,
             response=WordFilterOut),
    Endpoint("PUT", "/api/schools/{school}/word-filter",
             "Replace the school's word lists, audited (school admins)", set_word_filter,
             body=WordFilterBody, response=WordFilterOut),
    Endpoint("GET", "/api/people/{person}", "A person within my circle of trust", person,
             response=PersonOut),
    Endpoint("GET", "/api/directory", "People I may reach, by name", directory_search,
             response=PeopleOut, query={"q": "part of a name"}),
    Endpoint("GET", "/api/health", "Node, store and broker status", health,
             response=HealthOut, auth=False),
    Endpoint("GET", "/api/openapi.json", "This description", openapi, auth=False),
    Endpoint("GET", "/api/ws-schema", "JSON Schemas of the WebSocket ops", ws_schema,
             auth=False),
    *privacy_api.ENDPOINTS,
    *auth_api.ENDPOINTS,
    *documents_api.ENDPOINTS,
]


def routes() -> list[Route]:
    return [Route(ep.path, ep.handler, methods=[ep.method]) for ep in ENDPOINTS]
