"""REST for single sign-on (docs/protocol.md, "Single sign-on"): the
providers a login screen offers, the way to the provider and back, and the
providers' single logout calls (OIDC front- and back-channel, CAS SLO).

Browsers land on the callback; its failures are a page in French (and
English) with a way back to the login screen, not a JSON body.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from preau.server.errors import HTTP_STATUS, PreauError
from preau.server.http.auth_api import device_of, set_session_cookie
from preau.server.http.common import path_id, services
from preau.server.http.openapi import Endpoint
from preau.server.messages import language, localise

STATE_COOKIE = "preau_sso"
STATE_COOKIE_PATH = "/api/auth/sso"


class ProviderOut(BaseModel):
    id: str
    name: str  # the button reads "Se connecter avec {name}"
    protocol: str  # oidc | cas | saml


class ProvidersOut(BaseModel):
    providers: list[ProviderOut]


async def providers(request: Request) -> Response:
    return JSONResponse({"providers": [
        {"id": p.id, "name": p.name, "protocol": p.protocol}
        for p in services(request).sso.providers()]})


async def start(request: Request) -> Response:
    remember = request.query_params.get("remember", "") in ("1", "true")
    started = await services(request).sso.start(path_id(request, "provider"), remember)
    node = services(request)
    response = RedirectResponse(started.url, status_code=303)
    # A SAML provider POSTs the browser back, from its own site: a SameSite=Lax
    # cookie would stay behind, so it is None there (which browsers take over
    # HTTPS only: the secure deployments).
    saml = node.sso.provider(path_id(request, "provider")).protocol == "saml"
    secure = node.settings.cookie_secure
    response.set_cookie(STATE_COOKIE, started.state, max_age=600, httponly=True,
                        samesite="none" if saml and secure else "lax", secure=secure,
                        path=STATE_COOKIE_PATH)
    return response


_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Préau : connexion</title></head><body><main>
<h1>Connexion</h1><p role="alert">{fr}</p><p lang="en">{en}</p>
<p><a href="/">Retour à la connexion</a> · <a href="/" lang="en">Back to the login page</a></p>
</main></body></html>"""


def _page(fr: str, en: str, status: int) -> HTMLResponse:
    def sentence(text: str) -> str:
        return html.escape(text[:1].upper() + text[1:] + ".", quote=False)

    return HTMLResponse(_PAGE.format(fr=sentence(fr), en=sentence(en)), status_code=status)


async def callback(request: Request) -> Response:
    params = {k: v for k, v in request.query_params.items() if len(v) <= 4096}
    return await _finish(request, params)


async def _finish(request: Request, params: dict[str, str]) -> Response:
    node = services(request)
    try:
        issued = await node.sso.finish(
            path_id(request, "provider"), params, request.cookies.get(STATE_COOKIE, ""),
            device_of(request.headers.get("user-agent", "")))
    except PreauError as exc:
        response: Response = _page(localise(exc.code, str(exc), "fr"),
                                   localise(exc.code, str(exc), "en"),
                                   HTTP_STATUS.get(exc.code, 400))
    else:
        response = RedirectResponse("/", status_code=303)
        set_session_cookie(request, response, issued)
    response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
    return response


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (what the providers POST)."""
    body = (await request.body()).decode("utf-8", "replace")  # a SAML Response: < 256 KiB
    return {k: v[0] for k, v in parse_qs(body, max_num_fields=20).items()}


async def posted(request: Request) -> Response:
    """A POST to the callback: a SAML provider's Response (the assertion
    consumer service: ``SAMLResponse`` and ``RelayState``), or a CAS server's
    single logout (``logoutRequest``)."""
    node = services(request)
    provider = node.sso.provider(path_id(request, "provider"))
    form = await _form(request)
    if provider.protocol == "saml":
        return await _finish(request, {k: form[k] for k in ("SAMLResponse", "RelayState")
                                       if k in form})
    await node.sso.cas_logout(provider.id, form.get("logoutRequest", ""))
    return JSONResponse({})


async def saml_logout(request: Request) -> Response:
    """SAML single logout, the identity provider's LogoutRequest through the
    browser (HTTP-Redirect): Préau's sessions of that IdP session end, and the
    browser goes back to the provider with the LogoutResponse."""
    # The query as sent: its signature is over those very octets.
    back = await services(request).sso.saml_logout(path_id(request, "provider"),
                                                   request.url.query)
    return RedirectResponse(back, status_code=303)


async def metadata(request: Request) -> Response:
    """Préau's SAML 2.0 metadata, for the identity provider's administrator."""
    xml = services(request).sso.saml_metadata(path_id(request, "provider"))
    return Response(xml, media_type="application/samlmetadata+xml")


async def frontchannel(request: Request) -> Response:
    """Loaded by the provider's logout page in an iframe: allowed to be framed
    by that provider only."""
    node = services(request)
    provider = node.sso.provider(path_id(request, "provider"))
    await node.sso.frontchannel_logout(provider.id, request.query_params.get("iss", ""),
                                       request.query_params.get("sid", "")[:512])
    lang = language(request.headers.get("accept-language"))
    text = ("Vous êtes déconnecté·e de Préau." if lang == "fr"
            else "You are logged out of Préau.")
    response = HTMLResponse(f"<!doctype html><meta charset=utf-8><p>{text}</p>")
    response.headers["content-security-policy"] = (
        f"default-src 'none'; frame-ancestors {provider.origin or 'none'}")
    # Browsers follow CSP frame-ancestors over the middleware's X-Frame-Options.
    return response


async def backchannel(request: Request) -> Response:
    form = await _form(request)
    await services(request).sso.backchannel_logout(path_id(request, "provider"),
                                                   form.get("logout_token", "")[:8192])
    return JSONResponse({})


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/auth/sso", "The identity providers the login screen offers",
             providers, response=ProvidersOut, auth=False),
    Endpoint("GET", "/api/auth/sso/{provider}/start",
             "Go to the identity provider (303); remember=1 asks for a remembered device",
             start, auth=False, query={"remember": "1: remember this device (allowed profiles)"}),
    Endpoint("GET", "/api/auth/sso/{provider}/callback",
             "Back from the identity provider: a session cookie and 303 to /; a refusal is a"
             " page in French (sso_refused: no one matches; sso_failed: state, nonce, token or"
             " ticket refused)", callback, auth=False),
    Endpoint("POST", "/api/auth/sso/{provider}/callback",
             "SAML 2.0: the provider's Response (form fields SAMLResponse, RelayState), as the"
             " GET callback answers; CAS: single logout (form field logoutRequest), the sessions"
             " the ticket opened end, sockets included, on every node", posted, auth=False),
    Endpoint("GET", "/api/auth/sso/{provider}/slo",
             "SAML 2.0 single logout (HTTP-Redirect: SAMLRequest, RelayState, SigAlg, Signature;"
             " signed by the provider): the sessions it names end, sockets included, on every"
             " node; 303 back to the provider with the LogoutResponse", saml_logout, auth=False),
    Endpoint("GET", "/api/auth/sso/{provider}/metadata",
             "Préau's SAML 2.0 service provider metadata for this provider (entity id,"
             " assertion consumer service); not_found for other protocols", metadata,
             auth=False),
    Endpoint("GET", "/api/auth/sso/{provider}/frontchannel-logout",
             "OIDC front-channel logout (iss, sid): the sessions of that provider session end",
             frontchannel, auth=False),
    Endpoint("POST", "/api/auth/sso/{provider}/backchannel-logout",
             "OIDC back-channel logout (form field logout_token, signed, used once)",
             backchannel, auth=False),
]
