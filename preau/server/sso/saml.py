"""SAML 2.0, the service provider's side (pysaml2; signatures checked by
xmlsec1): the AuthnRequest the browser takes to the identity provider
(HTTP-Redirect binding) and the Response it brings back to Préau's
assertion consumer service (HTTP-POST binding, the provider's callback URL).

pysaml2 is synchronous (xmlsec1 runs as a subprocess): every call here runs
in a worker thread. The identity provider's metadata (its entity id, its
single sign-on URL and signing certificate) is read from its ``metadata``
URL once, on first use, as OIDC's discovery document is.

What a Response must be to let anyone in (pysaml2 checks it): signed by the
provider's certificate (the assertion; ``want_assertions_signed``), for
Préau's entity id (audience) and assertion consumer service, in answer to the
AuthnRequest this login sent (``InResponseTo``: unsolicited responses are
refused), within its validity window, with a success status.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.mdstore import locations
from saml2.metadata import entity_descriptor
from saml2.saml import name_id_from_string
from saml2.xmldsig import SIG_RSA_SHA256

from preau.server.sso.config import Provider

log = logging.getLogger(__name__)

MAX_RESPONSE = 256 * 1024  # a Response, base64


# HTTP-Redirect signature algorithms accepted (RSA; SHA-1 is not).
SIG_ALGS: dict[str, hashes.HashAlgorithm] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
}


def _signed_by(octets: bytes, sigalg: str, signature: str, certs: list[str]) -> bool:
    """Does ``signature`` (base64) over ``octets`` verify with one of the
    metadata's certificates (base64 DER)?"""
    algorithm = SIG_ALGS.get(sigalg)
    if algorithm is None:
        return False
    try:
        value = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    for cert in certs:
        try:
            key = x509.load_der_x509_certificate(base64.b64decode("".join(cert.split()))
                                                 ).public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                continue
            key.verify(value, octets, padding.PKCS1v15(), algorithm)
            return True
        except (ValueError, InvalidSignature):
            continue
    return False


class SamlRefused(Exception):
    """Anything that does not let the person in (why: the message)."""


@dataclass(frozen=True, slots=True)
class Identity:
    name_id: str
    attributes: dict[str, list[str]]
    session_index: str
    name_id_xml: str = ""  # the NameID as issued (format, qualifiers): a logout names it


class SamlClient:
    def __init__(self, provider: Provider, http: httpx.AsyncClient, entity_id: str,
                 acs_url: str, slo_url: str = "") -> None:
        self.provider = provider
        self._http = http
        self.entity_id = entity_id
        self.acs_url = acs_url
        self.slo_url = slo_url
        self._client: Saml2Client | None = None
        self._lock = asyncio.Lock()

    def _config(self, idp_metadata: str | None) -> SPConfig:
        xmlsec = shutil.which("xmlsec1")
        if xmlsec is None:
            raise SamlRefused("xmlsec1 is not installed")
        config = SPConfig()
        signing = bool(self.provider.key_file)
        config.load({
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec,
            **({"key_file": self.provider.key_file, "cert_file": self.provider.cert_file}
               if signing else {}),
            "metadata": {"inline": [idp_metadata]} if idp_metadata else {},
            "allow_unknown_attributes": True,
            "service": {"sp": {
                "endpoints": {
                    "assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)],
                    **({"single_logout_service": [(self.slo_url, BINDING_HTTP_REDIRECT)]}
                       if self.slo_url else {}),
                },
                "allow_unsolicited": False,
                "authn_requests_signed": signing,
                "logout_requests_signed": signing,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "name_id_format_allow_create": True,
            }},
        })
        return config

    async def _saml(self) -> Saml2Client:
        async with self._lock:
            if self._client is None:
                try:
                    response = await self._http.get(self.provider.metadata)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    raise SamlRefused(f"metadata not read ({exc})") from None
                text = response.text
                try:
                    self._client = await asyncio.to_thread(
                        lambda: Saml2Client(self._config(text)))
                except SamlRefused:
                    raise
                except Exception as exc:  # pysaml2 raises many kinds on bad metadata
                    raise SamlRefused(f"metadata refused ({type(exc).__name__}: {exc})") from None
                if not self._idp(self._client):
                    self._client = None
                    raise SamlRefused("the metadata names no identity provider")
            return self._client

    @staticmethod
    def _idp(client: Saml2Client) -> str | None:
        found = list(client.metadata.identity_providers())
        return found[0] if len(found) == 1 else None

    async def login_url(self, relay_state: str) -> tuple[str, str]:
        """(the AuthnRequest's id, the URL the browser goes to)."""
        client = await self._saml()

        def prepare() -> tuple[str, str]:
            request_id, info = client.prepare_for_authenticate(
                entityid=self._idp(client), relay_state=relay_state,
                binding=BINDING_HTTP_REDIRECT,
                **({"sign": True, "sigalg": SIG_RSA_SHA256} if self.provider.key_file else {}))
            return str(request_id), dict(info["headers"])["Location"]

        try:
            return await asyncio.to_thread(prepare)
        except Exception as exc:
            raise SamlRefused(f"no AuthnRequest ({type(exc).__name__}: {exc})") from None

    async def identity(self, saml_response: str, request_id: str) -> Identity:
        """The identity a Response asserts, if it answers ``request_id``."""
        if not saml_response or len(saml_response) > MAX_RESPONSE:
            raise SamlRefused("no SAMLResponse, or too large")
        try:
            base64.b64decode(saml_response, validate=True)
        except ValueError:
            raise SamlRefused("SAMLResponse is not base64") from None
        client = await self._saml()

        def parse() -> Any:
            return client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={request_id: self.acs_url})

        try:
            response = await asyncio.to_thread(parse)
        except Exception as exc:  # signature, audience, time, status: all refusals
            raise SamlRefused(f"{type(exc).__name__}: {exc}"[:300]) from None
        if response is None or response.name_id is None:
            raise SamlRefused("no assertion")
        index = ""
        for statement in response.assertion.authn_statement or []:
            index = statement.session_index or index
        attributes = {str(k): [str(v) for v in values] for k, values in
                      (response.ava or {}).items()}
        raw = response.name_id.to_string()
        return Identity(str(response.name_id.text or "").strip(), attributes, index,
                        raw.decode() if isinstance(raw, bytes) else str(raw))

    async def logout_request(self, raw_query: str) -> tuple[list[str], str]:
        """The identity provider's single logout (HTTP-Redirect binding, the
        request's query string as received): the session indexes its
        LogoutRequest names, and the URL of the LogoutResponse the browser
        takes back to it. The query must be signed by the provider's
        certificate (SAML bindings §3.4.4.1: over the octets as sent)."""
        if len(raw_query) > 4 * MAX_RESPONSE:
            raise SamlRefused("request too large")
        raw: dict[str, str] = {}
        for part in raw_query.split("&"):
            name, _, value = part.partition("=")
            raw.setdefault(name, value)
        values = {k: unquote_plus(v) for k, v in raw.items()}
        if not values.get("SAMLRequest"):
            raise SamlRefused("no SAMLRequest")
        if not values.get("SigAlg") or not values.get("Signature"):
            raise SamlRefused("the LogoutRequest is not signed")
        client = await self._saml()
        idp = self._idp(client)
        signed = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg")
                          if k in raw).encode("ascii", "replace")
        certs = [c for _, c in client.metadata.certs(idp, "any", "signing")]
        if not _signed_by(signed, values["SigAlg"], values["Signature"], certs):
            raise SamlRefused("the LogoutRequest's signature does not verify")
        relay_state = values.get("RelayState", "")

        def handle() -> tuple[list[str], str]:
            request = client.parse_logout_request(values["SAMLRequest"], BINDING_HTTP_REDIRECT)
            if request is None:
                raise SamlRefused("LogoutRequest refused")
            message = request.message
            if message.issuer is None or (message.issuer.text or "").strip() != idp:
                raise SamlRefused("LogoutRequest from another issuer")
            indexes = [i.text.strip() for i in message.session_index or [] if i.text]
            response = client.create_logout_response(message, [BINDING_HTTP_REDIRECT])
            binding, destination = client.pick_binding(
                "single_logout_service", [BINDING_HTTP_REDIRECT], "idpsso", entity_id=idp)
            args = client.apply_binding(binding, str(response), destination, relay_state,
                                        response=True)
            return indexes, dict(args["headers"])["Location"]

        try:
            return await asyncio.to_thread(handle)
        except SamlRefused:
            raise
        except Exception as exc:  # destination, format, time
            raise SamlRefused(f"{type(exc).__name__}: {exc}"[:300]) from None

    async def logout_url(self, name_id_xml: str, session_index: str) -> str | None:
        """Préau's own logout sent to the provider (HTTP-Redirect, signed with
        Préau's key): the URL the browser goes to; None without a key pair."""
        if not self.provider.key_file or not name_id_xml:
            return None
        client = await self._saml()
        idp = self._idp(client)

        def build() -> str:
            name_id = name_id_from_string(name_id_xml)
            # A request goes to the service's Location (pysaml2's pick_binding
            # prefers the ResponseLocation, which is for responses).
            binding = BINDING_HTTP_REDIRECT
            destination = next(locations(client.metadata.single_logout_service(
                idp, binding, "idpsso")), None)
            if destination is None:
                raise SamlRefused("the provider has no HTTP-Redirect single logout service")
            _, request = client.create_logout_request(
                destination, idp, name_id=name_id,
                session_indexes=[session_index] if session_index else None)
            args = client.apply_binding(binding, str(request), destination, "",
                                        sign=True, sigalg=SIG_RSA_SHA256)
            return str(dict(args["headers"])["Location"])

        try:
            return await asyncio.to_thread(build)
        except Exception as exc:
            log.warning("sso %s: no logout request (%s: %s)", self.provider.id,
                        type(exc).__name__, exc)
            return None

    def metadata(self) -> str:
        """Préau's SP metadata, for the identity provider's administrator."""
        return str(entity_descriptor(self._config(None)))
