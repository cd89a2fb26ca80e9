"""An automated accessibility audit (axe-core, WCAG 2.x A and AA: labels,
names, contrast, landmarks…) of the main screens, on a computer and a phone.

axe is injected into the page, which the app's CSP would refuse: the audit's
browser contexts bypass the CSP (the other tests keep it and fail on any
violation of it)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.web.conftest import WEB, People
from tests.web.test_chat import open_room

AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"


def audit(page: Page, where: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("""async () => await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    })""")
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                    for n in v["nodes"][:3])
        for v in result["violations"]
    ]


def test_main_screens_pass_an_accessibility_audit(people: People) -> None:
    problems: list[str] = []
    for phone in (False, True):
        size = "phone" if phone else "desktop"
        page = people.new_page(phone=phone, bypass_csp=True)
        page.goto("/login")
        expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
        problems += audit(page, f"login/{size}")
        page.goto("/activate")
        expect(page.get_by_role("heading", name="Activer mon compte")).to_be_visible()
        problems += audit(page, f"activate/{size}")

    teacher = people.login("Claire Lefèvre", bypass_csp=True)
    problems += audit(teacher, "home/teacher")
    open_room(teacher, "6eA")
    teacher.get_by_label("Votre message").fill("Bonjour à tous")
    teacher.get_by_label("Votre message").press("Enter")
    expect(teacher.locator(".msg[data-seq]", has_text="Bonjour à tous")).to_be_visible()
    teacher.get_by_role("button", name="Modération").click()
    expect(teacher.get_by_role("heading", name="Participants")).to_be_visible()
    problems += audit(teacher, "room+moderation/teacher")
    teacher.get_by_role("link", name="Signalements").click()
    problems += audit(teacher, "reports/teacher")

    # A document (the editor's toolbar too) and a call, before and inside.
    teacher.get_by_role("link", name="Accueil", exact=True).click()
    teacher.get_by_label("Titre du document").fill("Exposé")
    teacher.get_by_role("button", name="Créer").click()
    expect(teacher.locator('[data-synced="true"]')).to_be_visible()
    problems += audit(teacher, "document/teacher")
    teacher.get_by_role("link", name="Accueil", exact=True).click()
    open_room(teacher, "6eA")
    teacher.get_by_role("button", name="Lancer la visio de la classe").click()
    expect(teacher.get_by_label("Caméra").locator("option")).not_to_have_count(0)
    problems += audit(teacher, "call-setup/teacher")
    teacher.get_by_role("button", name="Entrer dans la visio").click()
    expect(teacher.get_by_role("heading", name="Contrôles de l'enseignant")).to_be_visible()
    problems += audit(teacher, "call/teacher")
    teacher.get_by_role("button", name="Terminer la visio pour tous").click()

    parent = people.login("Camille Martin", phone=True, bypass_csp=True)
    problems += audit(parent, "home/parent-phone")
    parent.get_by_role("link", name="Nouvelle conversation").first.click()
    expect(parent.locator(".people li").first).to_be_visible()
    problems += audit(parent, "new-conversation/parent-phone")

    admin = people.login("Anne Roux", bypass_csp=True)
    admin.get_by_role("link", name="Journal").click()
    expect(admin.locator("table.audit")).to_be_visible()
    problems += audit(admin, "audit/admin")
    admin.get_by_role("link", name="Réglages").click()
    problems += audit(admin, "settings/admin")

    assert problems == [], "\n".join(problems)
