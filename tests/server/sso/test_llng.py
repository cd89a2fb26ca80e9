"""Single sign-on against a real identity provider (LemonLDAP::NG, started by
the fixture): OpenID Connect and CAS logins, the first login of a person
known only by external id, the refusal of an identity that is no one here,
single logout (front-channel, back-channel, CAS SLO) closing sockets, local
passwords off for a profile, state replay and forged tokens refused."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from preau_client import PreauClient

from tests.server.live import PASSWORD
from tests.server.sso.conftest import SsoSite, people_count
from tests.server.sso.llng import Browser

pytestmark = pytest.mark.slow


async def sso_login(site: SsoSite, provider: str, user: str,
                    browser: Browser | None = None) -> tuple[Browser, httpx.Response]:
    """The whole round trip in a browser: Préau → portal (form) → Préau's
    callback. Returns the browser and the callback's answer."""
    browser = browser or Browser()
    back = f"{site.preau.base_url}/api/auth/sso/{provider}/callback"
    at_portal = await browser.sign_in(
        f"{site.preau.base_url}/api/auth/sso/{provider}/start", user, user, back)
    answer = await browser.http.get(at_portal.headers["location"])
    return browser, answer


def session_token(browser: Browser) -> str:
    token = browser.http.cookies.get("preau_session")
    assert token, dict(browser.http.cookies)
    return token


async def me(site: SsoSite, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(site.preau.base_url + "/api/me",
                              headers={"authorization": f"Bearer {token}"})


async def test_the_login_screen_lists_the_providers(site: SsoSite) -> None:
    async with httpx.AsyncClient() as http:
        found = (await http.get(site.preau.base_url + "/api/auth/sso")).json()
    assert found == {"providers": [
        {"id": "llng", "name": "LemonLDAP::NG (OIDC)", "protocol": "oidc"},
        {"id": "llngcas", "name": "LemonLDAP::NG (CAS)", "protocol": "cas"},
        {"id": "llngsaml", "name": "LemonLDAP::NG (SAML)", "protocol": "saml"}]}


async def test_first_oidc_login_of_a_person_known_only_by_external_id(site: SsoSite) -> None:
    # dwho was imported (external id "dwho") and never activated: no code needed.
    browser, answer = await sso_login(site, "llng", "dwho")
    try:
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        found = await me(site, session_token(browser))
        assert found.status_code == 200
        assert found.json()["person"]["name"] == "Doctor Who"
        assert found.json()["person"]["profile"] == "teacher"
        # The state cookie is spent.
        assert "preau_sso" not in browser.http.cookies
        # The activation code on dwho's letter is consumed by the sign-in.
        async with httpx.AsyncClient() as http:
            used = await http.post(site.preau.base_url + "/api/auth/activate", json={
                "login": site.login_of("doctor"), "code": site.codes[site.login_of("doctor")],
                "password": PASSWORD})
        assert used.json()["error"]["code"] == "activation_used"
    finally:
        await browser.close()


async def test_an_identity_that_matches_no_one_is_refused_and_nothing_is_created(
        site: SsoSite) -> None:
    before = people_count(site.preau)
    for provider in ("llng", "llngcas"):
        browser, answer = await sso_login(site, provider, "msmith")
        try:
            assert answer.status_code == 403
            assert ("Aucun compte Préau ne correspond à cette identité : adressez-vous à votre"
                    " établissement (rien n'a été créé).") in answer.text
            assert "Retour à la connexion" in answer.text
            assert "preau_session" not in browser.http.cookies
        finally:
            await browser.close()
    assert people_count(site.preau) == before


async def test_a_replayed_state_or_another_browsers_state_is_refused(site: SsoSite) -> None:
    browser = Browser()
    try:
        back = f"{site.preau.base_url}/api/auth/sso/llng/callback"
        at_portal = await browser.sign_in(
            f"{site.preau.base_url}/api/auth/sso/llng/start", "dwho", "dwho", back)
        callback = at_portal.headers["location"]
        state_cookie = browser.http.cookies.get("preau_sso")
        # Another browser (without the state cookie) brings the code back: refused,
        # and the state is spent with it.
        async with httpx.AsyncClient() as other:
            stolen = await other.get(callback)
        assert stolen.status_code == 400
        assert "La connexion par le portail n'a pas abouti : recommencez." in stolen.text
        # The right browser, now: the state was used once already.
        answer = await browser.http.get(callback)
        assert answer.status_code == 400
        assert "preau_session" not in browser.http.cookies

        # A fresh login succeeds; replaying its callback (same state, same code) fails.
        at_portal = await browser.sign_in(
            f"{site.preau.base_url}/api/auth/sso/llng/start", "dwho", "dwho", back)
        state_cookie = browser.http.cookies.get("preau_sso")
        assert (await browser.http.get(at_portal.headers["location"])).status_code == 303
        browser.http.cookies.set("preau_sso", state_cookie or "", path="/api/auth/sso")
        replay = await browser.http.get(at_portal.headers["location"])
        assert replay.status_code == 400
    finally:
        await browser.close()


async def test_cas_login_and_cas_single_logout_close_the_socket(site: SsoSite) -> None:
    browser, answer = await sso_login(site, "llngcas", "rtyler")
    try:
        assert answer.status_code == 303
        token = session_token(browser)
        person = (await me(site, token)).json()["person"]
        assert person["name"] == "Rose Tyler"
        client = PreauClient(site.preau.base_url, token, person)
        conn = await client.connect()
        try:
            # Logging out at the portal: LemonLDAP::NG POSTs a CAS logoutRequest
            # naming the ticket to Préau, which ends the session and its socket.
            await browser.http.get(site.llng.url + "/", params={"logout": "1"})
            async with asyncio.timeout(10):
                await conn.closed.wait()
            assert (await me(site, token)).status_code == 401
        finally:
            await conn.close()
            await client.close()
    finally:
        await browser.close()


async def test_oidc_front_channel_logout_ends_the_session(site: SsoSite) -> None:
    browser, _ = await sso_login(site, "llng", "dwho")
    try:
        token = session_token(browser)
        assert (await me(site, token)).status_code == 200
        # The portal's logout page loads each relying party's front-channel
        # logout URL in an iframe; the browser loads it.
        page = await browser.http.get(site.llng.url + "/", params={"logout": "1"})
        page = await browser.follow(page, "never")
        frames = re.findall(r'<iframe src="([^"]+)"', page.text)
        assert frames, page.text[:2000]
        framed = await browser.http.get(frames[0].replace("&amp;", "&"))
        assert framed.status_code == 200
        assert f"frame-ancestors {site.llng.url}" in framed.headers["content-security-policy"]
        assert (await me(site, token)).status_code == 401
    finally:
        await browser.close()


def logout_token(key: object, issuer: str, **claims: object) -> str:
    now = int(time.time())
    body = {"iss": issuer, "aud": "preau", "iat": now, "jti": uuid.uuid4().hex,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}, **claims}
    return jwt.encode({"alg": "RS256", "kid": "preau-test"}, body, key)  # type: ignore[arg-type]


async def test_oidc_back_channel_logout_signed_once(site: SsoSite) -> None:
    browser, _ = await sso_login(site, "llng", "dwho")
    try:
        token = session_token(browser)
        url = site.preau.base_url + "/api/auth/sso/llng/backchannel-logout"
        portal_key = RSAKey.import_key(site.llng.key)  # the portal's signing key
        forged_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537,
                                                                key_size=2048))
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, data={"logout_token": logout_token(
                forged_key, site.llng.issuer, sub="dwho")})
            assert forged.status_code == 400
            assert (await me(site, token)).status_code == 200
            good = logout_token(portal_key, site.llng.issuer, sub="dwho")
            assert (await http.post(url, data={"logout_token": good})).status_code == 200
            assert (await me(site, token)).status_code == 401
            again = await http.post(url, data={"logout_token": good})
            assert again.status_code == 400  # a logout token is used once
    finally:
        await browser.close()


async def test_local_passwords_off_for_a_profile(site: SsoSite) -> None:
    teacher, parent = site.login_of("paul"), site.login_of("jackie")
    async with httpx.AsyncClient() as http:
        refused = await http.post(site.preau.base_url + "/api/auth/activate", json={
            "login": teacher, "code": site.codes[teacher], "password": PASSWORD})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "password_login_off"
        assert "Se connecter avec" in refused.json()["error"]["message"]
        # A wrong code says nothing of the profile's rule.
        wrong = await http.post(site.preau.base_url + "/api/auth/activate", json={
            "login": teacher, "code": "AAAA-BBBB-CCCC", "password": PASSWORD})
        assert wrong.json()["error"]["code"] == "invalid_credentials"
        # Parents keep their passwords.
        allowed = await http.post(site.preau.base_url + "/api/auth/activate", json={
            "login": parent, "code": site.codes[parent], "password": PASSWORD})
        assert allowed.status_code == 200, allowed.text


async def test_sso_sessions_are_like_others_remembered_listed_and_ended(site: SsoSite) -> None:
    browser = Browser()
    try:
        back = f"{site.preau.base_url}/api/auth/sso/llng/callback"
        at_portal = await browser.sign_in(
            f"{site.preau.base_url}/api/auth/sso/llng/start?remember=1", "dwho", "dwho", back)
        answer = await browser.http.get(at_portal.headers["location"])
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert "Max-Age=7776000" in cookie  # PREAU_REMEMBER_MAX_S: a teacher may be remembered
        token = session_token(browser)
        async with httpx.AsyncClient(base_url=site.preau.base_url,
                                     headers={"authorization": f"Bearer {token}"}) as http:
            mine = (await http.get("/api/auth/sessions")).json()["sessions"]
            current = next(s for s in mine if s["current"])
            assert current["remembered"] is True
            # Ended from the list of devices like any session.
            assert (await http.delete(f"/api/auth/sessions/{current['id']}")).status_code == 200
            assert (await http.get("/api/me")).status_code == 401
    finally:
        await browser.close()
