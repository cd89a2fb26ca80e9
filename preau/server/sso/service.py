"""Single sign-on: a login goes to the identity provider and comes back with
an identity, which is matched to the directory (never creating anyone); an
identity provider's logout ends the Préau sessions it opened, sockets
included, on every node (``AuthService.revoke_sessions`` → ``control.sessions``).

The flow (docs/operations.md, "Single sign-on"):

1. ``start``: a random ``state`` (bound to the browser by a cookie), a
   ``nonce`` and a PKCE verifier are kept in the store (any node may get the
   callback), then the browser goes to the provider.
2. ``finish``: the state is taken from the store once (a replay finds
   nothing) and must equal the browser's cookie; OIDC: the code is exchanged
   with the verifier and the ID token checked (signature by the provider's
   keys, issuer, audience, expiry, this login's nonce); CAS: the ticket is
   validated by ``/p3/serviceValidate``.
3. The identity (a claim, or the CAS user or one of its attributes) names
   exactly one active person of the schools the provider serves, by external
   id (the ids imports keep: SIECLE, STS-web, CSV) or by login; anything else
   is ``sso_refused`` and nothing is created. A person never activated gets
   in: the provider proved who they are.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from preau.server.auth import tokens
from preau.server.auth.service import AuthService, IssuedSession
from preau.server.clock import Clock
from preau.server.errors import ErrorCode, PreauError
from preau.server.settings import Settings
from preau.server.sso import cas
from preau.server.sso.config import Provider, SsoConfig
from preau.server.sso.oidc import OidcClient, TokenRefused
from preau.server.sso.saml import SamlClient, SamlRefused
from preau.server.store import SsoPending, Store

log = logging.getLogger(__name__)

PENDING_TTL_MS = 10 * 60 * 1000  # a login left at the provider's page longer starts again
REFUSED = "no Préau account matches this identity: ask your school"
FAILED = "the sign-in through the portal did not complete: try again"
UNKNOWN = "no such identity provider"


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # where the browser goes
    state: str  # the browser keeps it in a cookie; the callback must bring it back


class SsoService:
    def __init__(self, config: SsoConfig, store: Store, auth: AuthService, settings: Settings,
                 clock: Clock, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._store = store
        self._auth = auth
        self._settings = settings
        self._clock = clock
        self._http = http or httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self._oidc = {p.id: OidcClient(p, self._http)
                      for p in config.providers.values() if p.protocol == "oidc"}
        self._saml = {p.id: SamlClient(p, self._http, self.entity_id(p), self.callback_url(p),
                                       self._url(p, "slo"))
                      for p in config.providers.values() if p.protocol == "saml"}

    async def close(self) -> None:
        await self._http.aclose()

    def providers(self) -> list[Provider]:
        return list(self.config.providers.values())

    def provider(self, provider_id: str) -> Provider:
        found = self.config.providers.get(provider_id)
        if found is None:
            raise PreauError(ErrorCode.NOT_FOUND, UNKNOWN)
        return found

    def callback_url(self, provider: Provider, state: str | None = None) -> str:
        """Préau's address the provider sends the browser back to. CAS has no
        state parameter: the state rides in the service URL, which the CAS
        server gives back unchanged (and validates the ticket against)."""
        url = f"{self._settings.public_url.rstrip('/')}/api/auth/sso/{provider.id}/callback"
        if provider.protocol == "cas" and state is not None:
            url += f"?state={state}"
        return url

    def _url(self, provider: Provider, path: str) -> str:
        return f"{self._settings.public_url.rstrip('/')}/api/auth/sso/{provider.id}/{path}"

    def entity_id(self, provider: Provider) -> str:
        """Préau's SAML entity id for ``provider``: as configured, else its metadata URL."""
        return provider.entity_id or (
            f"{self._settings.public_url.rstrip('/')}/api/auth/sso/{provider.id}/metadata")

    def saml_metadata(self, provider_id: str) -> str:
        """Préau's SAML 2.0 metadata (entity id, assertion consumer service)."""
        provider = self.provider(provider_id)
        if provider.protocol != "saml":
            raise PreauError(ErrorCode.NOT_FOUND, UNKNOWN)
        return self._saml[provider.id].metadata()

    # -- login ---------------------------------------------------------------

    async def start(self, provider_id: str, remember: bool = False) -> Started:
        provider = self.provider(provider_id)
        state, nonce, verifier = (secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                                  secrets.token_urlsafe(48))
        now = self._clock.now_ms()
        if provider.protocol != "saml":
            await self._store.sso_begin(tokens.digest(state),
                                        SsoPending(provider.id, nonce, verifier, remember),
                                        now + PENDING_TTL_MS, now)
        if provider.protocol == "cas":
            return Started(cas.login_url(provider.server, self.callback_url(provider, state)),
                           state)
        if provider.protocol == "saml":
            # The AuthnRequest's id is this login's nonce: the Response must
            # answer it (InResponseTo), the state comes back as RelayState.
            try:
                request_id, url = await self._saml[provider.id].login_url(state)
            except SamlRefused as exc:
                log.warning("sso %s: the provider cannot be used: %s", provider.id, exc)
                raise PreauError(ErrorCode.UNAVAILABLE, FAILED) from None
            await self._store.sso_begin(tokens.digest(state),
                                        SsoPending(provider.id, request_id, verifier, remember),
                                        now + PENDING_TTL_MS, now)
            return Started(url, state)
        try:
            url = await self._oidc[provider.id].authorize_url(
                self.callback_url(provider), state, nonce, verifier)
        except TokenRefused as exc:
            log.warning("sso %s: the provider cannot be used: %s", provider.id, exc)
            raise PreauError(ErrorCode.UNAVAILABLE, FAILED) from None
        return Started(url, state)

    async def finish(self, provider_id: str, params: dict[str, str], browser_state: str,
                     device: str = "") -> IssuedSession:
        """The callback: the provider's answer (``params``) and the state the
        browser kept. A session (cookie) for the one person the identity names."""
        provider = self.provider(provider_id)
        # SAML brings the state back as RelayState.
        state = params.get("RelayState" if provider.protocol == "saml" else "state", "")
        # Taken first, whatever follows: a state is good for one try only.
        pending = await self._store.sso_take(tokens.digest(state), self._clock.now_ms()) \
            if state else None
        if (pending is None or pending.provider != provider.id or not browser_state
                or not secrets.compare_digest(browser_state.encode(), state.encode())):
            raise self._failed(provider, "unknown, used or expired state, or another browser's")
        if provider.protocol == "cas":
            subject, sid, identity = await self._cas_identity(provider, state, params)
        elif provider.protocol == "saml":
            subject, sid, identity = await self._saml_identity(provider, pending, params)
        else:
            subject, sid, identity = await self._oidc_identity(provider, pending, params)
        person_id = await self._match(provider, identity)
        await self._store.sso_signed_in(person_id, self._clock.now_ms())
        issued = await self._auth.open_session(person_id, "cookie", pending.remember, device)
        await self._store.sso_link(issued.session.token_hash, provider.id, subject, sid,
                                   issued.session.expires_ms)
        log.info("sso %s: logged in", provider.id)
        return issued

    async def _oidc_identity(self, provider: Provider, pending: SsoPending,
                             params: dict[str, str]) -> tuple[str, str, str]:
        if "error" in params or not params.get("code"):
            raise self._failed(provider, f"the provider answered {params.get('error', 'no code')}")
        client = self._oidc[provider.id]
        try:
            answer = await client.exchange(params["code"], pending.verifier,
                                           self.callback_url(provider))
            claims = await client.id_token(answer["id_token"], pending.nonce)
        except TokenRefused as exc:
            raise self._failed(provider, str(exc)) from None
        identity = _claim(claims, provider.claim)
        if identity is None:
            raise self._failed(provider, f"no {provider.claim!r} claim")
        sid = claims.get("sid")
        return claims["sub"], sid if isinstance(sid, str) else "", identity

    async def _cas_identity(self, provider: Provider, state: str,
                            params: dict[str, str]) -> tuple[str, str, str]:
        ticket = params.get("ticket", "")
        if not ticket or len(ticket) > 256:
            raise self._failed(provider, "no ticket")
        try:
            response = await self._http.get(cas.validate_url(
                provider.server, self.callback_url(provider, state), ticket))
            response.raise_for_status()
            user, attributes = cas.service_response(response.content)
        except (httpx.HTTPError, cas.CasRefused) as exc:
            raise self._failed(provider, f"ticket not validated ({exc})") from None
        identity = user
        if provider.attribute:
            values = attributes.get(provider.attribute) or []
            if len(values) != 1:
                raise self._failed(provider, f"{len(values)} values of {provider.attribute!r}")
            identity = values[0]
        return user, ticket, identity

    async def _saml_identity(self, provider: Provider, pending: SsoPending,
                             params: dict[str, str]) -> tuple[str, str, str]:
        try:
            found = await self._saml[provider.id].identity(params.get("SAMLResponse", ""),
                                                          pending.nonce)
        except SamlRefused as exc:
            raise self._failed(provider, f"response refused ({exc})") from None
        identity = found.name_id
        if provider.attribute:
            values = found.attributes.get(provider.attribute) or []
            if len(values) != 1:
                raise self._failed(provider, f"{len(values)} values of {provider.attribute!r}")
            identity = values[0].strip()
        if not identity:
            raise self._failed(provider, "no identity in the assertion")
        # The NameID as issued is kept (as the subject): Préau's logout names it.
        return found.name_id_xml or found.name_id, found.session_index, identity

    async def _match(self, provider: Provider, identity: str) -> str:
        found = [c for c in await self._store.sso_candidates(provider.match, identity)
                 if c.active and self.config.for_school(provider, c.school_uai)]
        if len(found) != 1:
            # No personal data in the log: how many matched, not who.
            log.info("sso %s: refused, %d people match the identity", provider.id, len(found))
            raise PreauError(ErrorCode.SSO_REFUSED, REFUSED)
        return found[0].person_id

    def _failed(self, provider: Provider, why: str) -> PreauError:
        log.info("sso %s: login failed: %s", provider.id, why)
        return PreauError(ErrorCode.SSO_FAILED, FAILED)

    # -- single logout ---------------------------------------------------------

    async def _revoke(self, provider: Provider, *, sid: str | None = None,
                      subject: str | None = None) -> int:
        revoked = await self._store.sso_revoke(provider.id, sid=sid, subject=subject)
        await self._auth.revoke_sessions(revoked)
        if revoked:
            log.info("sso %s: single logout ended %d sessions", provider.id, len(revoked))
        return len(revoked)

    async def frontchannel_logout(self, provider_id: str, iss: str, sid: str) -> int:
        """OIDC Front-Channel Logout 1.0: ``iss`` and ``sid`` in the query. The
        sid is the provider's session, unguessable (or, for a provider that
        puts the subject there, ``frontchannel_sid = "sub"``)."""
        provider = self.provider(provider_id)
        if provider.protocol != "oidc" or iss != provider.issuer or not sid:
            return 0
        if provider.frontchannel_sid == "sub":
            return await self._revoke(provider, subject=sid)
        return await self._revoke(provider, sid=sid)

    async def backchannel_logout(self, provider_id: str, logout_token: str) -> int:
        """OIDC Back-Channel Logout 1.0: a signed logout token, used once."""
        provider = self.provider(provider_id)
        if provider.protocol != "oidc":
            raise PreauError(ErrorCode.NOT_FOUND, UNKNOWN)
        try:
            claims = await self._oidc[provider.id].logout_token(logout_token)
        except TokenRefused as exc:
            log.info("sso %s: logout token refused: %s", provider.id, exc)
            raise PreauError(ErrorCode.BAD_REQUEST, "logout token refused") from None
        now = self._clock.now_ms()
        expires = int(claims.get("exp") or claims["iat"] + 600) * 1000
        if not await self._store.sso_first_use(tokens.digest(claims["jti"]), expires, now):
            raise PreauError(ErrorCode.BAD_REQUEST, "logout token refused")
        if isinstance(claims.get("sid"), str) and claims["sid"]:
            return await self._revoke(provider, sid=claims["sid"])
        return await self._revoke(provider, subject=claims["sub"])

    async def saml_logout(self, provider_id: str, raw_query: str) -> str:
        """SAML 2.0 single logout from the identity provider (HTTP-Redirect):
        its signed LogoutRequest names the sessions (SessionIndex) to end;
        the answer is where the browser takes the LogoutResponse. A
        ``SAMLResponse`` instead is the provider's answer to Préau's own
        logout (the session already ended here): the browser goes home."""
        provider = self.provider(provider_id)
        if provider.protocol != "saml":
            raise PreauError(ErrorCode.NOT_FOUND, UNKNOWN)
        if raw_query.startswith("SAMLResponse=") or "&SAMLResponse=" in raw_query:
            return self._settings.public_url.rstrip("/") + "/"
        try:
            indexes, back = await self._saml[provider.id].logout_request(raw_query)
        except SamlRefused as exc:
            log.info("sso %s: logout request refused: %s", provider.id, exc)
            raise PreauError(ErrorCode.BAD_REQUEST, "logout request refused") from None
        for index in indexes:
            await self._revoke(provider, sid=index)
        return back

    async def cas_logout(self, provider_id: str, logout_request: str) -> int:
        """CAS single logout: the server POSTs ``logoutRequest`` naming the ticket."""
        provider = self.provider(provider_id)
        if provider.protocol != "cas":
            raise PreauError(ErrorCode.NOT_FOUND, UNKNOWN)
        try:
            ticket = cas.logout_request(logout_request.encode("utf-8"))
        except cas.CasRefused as exc:
            raise PreauError(ErrorCode.BAD_REQUEST, f"logout request refused: {exc}") from None
        return await self._revoke(provider, sid=ticket)

    async def logout_url(self, token_hash: str) -> str | None:
        """Where a browser ends its provider session after a Préau logout (so
        the next person on a shared computer is not signed in as this one)."""
        opened = await self._store.sso_session_of(token_hash)
        provider = self.config.providers.get(opened[0]) if opened else None
        if provider is None or opened is None:
            return None
        home = self._settings.public_url.rstrip("/") + "/"
        if provider.protocol == "cas":
            return f"{provider.server}/logout?{urlencode({'service': home})}"
        if provider.protocol == "saml":
            # Signed with Préau's key pair, when it has one (docs/decisions.md).
            return await self._saml[provider.id].logout_url(opened[1], opened[2])
        try:
            meta = await self._oidc[provider.id].metadata()
        except TokenRefused:
            return None
        end = meta.get("end_session_endpoint")
        if not isinstance(end, str):
            return None
        return end + ("&" if "?" in end else "?") + urlencode(
            {"client_id": provider.client_id, "post_logout_redirect_uri": home})


def _claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value.strip() else None
