"""CAS 3.0 answers and single logout requests, read without I/O."""

from __future__ import annotations

import pytest

from preau.server.sso import cas

SUCCESS = b"""<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>
  <cas:authenticationSuccess><cas:user>rtyler</cas:user>
    <cas:attributes><cas:mail>r@x</cas:mail><cas:group>a</cas:group><cas:group>b</cas:group>
    </cas:attributes></cas:authenticationSuccess></cas:serviceResponse>"""


def test_success() -> None:
    user, attributes = cas.service_response(SUCCESS)
    assert user == "rtyler"
    assert attributes == {"mail": ["r@x"], "group": ["a", "b"]}


@pytest.mark.parametrize("data", [
    b"""<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationFailure
        code="INVALID_TICKET">no</cas:authenticationFailure></cas:serviceResponse>""",
    b"""<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationSuccess>
        <cas:user> </cas:user></cas:authenticationSuccess></cas:serviceResponse>""",
    b"<other/>",
    b"not xml",
    b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>
        <cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'/>""",
    b"<a>" + b"x" * (cas.MAX_XML + 1) + b"</a>",
])
def test_refused(data: bytes) -> None:
    with pytest.raises(cas.CasRefused):
        cas.service_response(data)


def test_logout_request() -> None:
    request = b"""<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
      xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0"
      IssueInstant="2026-12-05T22:00:00Z"><saml:NameID>@NOT_USED@</saml:NameID>
      <samlp:SessionIndex>ST-123</samlp:SessionIndex></samlp:LogoutRequest>"""
    assert cas.logout_request(request) == "ST-123"
    with pytest.raises(cas.CasRefused):
        cas.logout_request(b"<samlp:LogoutRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:"
                           b"protocol'/>")


def test_urls() -> None:
    assert cas.login_url("https://c/cas", "https://p/cb?state=a&b") == \
        "https://c/cas/login?service=https%3A%2F%2Fp%2Fcb%3Fstate%3Da%26b"
    assert cas.validate_url("https://c/cas", "s", "ST-1") == \
        "https://c/cas/p3/serviceValidate?service=s&ticket=ST-1"
