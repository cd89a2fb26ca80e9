"""SAML 2.0 single sign-on against a real identity provider (LemonLDAP::NG's
SAML issuer, through Lasso; started by the fixture with Préau's own SP
metadata): the first login of a person known only by external id (the
``uid`` attribute), an identity that is no one here refused, the Response
replayed or tampered with refused, Préau's metadata served, and the
portal's single logout (a signed LogoutRequest through the browser) ending
the session and closing its socket."""

from __future__ import annotations

import asyncio
import base64
import re
from html import unescape

import httpx
import pytest
from preau_client import PreauClient

from tests.server.sso.conftest import SsoSite, people_count
from tests.server.sso.llng import Browser

pytestmark = pytest.mark.slow

PROVIDER = "llngsaml"
FAILED = "La connexion par le portail n'a pas abouti : recommencez."


def posted_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The auto-submitted form a SAML provider answers with: its action and fields."""
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action, page.text[:800]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    return unescape(action[1]), {k: unescape(v) for k, v in fields.items()}


async def saml_login(site: SsoSite, user: str) -> tuple[Browser, str, dict[str, str]]:
    """Préau → the portal's form → the portal's page that posts the Response
    back: (the browser, where it posts, the form it posts), not yet posted."""
    browser = Browser()
    portal = site.llng.url
    response = await browser.follow(
        await browser.http.get(f"{site.preau.base_url}/api/auth/sso/{PROVIDER}/start"),
        "never-stop")
    assert str(response.url).startswith(portal), response.url
    if 'name="SAMLResponse"' not in response.text:
        form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', response.text))
        form.update(user=user, password=user)
        response = await browser.follow(await browser.http.post(str(response.url), data=form),
                                        "never-stop")
    action, fields = posted_form(response)
    return browser, action, fields


async def test_first_saml_login_of_a_person_known_only_by_external_id(site: SsoSite) -> None:
    browser, action, fields = await saml_login(site, "rtyler")
    try:
        assert action == f"{site.preau.base_url}/api/auth/sso/{PROVIDER}/callback"
        assert set(fields) >= {"SAMLResponse", "RelayState"}
        # The portal's page posts it, so a browser names the portal as Origin:
        # the callback is the one write that comes from another site (its
        # protection is the state cookie and the provider's signature).
        answer = await browser.http.post(action, data=fields,
                                         headers={"origin": site.llng.url})
        assert answer.status_code == 303, answer.text[:500]
        assert answer.headers["location"] == "/"
        token = browser.http.cookies.get("preau_session")
        assert token
        async with httpx.AsyncClient() as http:
            found = await http.get(site.preau.base_url + "/api/me",
                                   headers={"authorization": f"Bearer {token}"})
        assert found.json()["person"]["name"] == "Rose Tyler"
        # Préau's logout ends the portal's session too: a LogoutRequest signed
        # with Préau's key (the portal checks it), and back to Préau.
        out = await browser.http.post(site.preau.base_url + "/api/auth/logout",
                                      headers={"authorization": f"Bearer {token}"})
        sso_logout = out.json()["sso_logout"]
        assert sso_logout.startswith(f"{site.llng.url}/saml/singleLogout?SAMLRequest=")
        assert "&Signature=" in sso_logout
        home = await browser.follow(await browser.http.get(sso_logout), "never-stop")
        assert str(home.url) == f"{site.preau.base_url}/", home.url
        # Signing in again goes through the portal's form: its session ended.
        again_at_portal = await browser.follow(await browser.http.get(
            f"{site.preau.base_url}/api/auth/sso/{PROVIDER}/start"), "never-stop")
        assert 'name="password"' in again_at_portal.text
        # Replayed: the state (and the AuthnRequest it answered) are spent.
        # (The session above ended; the replay must not open another.)
        again = await browser.http.post(action, data=fields)
        assert again.status_code == 400
        assert FAILED in again.text
    finally:
        await browser.close()


async def test_an_identity_that_matches_no_one_is_refused_and_nothing_is_created(
        site: SsoSite) -> None:
    before = people_count(site.preau)
    browser, action, fields = await saml_login(site, "msmith")
    try:
        answer = await browser.http.post(action, data=fields)
        assert answer.status_code == 403
        assert ("Aucun compte Préau ne correspond à cette identité : adressez-vous à votre"
                " établissement (rien n'a été créé).") in answer.text
        assert "preau_session" not in browser.http.cookies
    finally:
        await browser.close()
    assert people_count(site.preau) == before


async def test_a_tampered_response_is_refused(site: SsoSite) -> None:
    """rtyler's signed assertion, changed to name dwho: the signature no
    longer holds."""
    browser, action, fields = await saml_login(site, "rtyler")
    try:
        xml = base64.b64decode(fields["SAMLResponse"])
        assert b">rtyler<" in xml
        forged = {**fields, "SAMLResponse": base64.b64encode(
            xml.replace(b">rtyler<", b">dwho<")).decode()}
        answer = await browser.http.post(action, data=forged)
        assert answer.status_code == 400
        assert FAILED in answer.text
        assert "preau_session" not in browser.http.cookies
        # Its state was spent by the try: the genuine one is refused now too.
        assert (await browser.http.post(action, data=fields)).status_code == 400
    finally:
        await browser.close()


async def test_a_response_to_another_login_is_refused(site: SsoSite) -> None:
    """Browser A's Response, brought by browser B with B's own state: it
    answers A's AuthnRequest (InResponseTo), not B's."""
    first, action, fields_a = await saml_login(site, "rtyler")
    second, _, fields_b = await saml_login(site, "rtyler")
    try:
        mixed = {"SAMLResponse": fields_a["SAMLResponse"], "RelayState": fields_b["RelayState"]}
        answer = await second.http.post(action, data=mixed)
        assert answer.status_code == 400
        assert FAILED in answer.text
        # Without the state cookie (another browser, a forged form): refused.
        async with httpx.AsyncClient() as other:
            assert (await other.post(action, data=fields_a)).status_code == 400
    finally:
        await first.close()
        await second.close()


async def test_preau_serves_its_metadata(site: SsoSite) -> None:
    async with httpx.AsyncClient() as http:
        found = await http.get(f"{site.preau.base_url}/api/auth/sso/{PROVIDER}/metadata")
        assert found.headers["content-type"].startswith("application/samlmetadata+xml")
        assert f'entityID="{site.preau.base_url}/api/auth/sso/{PROVIDER}/metadata"' in found.text
        assert (f'Location="{site.preau.base_url}/api/auth/sso/{PROVIDER}/callback"'
                in found.text)
        # Not a SAML provider, or none: unknown alike.
        assert (await http.get(f"{site.preau.base_url}/api/auth/sso/llng/metadata")
                ).status_code == 404
        assert (await http.get(f"{site.preau.base_url}/api/auth/sso/nobody/metadata")
                ).status_code == 404


async def test_saml_single_logout_from_the_portal_closes_the_socket(site: SsoSite) -> None:
    browser, action, fields = await saml_login(site, "rtyler")
    try:
        assert (await browser.http.post(action, data=fields)).status_code == 303
        token = browser.http.cookies.get("preau_session")
        assert token
        async with httpx.AsyncClient() as http:
            person = (await http.get(site.preau.base_url + "/api/me", headers={
                "authorization": f"Bearer {token}"})).json()["person"]
        client = PreauClient(site.preau.base_url, token, person)
        conn = await client.connect()
        try:
            # Logging out at the portal: its page frames Préau's single logout
            # service with a signed LogoutRequest naming the session.
            page = await browser.http.get(site.llng.url + "/", params={"logout": "1"})
            frames = [unescape(f) for f in re.findall(r'<iframe src="([^"]+)"', page.text)
                      if "/api/auth/sso/llngsaml/slo" in f]
            assert frames, page.text[:2000]
            slo = frames[0]
            # Unsigned, or signed by someone else: refused, nothing ends.
            unsigned = re.sub(r"&(SigAlg|Signature)=[^&]*", "", slo)
            forged = re.sub(r"Signature=[^&]*", "Signature=" + base64.b64encode(
                b"x" * 256).decode().replace("+", "%2B").replace("/", "%2F").replace(
                "=", "%3D"), slo)
            for bad in (unsigned, forged):
                refused = await browser.http.get(bad)
                assert refused.status_code == 400, bad
            assert not conn.closed.is_set()
            answer = await browser.http.get(slo)
            assert answer.status_code == 303
            back = answer.headers["location"]
            assert back.startswith(f"{site.llng.url}/saml/singleLogoutReturn?SAMLResponse=")
            async with asyncio.timeout(10):
                await conn.closed.wait()
            async with httpx.AsyncClient() as http:
                gone = await http.get(site.preau.base_url + "/api/me",
                                      headers={"authorization": f"Bearer {token}"})
            assert gone.status_code == 401
            # The portal takes the LogoutResponse.
            assert (await browser.http.get(back)).status_code < 500
        finally:
            await conn.close()
            await client.close()
    finally:
        await browser.close()
