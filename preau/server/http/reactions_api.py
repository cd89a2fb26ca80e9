"""REST for reactions on messages (docs/protocol.md, "Reactions"): add or
remove one of mine (idempotent), and who reacted (the message's author and the
room's moderators). The reaction service (preau/server/chat/reactions.py) decides;
a room's history carries each message's counts (rooms_api.py)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.chat.reactions import REACTIONS
from preau.server.http.common import SenderOut, member_of, path_seq, services
from preau.server.http.openapi import Endpoint


class ReactionsOut(BaseModel):
    rev: int
    counts: dict[str, int]
    mine: list[str]


class ReactedOut(BaseModel):
    room: str
    seq: int
    reaction: str
    on: bool
    reactions: ReactionsOut
    duplicate: bool


class ReactorsOut(BaseModel):
    room: str
    seq: int
    reactions: dict[str, list[SenderOut]]


async def _set(request: Request, on: bool) -> Response:
    member = await member_of(request)
    seq = path_seq(request)
    done = await services(request).reactions.react(
        member, request.path_params["room"], seq, request.path_params["reaction"], on)
    return JSONResponse(done)


async def react(request: Request) -> Response:
    return await _set(request, True)


async def unreact(request: Request) -> Response:
    return await _set(request, False)


async def reactors(request: Request) -> Response:
    member = await member_of(request)
    seq = path_seq(request)
    return JSONResponse(await services(request).reactions.reactors(
        member, request.path_params["room"], seq))


_PATH = "/api/rooms/{room}/messages/{seq}/reactions"
ENDPOINTS: list[Endpoint] = [
    Endpoint("PUT", _PATH + "/{reaction}",
             f"Add my reaction ({', '.join(REACTIONS)}) to a message (idempotent)", react,
             response=ReactedOut),
    Endpoint("DELETE", _PATH + "/{reaction}", "Remove my reaction (idempotent)", unreact,
             response=ReactedOut),
    Endpoint("GET", _PATH, "Who reacted with what (the message's author, moderators)",
             reactors, response=ReactorsOut),
]
