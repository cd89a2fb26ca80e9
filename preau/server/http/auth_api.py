"""REST for accounts and sessions: log in, activate, log out, change password;
and the school admins' view of the login throttle (preau/server/auth/throttle.py):
accounts under repeated failed logins, and clearing one account's delay.

Handlers parse and call :class:`~preau.server.auth.service.AuthService`, which
throttles and checks; :class:`~preau.server.auth.throttle.LoginThrottle` authorises
its view (the school's admins only; a person of another school is
``not_found``, like no one). Operators use ``preau login-throttle``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from preau.server.auth.devices import DEVICE_COOKIE, PROOF_TTL_MS
from preau.server.auth.service import IssuedSession
from preau.server.errors import ErrorCode, PreauError
from preau.server.http.common import (
    PersonOut,
    Strict,
    authenticated,
    json_body,
    member_of,
    path_id,
    person_wire,
    services,
)
from preau.server.http.openapi import Endpoint
from preau.server.live.handshake import SESSION_COOKIE


class LoginBody(Strict):
    login: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    kind: Literal["cookie", "bearer"] = "cookie"
    # "Remember this device": longer timeouts (PREAU_REMEMBER_*), for the
    # profiles the deployment allows; the answer's "remembered" says if it was.
    remember: StrictBool = False


class ActivateBody(Strict):
    login: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    code: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    kind: Literal["cookie", "bearer"] = "cookie"


class PasswordBody(Strict):
    current: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    new: Annotated[StrictStr, Field(min_length=1, max_length=256)]


class SessionOut(BaseModel):
    person: PersonOut
    expires: int
    remembered: bool = False
    token: str | None = None  # bearer sessions only: browsers get an HttpOnly cookie


class LogoutOut(BaseModel):
    sso_logout: str | None = None  # where the browser goes next to end its SSO session


class DeviceOut(BaseModel):
    id: str
    device: str  # e.g. "Firefox · Windows"; "" when the client did not say
    created: int
    last_seen: int
    expires: int
    remembered: bool
    current: bool


class DevicesOut(BaseModel):
    sessions: list[DeviceOut]


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


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _session_response(request: Request, issued: IssuedSession) -> Response:
    node = services(request)
    member = await node.directory.member(issued.session.person_id)
    if member is None:
        raise PreauError(ErrorCode.INVALID_CREDENTIALS, "wrong login or password")
    body: dict[str, Any] = {"person": person_wire(member), "expires": issued.session.expires_ms,
                            "remembered": issued.session.remember}
    if issued.session.kind == "bearer":
        body["token"] = issued.token
    response = JSONResponse(body)
    if issued.session.kind == "cookie":
        set_session_cookie(request, response, issued)
    if issued.device_proofs is not None:
        set_device_cookie(request, response, issued.device_proofs)
    return response


def set_session_cookie(request: Request, response: Response, issued: IssuedSession) -> None:
    """The browser's session cookie (HttpOnly, SameSite=Lax), as long as the session."""
    settings = services(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=(settings.remember_max_s if issued.session.remember
                 else settings.session_max_s),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def set_device_cookie(request: Request, response: Response, proofs: str) -> None:
    """The browser's proofs of the accounts it logged in to (auth/devices.py):
    HttpOnly, sent to /api/auth only, kept after logout (that is its use)."""
    response.set_cookie(
        DEVICE_COOKIE,
        proofs,
        max_age=PROOF_TTL_MS // 1000,
        httponly=True,
        samesite="strict",
        secure=services(request).settings.cookie_secure,
        path="/api/auth",
    )


async def login(request: Request) -> Response:
    body = await json_body(request, LoginBody)
    issued = await services(request).auth.login(
        body.login, body.password, _client_ip(request), body.kind, body.remember,
        device_of(request.headers.get("user-agent", "")),
        device_proofs=request.cookies.get(DEVICE_COOKIE),
    )
    return await _session_response(request, issued)


async def activate(request: Request) -> Response:
    body = await json_body(request, ActivateBody)
    issued = await services(request).auth.activate(
        body.login, body.code, body.password, _client_ip(request), body.kind,
        device_of(request.headers.get("user-agent", "")),
        device_proofs=request.cookies.get(DEVICE_COOKIE),
    )
    return await _session_response(request, issued)


async def logout(request: Request) -> Response:
    session, _ = await authenticated(request)
    node = services(request)
    # A session opened through single sign-on: the browser also ends the
    # provider's session (a shared computer must not sign the next person in).
    sso_logout = await node.sso.logout_url(session.token_hash)
    await node.auth.logout(session)
    response = JSONResponse({"sso_logout": sso_logout} if sso_logout else {})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def change_password(request: Request) -> Response:
    session, _ = await authenticated(request)
    body = await json_body(request, PasswordBody)
    await services(request).auth.change_password(
        session, body.current, body.new, _client_ip(request)
    )
    return JSONResponse({})


async def devices(request: Request) -> Response:
    session, _ = await authenticated(request)
    found = await services(request).auth.devices(session)
    return JSONResponse({"sessions": [
        {"id": d.id, "device": d.device, "created": d.created_ms, "last_seen": d.last_seen_ms,
         "expires": d.expires_ms, "remembered": d.remembered, "current": d.current}
        for d in found]})


async def end_device(request: Request) -> Response:
    session, _ = await authenticated(request)
    await services(request).auth.end_device(session, path_id(request, "session"))
    return JSONResponse({})


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("CrOS", "ChromeOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"),
            ("Linux", "Linux"))


def device_of(user_agent: str) -> str:
    """A person's name for the device a session was opened on ("Firefox ·
    Windows"), from its User-Agent; never the raw header (it is shown back)."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if not browser and not system:
        return "Programme" if user_agent else ""
    return " · ".join(part for part in (browser, system) if part)


class NewCodeOut(BaseModel):
    login: str
    code: str  # shown once, handed to the person on paper
    expires: int


async def new_code(request: Request) -> Response:
    viewer = await member_of(request)
    login, code, expires = await services(request).auth.new_code_for(
        viewer, path_id(request, "person"))
    return JSONResponse({"login": login, "code": code, "expires": expires},
                        headers={"cache-control": "no-store"})


async def throttled(request: Request) -> Response:
    viewer = await member_of(request)
    accounts = await services(request).auth.throttle.watched(viewer, path_id(request, "school"))
    return JSONResponse({"accounts": accounts})


async def clear(request: Request) -> Response:
    viewer = await member_of(request)
    await services(request).auth.throttle.clear(
        viewer, path_id(request, "school"), path_id(request, "person")
    )
    return JSONResponse({"cleared": True})


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/api/auth/login", "Log in with login and password", login,
             body=LoginBody, response=SessionOut, auth=False),
    Endpoint("POST", "/api/auth/activate",
             "First login: activation code and the new password", activate,
             body=ActivateBody, response=SessionOut, auth=False),
    Endpoint("POST", "/api/auth/logout",
             "End this session and close its sockets; a session opened through single"
             " sign-on answers the provider's logout address (sso_logout)", logout,
             response=LogoutOut),
    Endpoint("POST", "/api/auth/password",
             "Change password; other sessions end, sockets included", change_password,
             body=PasswordBody),
    Endpoint("GET", "/api/auth/sessions",
             "The person's open sessions (devices), this one marked current", devices,
             response=DevicesOut),
    Endpoint("DELETE", "/api/auth/sessions/{session}",
             "End one of the person's sessions (its sockets close); another's is not_found",
             end_device),
    Endpoint("POST", "/api/people/{person}/activation-code",
             "A forgotten password or a lost code: a new activation code for a person of my"
             " school (admins) or a pupil I teach (teachers); their password and sessions end;"
             " audited. Anyone else is not_found", new_code, response=NewCodeOut),
    Endpoint("GET", "/api/schools/{school}/login-throttle",
             "Accounts with failed logins in the last hour and their delays, latest first "
             "(school admins)", throttled, response=ThrottledOut),
    Endpoint("POST", "/api/schools/{school}/login-throttle/{person}/clear",
             "Forget an account's failed logins and delay (school admins)", clear,
             response=ClearedOut),
]
