"""REST for the login throttle (server/auth/throttle.py): the school admins' view of
accounts under repeated failed logins, and clearing one account's delay.
Appended to ``api.ENDPOINTS``.

Handlers parse and authenticate; :class:`~server.auth.throttle.LoginThrottle`
authorises (the school's admins only; a person of another school is
``not_found``, like no one) and acts. Operators use ``preau login-throttle``.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.directory.model import Member
from server.errors import ErrorCode, PreauError, bad_request
from server.http.openapi import Endpoint
from server.live.handshake import token_from_scope
from server.services import Services


class ThrottledPerson(BaseModel):
    id: str
    name: str
    profile: str


class ThrottledAccount(BaseModel):
    person: ThrottledPerson
    login: str
    failures: int  # failed attempts in the current hour
    consecutive: int  # attempts since the last success
    last_attempt: int  # ms since the epoch
    delayed_until: int | None  # no attempt before this (ms since the epoch), or null


class ThrottledOut(BaseModel):
    accounts: list[ThrottledAccount]


class ClearedOut(BaseModel):
    cleared: bool


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _member(request: Request) -> Member:
    services = _services(request)
    token = token_from_scope(dict(request.scope))
    session = await services.auth.resolve(token) if token else None
    member = await services.directory.member(session.person_id) if session else None
    if member is None:
        raise PreauError(ErrorCode.UNAUTHENTICATED, "log in first")
    return member


def _id(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not 1 <= len(value) <= 64:
        raise bad_request(f"{name} has 1 to 64 characters")
    return value


async def throttled(request: Request) -> Response:
    viewer = await _member(request)
    accounts = await _services(request).auth.throttle.watched(viewer, _id(request, "school"))
    return JSONResponse({"accounts": accounts})


async def clear(request: Request) -> Response:
    viewer = await _member(request)
    await _services(request).auth.throttle.clear(
        viewer, _id(request, "school"), _id(request, "person")
    )
    return JSONResponse({"cleared": True})


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/schools/{school}/login-throttle",
             "Accounts with failed logins in the last hour and their delays, latest first "
             "(school admins)", throttled, response=ThrottledOut),
    Endpoint("POST", "/api/schools/{school}/login-throttle/{person}/clear",
             "Forget an account's failed logins and delay (school admins)", clear,
             response=ClearedOut),
]
