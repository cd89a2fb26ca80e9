"""REST for password recovery by e-mail (preau/server/auth/recovery.py):
ask for a link, check it, set a new password with it. No session needed;
the first answer is the same for every login (docs/operations.md,
"Password recovery")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.http.common import Strict, json_body, services
from preau.server.http.openapi import Endpoint


class RecoveryBody(Strict):
    login: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class LinkBody(Strict):
    token: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class ResetBody(Strict):
    token: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]


class RecoveryOut(BaseModel):
    # Always the same: true when the server can send mail at all.
    accepted: bool


class LinkOut(BaseModel):
    usable: bool


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def ask(request: Request) -> Response:
    body = await json_body(request, RecoveryBody)
    recovery = services(request).recovery
    await recovery.request(body.login, _client_ip(request))
    return JSONResponse({"accepted": recovery.available}, status_code=202,
                        headers={"cache-control": "no-store"})


async def check(request: Request) -> Response:
    body = await json_body(request, LinkBody)
    usable = await services(request).recovery.check(body.token)
    return JSONResponse({"usable": usable}, headers={"cache-control": "no-store"})


async def reset(request: Request) -> Response:
    body = await json_body(request, ResetBody)
    await services(request).recovery.reset(body.token, body.password, _client_ip(request))
    return JSONResponse({})


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/api/auth/recovery",
             "Forgotten password: a single-use link by e-mail to an adult with an address; "
             "the same answer (202) in the same time for any login, pupils get no mail",
             ask, body=RecoveryBody, response=RecoveryOut, auth=False),
    Endpoint("POST", "/api/auth/recovery/check", "Is this recovery link still usable?",
             check, body=LinkBody, response=LinkOut, auth=False),
    Endpoint("POST", "/api/auth/recovery/reset",
             "Set a new password with a recovery link (once); every session of the person "
             "ends and their sockets close", reset, body=ResetBody, auth=False),
]
