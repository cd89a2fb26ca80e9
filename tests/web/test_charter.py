"""The charter of use in the browser: after the school publishes a new version,
a pupil who logs in sees it full screen (headings a screen reader can walk,
large text still usable), accepts it with "J'accepte" and lands on the home
page; a new version published while she is connected brings it back."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.server.live import PASSWORD, LiveServer
from tests.web.conftest import People, activate
from tests.web.test_accessibility import audit

CHARTER = """# Charte de l'école Jules Ferry

## Je respecte les autres

- J'écris poliment.
- Je ne me moque de personne.
"""


def publish(server: LiveServer, body: str) -> int:
    login = activate(server, "Anne Roux")
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        token = http.post("/api/auth/login", json={
            "login": login, "password": PASSWORD, "kind": "bearer"}).json()["token"]
        headers = {"authorization": f"Bearer {token}"}
        school = http.get("/api/me", headers=headers).json()["school"]["id"]
        answer = http.post(f"/api/schools/{school}/charter", headers=headers, json={
            "body": body, "body_en": body.replace("Charte", "Charter")})
        assert answer.status_code == 200, answer.text
        version: int = answer.json()["version"]
        return version


def test_a_pupil_accepts_the_charter_and_lands_home(
    people: People, server: LiveServer, shots: Path
) -> None:
    publish(server, CHARTER)
    login = activate(server, "Léa Martin")
    page = people.new_page()
    page.goto("/")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()

    expect(page.get_by_role("heading", level=1, name="Charte d'utilisation")).to_be_visible()
    expect(page.get_by_role("heading", name="Je respecte les autres")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="J'écris poliment.")).to_be_visible()
    expect(page.locator("nav")).to_have_count(0)  # nothing else until accepted
    # Large text (200 %): the button stays on screen and usable.
    page.evaluate("document.documentElement.style.fontSize = '32px'")
    accept = page.get_by_role("button", name="J'accepte")
    accept.scroll_into_view_if_needed()
    expect(accept).to_be_enabled()
    page.screenshot(path=shots / "charter-pupil.png")
    page.evaluate("document.documentElement.style.fontSize = ''")
    accept.click()

    expect(page.get_by_role("heading", name="Bonjour Léa Martin")).to_be_visible()
    page.locator('[data-conn="open"]').wait_for()
    expect(page.locator(".room-link", has_text="6eA").first).to_be_visible()

    # A new version while she is connected: the charter comes back at once.
    publish(server, CHARTER + "\n- Je signale ce qui me met mal à l'aise.\n")
    expect(page.get_by_role("heading", level=1, name="Charte d'utilisation")).to_be_visible()
    expect(page.get_by_text("Je signale ce qui me met mal à l'aise.")).to_be_visible()
    page.get_by_role("button", name="J'accepte").click()
    expect(page.get_by_role("heading", name="Bonjour Léa Martin")).to_be_visible()


def test_the_charter_in_english(people: People, server: LiveServer) -> None:
    publish(server, CHARTER)
    login = activate(server, "Hugo Bernard")
    page = people.new_page(locale="en-GB")
    page.goto("/")
    page.get_by_role("button", name="English").click()
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Charter of use")).to_be_visible()
    expect(page.get_by_role("heading", name="Charter de l'école Jules Ferry")).to_be_visible()
    page.get_by_role("button", name="I accept").click()
    expect(page.get_by_role("heading", name="Hello Hugo Bernard")).to_be_visible()


def test_an_admin_publishes_a_new_version_from_the_app(
    people: People, server: LiveServer, shots: Path
) -> None:
    admin = people.login("Anne Roux", bypass_csp=True)
    admin.get_by_role("link", name="Charte", exact=True).click()
    expect(admin.get_by_role("heading", level=1, name="Charte d'utilisation de l'établissement")
           ).to_be_visible()
    expect(admin.get_by_text("Version en vigueur")).to_be_visible()
    text = admin.get_by_label("Texte en français")
    text.fill("# Charte de l'école\n\n## Nouveau\n\n- Je range ma tablette.\n")
    expect(admin.get_by_role("heading", name="Nouveau")).to_be_visible()  # the preview
    admin.get_by_label("Traduction en anglais (facultative)").fill(
        "# School charter\n\n## New\n\n- I put my tablet away.\n")
    problems = audit(admin, "charter-admin")
    assert problems == [], "\n".join(problems)
    admin.screenshot(path=shots / "charter-admin.png", full_page=True)
    admin.get_by_role("button", name="Publier la nouvelle version").click()
    expect(admin.locator("p.status")).to_contain_text("publiée : chacun doit l'accepter")
    # Publishing it was her acceptance; everyone else is asked again.
    expect(admin.get_by_text("L'ont acceptée : 1")).to_be_visible()
    expect(admin.locator(".charter-pending")).to_contain_text("Léa Martin")
    # A pupil who comes in now is asked to accept it.
    login = activate(server, "Inès Petit")
    pupil = people.new_page(tablet=True)
    pupil.goto("/")
    pupil.get_by_label("Identifiant").fill(login)
    pupil.get_by_label("Mot de passe").fill(PASSWORD)
    pupil.get_by_role("button", name="Se connecter").click()
    expect(pupil.get_by_role("heading", level=1, name="Charte d'utilisation")).to_be_visible()
    expect(pupil.get_by_text("Je range ma tablette.")).to_be_visible()


def test_a_new_french_text_is_not_published_with_the_old_english_by_mistake(
    people: People, server: LiveServer
) -> None:
    """The form starts from the version in force: an admin who changes only
    the French would have English readers accept the old text. She is asked
    once; emptying the translation (English readers then get the French)
    publishes, and so would publishing again on purpose."""
    version = publish(server, CHARTER)  # French and English
    admin = people.login("Anne Roux", bypass_csp=True)
    admin.get_by_role("link", name="Charte", exact=True).click()
    current = admin.get_by_text("Version en vigueur")
    expect(current).to_contain_text(re.compile(rf": {version}, publiée le .*20\d\d"))
    french = admin.get_by_label("Texte en français")
    english = admin.get_by_label("Traduction en anglais (facultative)")
    expect(english).to_have_value(re.compile(r"^# Charter de l'école"))
    french.fill(CHARTER + "- Je garde mon mot de passe pour moi.\n")
    admin.get_by_role("button", name="Publier la nouvelle version").click()
    expect(admin.locator("p.status")).to_contain_text(
        f"la traduction anglaise est encore celle de la version {version}")
    expect(english).to_be_focused()
    expect(current).to_contain_text(f": {version},")  # nothing published
    expect(admin.get_by_role("button", name="Publier en gardant la traduction")).to_be_visible()
    english.fill("")
    admin.get_by_role("button", name="Publier la nouvelle version").click()
    expect(admin.locator("p.status")).to_contain_text(f"Version {version + 1} publiée")
    expect(current).to_contain_text(f": {version + 1},")
    expect(english).to_have_value("")  # English readers read the French text now
