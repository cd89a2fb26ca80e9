"""OpenID Connect, the relying party's side: discovery, the authorization
code exchange (with PKCE), and the checks of an ID token and of a
back-channel logout token.

The JOSE work (signatures, keys, claims) is joserfc's; what this module adds
is which claims OpenID Connect requires and what they must hold. The checks
are plain functions of (token, keys, expectations): the I/O (discovery, the
keys, the token endpoint) stays in :class:`OidcClient`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from preau.server.sso.config import Provider

log = logging.getLogger(__name__)

# Asymmetric algorithms only: never "none", never an HMAC keyed with a secret
# the client also holds.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
              "ES512", "EdDSA")
LEEWAY_S = 60  # clock skew between Préau and the identity provider
METADATA_TTL_S = 3600.0
KEYS_REFRESH_S = 60.0
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class TokenRefused(Exception):
    """An ID token or a logout token that must not be believed (why: the message)."""


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _decode(token: str, keys: KeySet) -> dict[str, Any]:
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError) as exc:
        raise TokenRefused(f"bad signature or format ({type(exc).__name__})") from None
    return dict(decoded.claims)


def _common(claims: dict[str, Any], issuer: str, client_id: str, now: int) -> None:
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=LEEWAY_S,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise TokenRefused(f"claims refused ({exc.error}: {exc.description})") from None
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise TokenRefused("several audiences and azp is not this client")
    if "azp" in claims and claims["azp"] != client_id:
        raise TokenRefused("azp is another client")


def check_id_token(token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str,
                   now: int | None = None) -> dict[str, Any]:
    """The ID token's claims, if it is signed by the provider's keys, for this
    client, from this issuer, not expired, with this login's nonce; else
    :class:`TokenRefused` (OpenID Connect Core 1.0, 3.1.3.7)."""
    now = int(time.time()) if now is None else now
    claims = _decode(token, keys)
    _common(claims, issuer, client_id, now)
    if not isinstance(claims.get("exp"), int | float):
        raise TokenRefused("no exp")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRefused("no sub")
    if claims.get("nonce") != nonce:
        raise TokenRefused("nonce is not this login's")
    return claims


def check_logout_token(token: str, keys: KeySet, *, issuer: str, client_id: str,
                       now: int | None = None) -> dict[str, Any]:
    """A back-channel logout token's claims (OpenID Connect Back-Channel
    Logout 1.0, 2.6): signed, for this client, from this issuer, recent, with
    the logout event, a ``sid`` or a ``sub``, a ``jti``, and no ``nonce``."""
    now = int(time.time()) if now is None else now
    claims = _decode(token, keys)
    _common(claims, issuer, client_id, now)
    iat = claims["iat"]
    if not isinstance(iat, int | float) or abs(now - iat) > 10 * 60 + LEEWAY_S:
        raise TokenRefused("iat too far from now")
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
        raise TokenRefused("no back-channel logout event")
    if "nonce" in claims:
        raise TokenRefused("a logout token has no nonce")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenRefused("no jti")
    if not (isinstance(claims.get("sid"), str) and claims["sid"]) and not (
            isinstance(claims.get("sub"), str) and claims["sub"]):
        raise TokenRefused("neither sid nor sub")
    return claims


class OidcClient:
    """One provider's endpoints and keys, read from its discovery document
    and kept for an hour (the keys are read again at once when a token names
    a key not seen yet: the provider rotated them)."""

    def __init__(self, provider: Provider, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL_S:
            url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = await self._get_json(url)
            # Discovery 1.0, 4.3: the document's issuer is exactly the one configured.
            if found.get("issuer") != self.provider.issuer:
                raise TokenRefused(f"the discovery document names issuer {found.get('issuer')!r}")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise TokenRefused(f"the discovery document has no {key}")
            self._metadata, self._metadata_at, self._keys = found, time.monotonic(), None
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            meta = await self.metadata()
            try:
                found = await self._get_json(meta["jwks_uri"])
                self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
                self._keys_at = time.monotonic()
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise TokenRefused(f"the provider's keys cannot be read ({exc})") from None
        return self._keys

    async def authorize_url(self, redirect_uri: str, state: str, nonce: str,
                            verifier: str) -> str:
        meta = await self.metadata()
        query = urlencode({
            "response_type": "code", "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri, "scope": " ".join(self.provider.scopes),
            "state": state, "nonce": nonce,
            "code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256",
        })
        endpoint: str = meta["authorization_endpoint"]
        return endpoint + ("&" if "?" in endpoint else "?") + query

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer for this code (client_secret_basic)."""
        meta = await self.metadata()
        try:
            response = await self._http.post(
                meta["token_endpoint"],
                data={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": redirect_uri, "code_verifier": verifier},
                auth=(self.provider.client_id, self.provider.client_secret),
                headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise TokenRefused(f"token endpoint unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise TokenRefused(f"token endpoint answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise TokenRefused("token endpoint answered no JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise TokenRefused("no id_token in the token endpoint's answer")
        return body

    async def id_token(self, token: str, nonce: str) -> dict[str, Any]:
        return await self._checked(lambda keys: check_id_token(
            token, keys, issuer=self.provider.issuer, client_id=self.provider.client_id,
            nonce=nonce))

    async def logout_token(self, token: str) -> dict[str, Any]:
        return await self._checked(lambda keys: check_logout_token(
            token, keys, issuer=self.provider.issuer, client_id=self.provider.client_id))

    async def _checked(self, check: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = check(await self.keys())
            return result
        except TokenRefused:
            # A key rotated since the keys were read: read them once more (at
            # most once a minute, so forged tokens cannot hammer the provider).
            if time.monotonic() - self._keys_at < KEYS_REFRESH_S:
                raise
            result = check(await self.keys(refresh=True))
            return result

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenRefused(f"{url} could not be read ({type(exc).__name__})") from None
        if not isinstance(body, dict):
            raise TokenRefused(f"{url} is not a JSON object")
        return body
