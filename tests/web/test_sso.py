"""The login screen's single sign-on buttons, in Chromium, through a real
LemonLDAP::NG portal: sign in with the portal (first login, no code), log out
(the portal's session ends too: the next click shows its form again), and an
identity that is no one here refused in French."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server.live import LiveServer
from tests.server.sso.conftest import import_school, sso_config
from tests.server.sso.llng import Llng, available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, web_dist: Path) -> Iterator[LiveServer]:
    available()
    base = tmp_path_factory.mktemp("web-sso")
    preau = LiveServer(base / "preau", {"PREAU_WEB_DIR": str(web_dist),
                                        "PREAU_CHARTER_REQUIRED": "false",
                                        "PREAU_QUIET_HOURS_DEFAULT": "off"})
    llng = Llng(base / "llng", preau.base_url, saml=False)  # OIDC and CAS here
    config = base / "sso.toml"
    config.write_text(sso_config(llng), encoding="utf-8")
    preau.env.update({"PREAU_SSO_CONFIG": str(config), "PREAU_PUBLIC_URL": preau.base_url})
    (base / "preau").mkdir()
    import_school({**preau.env, "PREAU_SEED_DEMO": "false"}, base / "preau")
    llng.start()
    try:
        preau.start()
        try:
            yield preau
        finally:
            preau.stop()
    finally:
        llng.stop()


def portal_form(page: Page, user: str) -> None:
    """LemonLDAP::NG's own login page: fill it and send it."""
    page.locator('input[name="user"]').fill(user)
    page.locator('input[name="password"]').fill(user)
    page.locator('input[name="password"]').press("Enter")


def test_sign_in_and_out_through_the_portal(browser: Browser, site: LiveServer,
                                            shots: Path) -> None:
    context = browser.new_context(base_url=site.base_url, locale="fr-FR",
                                  viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/")
        oidc = page.get_by_role("button", name="Se connecter avec LemonLDAP::NG (OIDC)")
        expect(oidc).to_be_visible()
        expect(page.get_by_role("button", name="Se connecter avec LemonLDAP::NG (CAS)")) \
            .to_be_visible()
        page.screenshot(path=shots / "login-sso.png")
        oidc.click()
        portal_form(page, "dwho")
        # Back in Préau, logged in at the first sign-in (never activated, no code).
        expect(page.get_by_role("heading", name="Bonjour Doctor Who")).to_be_visible()
        page.locator('[data-conn="open"]').wait_for()

        page.get_by_role("button", name="Se déconnecter").click()
        # The portal asks whether to end its session too (its own page, in
        # French once its scripts have run; the name starts with an icon).
        page.get_by_role("button", name=re.compile(r"\b(Accept|Accepter)$")).click()
        # Its logout page frames Préau's front-channel logout (allowed by
        # frame-ancestors for that portal only), then goes back to Préau.
        expect(page.frame_locator("iframe").get_by_text("Vous êtes déconnecté·e de Préau.")) \
            .to_be_visible()
        page.get_by_role("button", name=re.compile(r"\b(Continue|Continuer)$")).click()
        # The portal's session ended with Préau's: back on Préau's login screen,
        # the button leads to the portal's form again (not straight back in).
        expect(oidc).to_be_visible()
        assert page.url.startswith(site.base_url)
        oidc.click()
        expect(page.locator('input[name="user"]')).to_be_visible()
        assert not page.url.startswith(site.base_url)
        assert errors == []
    finally:
        context.close()


def test_an_identity_that_is_no_one_here_is_told_in_french(browser: Browser,
                                                           site: LiveServer) -> None:
    context = browser.new_context(base_url=site.base_url, locale="fr-FR")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto("/")
        page.get_by_role("button", name="Se connecter avec LemonLDAP::NG (CAS)").click()
        portal_form(page, "msmith")
        expect(page.get_by_role("alert")).to_have_text(
            "Aucun compte Préau ne correspond à cette identité : adressez-vous à votre"
            " établissement (rien n'a été créé).")
        page.get_by_role("link", name="Retour à la connexion").click()
        expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    finally:
        context.close()
