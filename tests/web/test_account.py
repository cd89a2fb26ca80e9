"""First login with an activation code, language switch, logout; keyboard and
labels."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.server.live import PASSWORD
from tests.web.conftest import People


def unlabelled_fields(page: Page) -> list[str]:
    """Form fields without an accessible name (label, aria-label or aria-labelledby)."""
    result: list[str] = page.evaluate("""() =>
        [...document.querySelectorAll('input, textarea, select')].filter(el =>
            !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
            && !el.getAttribute('aria-labelledby')).map(el => el.outerHTML)""")
    return result


def test_activation_language_and_logout(people: People, shots: Path) -> None:
    server = people.server
    login = server.login_of("Chloé Dubois")
    page = people.new_page(phone=True)
    page.goto("/room/whatever")  # a deep link without a session: the login page
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    assert page.evaluate("location.pathname") == "/login"
    assert unlabelled_fields(page) == []
    page.screenshot(path=shots / "login-phone.png")

    page.get_by_role("link", name="Première connexion ? Activer mon compte").click()
    expect(page.get_by_role("heading", name="Activer mon compte")).to_be_visible()
    assert unlabelled_fields(page) == []
    # Keyboard only: the login field has focus; Tab moves through the form.
    page.keyboard.type(login)
    page.keyboard.press("Tab")
    page.keyboard.type(server.accounts[login].code)
    page.keyboard.press("Tab")
    page.keyboard.type("motdepasse")
    page.keyboard.press("Tab")
    page.keyboard.type("motdepasse")
    page.keyboard.press("Enter")
    # In French to the end: the server's reason comes in the page's language.
    expect(page.locator(".status.error")).to_have_text(
        "Mot de passe trop faible : au moins 3 sortes de caractères parmi : minuscules, "
        "majuscules, chiffres, symboles")
    # Too short: the browser's own check blocks the form; the server's answer
    # to the try before no longer applies and goes.
    page.get_by_label("Nouveau mot de passe").fill("court")
    page.get_by_role("button", name="Activer et me connecter").click()
    expect(page.locator(".status.error")).to_have_count(0)
    page.get_by_label("Nouveau mot de passe").fill(PASSWORD)
    page.get_by_label("Confirmer le mot de passe").fill(PASSWORD + "x")
    page.get_by_role("button", name="Activer et me connecter").click()
    expect(page.locator(".status.error")).to_have_text(
        "Les deux mots de passe ne sont pas identiques.")
    page.get_by_label("Confirmer le mot de passe").fill(PASSWORD)
    page.screenshot(path=shots / "activate-phone.png")
    page.get_by_role("button", name="Activer et me connecter").click()
    expect(page.get_by_role("heading", name="Bonjour Chloé Dubois")).to_be_visible()
    server._activated.add(login)
    page.screenshot(path=shots / "home-pupil-phone.png", full_page=True)

    # English, remembered across a reload; <html lang> follows.
    page.get_by_role("button", name="Switch to English").click()
    expect(page.get_by_role("heading", name="Hello Chloé Dubois")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="My classes")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.screenshot(path=shots / "home-english-phone.png", full_page=True)
    page.get_by_role("button", name="Passer en français").click()
    expect(page.get_by_role("heading", name="Mes classes")).to_be_visible()

    # Logging out ends the session everywhere: another open tab (same
    # cookie) has its socket closed (4001) and goes back to the login page.
    other_tab = page.context.new_page()
    other_tab.goto("/")
    expect(other_tab.locator('[data-conn="open"]')).to_be_visible()
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    expect(other_tab.get_by_role("heading", name="Connexion")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()

    # A wrong password is said in words, and the code cannot be used again.
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill("Faux-mot-de-passe-1")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator(".status.error")).to_have_text(
        "Identifiant, mot de passe ou code incorrect.")
