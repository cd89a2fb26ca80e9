"""ID tokens and logout tokens: what is believed and what is refused.

The first tests sign tokens with keys made here (no network); the last one
takes a real ID token from LemonLDAP::NG and checks it against the portal's
published keys, then replays and forges it."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from preau.server.sso.config import Provider
from preau.server.sso.oidc import (
    OidcClient,
    TokenRefused,
    check_id_token,
    check_logout_token,
    pkce_challenge,
)
from tests.server.sso.conftest import SsoSite
from tests.server.sso.llng import CLIENT_SECRET, Browser

ISSUER = "https://idp.example/"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, another key
KEYS = KeySet([KEY])


def token(claims: dict[str, Any], key: RSAKey = KEY, alg: str = "RS256") -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "preau", "sub": "E001", "iat": now, "exp": now + 300,
            "nonce": "n-1", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, body, key)


def check(value: str, nonce: str = "n-1") -> dict[str, Any]:
    return check_id_token(value, KEYS, issuer=ISSUER, client_id="preau", nonce=nonce)


def test_a_good_id_token_is_believed() -> None:
    assert check(token({}))["sub"] == "E001"
    assert check(token({"aud": ["preau", "other"], "azp": "preau"}))["sub"] == "E001"


@pytest.mark.parametrize(("claims", "why"), [
    ({"nonce": "n-2"}, "another login's nonce (a replayed ID token)"),
    ({"nonce": None}, "no nonce"),
    ({"iss": "https://evil.example/"}, "another issuer"),
    ({"aud": "someone-else"}, "another client"),
    ({"aud": ["preau", "other"]}, "several audiences, no azp"),
    ({"azp": "other"}, "authorised party is another client"),
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"exp": None}, "no expiry"),
    ({"iat": None}, "no issued-at"),
    ({"sub": None}, "no subject"),
])
def test_a_wrong_id_token_is_refused(claims: dict[str, Any], why: str) -> None:
    with pytest.raises(TokenRefused):
        check(token(claims))


def test_a_forged_id_token_is_refused() -> None:
    with pytest.raises(TokenRefused):
        check(token({}, key=OTHER))  # signed by another key under the same kid
    # A payload changed after signing.
    head, body, sig = token({}).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "E002"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRefused):
        check(f"{head}.{changed}.{sig}")
    # alg "none", and an HMAC keyed with something public.
    unsigned = (base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
                + "." + body + ".")
    with pytest.raises(TokenRefused):
        check(unsigned)
    with pytest.raises(TokenRefused):
        check("not.a.token")


def logout(claims: dict[str, Any], key: RSAKey = KEY) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "preau", "iat": now, "jti": secrets.token_hex(8),
            "sid": "s-1", "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            **claims}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in body.items()
                                                       if v is not None}, key)


def test_logout_tokens() -> None:
    def checked(value: str) -> dict[str, Any]:
        return check_logout_token(value, KEYS, issuer=ISSUER, client_id="preau")

    assert checked(logout({}))["sid"] == "s-1"
    assert checked(logout({"sid": None, "sub": "E001"}))["sub"] == "E001"
    for bad in ({"events": None}, {"nonce": "x"}, {"jti": None}, {"sid": None},
                {"iat": int(time.time()) - 3600}, {"aud": "other"}):
        with pytest.raises(TokenRefused):
            checked(logout(bad))
    with pytest.raises(TokenRefused):
        checked(logout({}, key=OTHER))


def test_pkce_challenge_is_rfc7636_s256() -> None:
    # RFC 7636, appendix B.
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.slow
async def test_a_real_id_token_from_the_portal(site: SsoSite) -> None:
    """The portal's own ID token, checked against its published keys: good for
    its nonce, refused for another (a token replayed into another login)."""
    provider = Provider("llng", "LemonLDAP::NG", "oidc", issuer=site.llng.issuer,
                        client_id="preau", client_secret=CLIENT_SECRET)
    async with httpx.AsyncClient() as http:
        client = OidcClient(provider, http)
        redirect = f"{site.preau.base_url}/api/auth/sso/llng/callback"
        nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        browser = Browser()
        try:
            url = await client.authorize_url(redirect, "state-1", nonce, verifier)
            back = await browser.sign_in(url, "dwho", "dwho", redirect)
        finally:
            await browser.close()
        code = Browser.query(back)["code"]
        with pytest.raises(TokenRefused):  # the code is bound to the PKCE challenge
            await client.exchange(code, secrets.token_urlsafe(48), redirect)
        url = await client.authorize_url(redirect, "state-2", nonce, verifier)
        browser = Browser()
        try:
            code = Browser.query(await browser.sign_in(url, "dwho", "dwho", redirect))["code"]
        finally:
            await browser.close()
        answer = await client.exchange(code, verifier, redirect)
        claims = await client.id_token(answer["id_token"], nonce)
        assert claims["sub"] == "dwho"
        assert claims["iss"] == site.llng.issuer
        with pytest.raises(TokenRefused):
            await client.id_token(answer["id_token"], "another-login's-nonce")
        head, body, sig = answer["id_token"].split(".")
        with pytest.raises(TokenRefused):
            await client.id_token(f"{head}.{body}.{sig[:-4]}AAAA", nonce)
