"""REST for rooms: the rooms I belong to, private conversations, parents'
rooms (a class's and the school's), a room's history and search, and editing
one's own message (preau/server/chat/editing.py). The chat service
(preau/server/chat/service.py) decides who may open, create and read what; the
room's moderation (policy, held messages, members) is preau/server/http/moderation_api.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.chat.service import room_wire
from preau.server.directory.model import MAX_CONVERSATION_PEOPLE
from preau.server.errors import bad_request
from preau.server.http.common import (
    MAX_SEQ,
    SenderOut,
    Strict,
    json_body,
    member_of,
    path_seq,
    query_int,
    query_limit,
    services,
)
from preau.server.http.openapi import Endpoint


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


class MessageOut(BaseModel):
    """A timeline entry, as the live event: a message (``body``, ``txn``), a
    redacted message (``redacted``, no body or txn), or a redaction
    (``ev`` = ``chat.redaction``, ``redacts``, ``by``; ``reason`` only for the
    removed message's author and the room's moderators)."""

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
    # Its reactions as I see them (absent: none ever): counts per emoji name,
    # mine, and the revision live ``chat.reactions`` events compare against.
    reactions: dict[str, object] | None = None
    # Edited by its author: when (ms) and the edit revision ``chat.edited``
    # events compare against (absent: never edited).
    edited: int | None = None
    edit_rev: int | None = None


class HistoryOut(BaseModel):
    messages: list[MessageOut]


async def my_rooms(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse({"rooms": await services(request).receipts.room_list(member)})


async def open_conversation(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, ConversationBody)
    room, created = await services(request).chat.open_conversation(member, body.people)
    return JSONResponse({"room": room_wire(room), "created": created})


async def my_conversations(request: Request) -> Response:
    member = await member_of(request)
    rooms = await services(request).chat.conversations(member)
    return JSONResponse({"rooms": [room_wire(r) for r in rooms]})


async def parents_room(request: Request) -> Response:
    member = await member_of(request)
    room, created = await services(request).chat.parents_room(
        member, request.path_params["class"]
    )
    return JSONResponse({"room": room_wire(room), "created": created})


async def school_parents_room(request: Request) -> Response:
    member = await member_of(request)
    room, created = await services(request).chat.school_parents_room(
        member, request.path_params["school"]
    )
    return JSONResponse({"room": room_wire(room), "created": created})


async def history(request: Request) -> Response:
    member = await member_of(request)
    before = query_int(request, "before", None, 1, MAX_SEQ)
    after = query_int(request, "after", None, 0, MAX_SEQ)
    if before is not None and after is not None:
        raise bad_request("give before or after, not both")
    limit = query_limit(request)
    messages = await services(request).chat.history(
        member, request.path_params["room"], before=before, after=after, limit=limit
    )
    return JSONResponse({"messages": messages})


class EditBody(Strict):
    body: Annotated[StrictStr, Field(min_length=1)]


class EditedOut(BaseModel):
    room: str
    seq: int
    body: str
    edited: int
    rev: int
    duplicate: bool


async def edit(request: Request) -> Response:
    member = await member_of(request)
    seq = path_seq(request)
    body = await json_body(request, EditBody)
    return JSONResponse(await services(request).edits.edit(
        member, request.path_params["room"], seq, body.body))


async def search(request: Request) -> Response:
    member = await member_of(request)
    words = request.query_params.get("q") or ""
    messages = await services(request).chat.search(
        member, request.path_params["room"], words, query_limit(request)
    )
    return JSONResponse({"messages": messages})


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/rooms", "Rooms I belong to", my_rooms),
    Endpoint("POST", "/api/conversations",
             "Open a private conversation (or get my one-to-one with that person)",
             open_conversation, body=ConversationBody, response=OpenedRoomOut),
    Endpoint("GET", "/api/conversations", "My private conversations", my_conversations,
             response=ConversationsOut),
    Endpoint("POST", "/api/classes/{class}/parents-room",
             "The class's parents' room, created if missing (staff, the class's teachers)",
             parents_room, response=OpenedRoomOut),
    Endpoint("POST", "/api/schools/{school}/parents-room",
             "Open (or get) the school-wide parents' room (staff)", school_parents_room,
             response=OpenedRoomOut),
    Endpoint("GET", "/api/rooms/{room}/search",
             "Messages of a room containing some words (as its history shows them: only "
             "who may read the room finds anything)", search, response=HistoryOut,
             query={"q": "1-100 characters", "limit": "1-200, default 50"}),
    Endpoint("PUT", "/api/rooms/{room}/messages/{seq}",
             "Edit my message (its author, within the room's recall window)", edit,
             body=EditBody, response=EditedOut),
    Endpoint("GET", "/api/rooms/{room}/messages", "A page of a room's history", history,
             response=HistoryOut,
             query={"before": "page ending below this seq (default: newest)",
                    "after": "page starting above this seq", "limit": "1-200, default 50"}),
]
