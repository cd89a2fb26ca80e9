"""CAS 3.0, the service's side, without I/O: the login URL, the
``serviceValidate`` answer, and the single logout request the CAS server
POSTs (``logoutRequest``, a SAML LogoutRequest naming the service ticket).

XML is read with the standard library's ElementTree on expat ≥ 2.4.1, which
refuses entity expansion attacks; a document type declaration is refused
outright, so no entity is ever defined (docs/decisions.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

CAS_NS = "{http://www.yale.edu/tp/cas}"
SAMLP_NS = "{urn:oasis:names:tc:SAML:2.0:protocol}"
MAX_XML = 64 * 1024


class CasRefused(Exception):
    """A CAS answer that does not let the person in (why: the message)."""


def login_url(server: str, service: str) -> str:
    return f"{server}/login?{urlencode({'service': service})}"


def validate_url(server: str, service: str, ticket: str) -> str:
    return f"{server}/p3/serviceValidate?{urlencode({'service': service, 'ticket': ticket})}"


def _parse(data: bytes) -> ET.Element:
    if len(data) > MAX_XML:
        raise CasRefused("answer too large")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise CasRefused("a document type declaration is refused")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise CasRefused(f"not XML ({exc})") from None


def service_response(data: bytes) -> tuple[str, dict[str, list[str]]]:
    """(user, attributes) of an ``authenticationSuccess``, else :class:`CasRefused`."""
    root = _parse(data)
    if root.tag != CAS_NS + "serviceResponse":
        raise CasRefused("not a CAS serviceResponse")
    failure = root.find(CAS_NS + "authenticationFailure")
    if failure is not None:
        raise CasRefused(f"ticket refused ({failure.get('code', '?')})")
    success = root.find(CAS_NS + "authenticationSuccess")
    user = success.findtext(CAS_NS + "user") if success is not None else None
    if success is None or not user or not user.strip():
        raise CasRefused("no user in the answer")
    attributes: dict[str, list[str]] = {}
    found = success.find(CAS_NS + "attributes")
    for element in (found if found is not None else []):
        if element.tag.startswith(CAS_NS) and element.text is not None:
            name = element.tag[len(CAS_NS):]
            attributes.setdefault(name, []).append(element.text.strip())
    return user.strip(), attributes


def logout_request(data: bytes) -> str:
    """The service ticket a CAS single logout request names (its SessionIndex)."""
    root = _parse(data)
    if root.tag != SAMLP_NS + "LogoutRequest":
        raise CasRefused("not a LogoutRequest")
    index = root.findtext(SAMLP_NS + "SessionIndex")
    if not index or not index.strip():
        raise CasRefused("no SessionIndex")
    return index.strip()
