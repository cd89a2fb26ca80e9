"""The communication-rule editor of the admin console in Chromium (issue
19): the school's admin reads the rules (the French ENT defaults), removes
the links between 6eA's parents and teachers — a parent's open conversation
with a 6eA teacher closes at once on her screen — adds a rule the defaults
do not have, then puts the defaults back. French labels; an accessibility
audit; a screenshot for docs/user-guide.md."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_accessibility import audit

ADMIN = "Anne Roux"
PARENT = "Camille Martin"  # Léa's mother, 6eA
TEACHER = "Julien Garnier"  # teaches 6eA only


def test_an_admin_edits_the_rules_and_a_conversation_follows(
    people: People, shots: Path,
) -> None:
    parent = people.login(PARENT)
    parent.get_by_role("link", name="Nouvelle conversation").first.click()
    parent.get_by_label("Rechercher une personne").fill("Garnier")
    parent.get_by_role("button", name=f"Écrire à {TEACHER}").click()
    expect(parent.get_by_role("heading", name=TEACHER)).to_be_visible()
    parent.locator('[data-conn="open"]').wait_for()

    admin = people.login(ADMIN, bypass_csp=True)  # the accessibility audit injects axe
    admin.get_by_role("link", name="Console").click()
    card = admin.locator("section.card", has=admin.get_by_role(
        "heading", name="Règles de communication"))
    expect(card.locator("#rules-state")).to_contain_text("Les règles sont celles par défaut.")
    card.get_by_label("Afficher").select_option(label="6eA")
    rules = card.locator("#rules-list li")
    expect(rules).to_have_text([
        "Enseignants de 6eA → Parents de 6eA (par défaut) Retirer",
        "Élèves de 6eA entre eux (par défaut) Retirer",
        "Parents de 6eA → Enseignants de 6eA (par défaut) Retirer",
    ])

    # 6eA's parents and teachers may no longer write to each other.
    for link in ("Parents de 6eA → Enseignants de 6eA", "Enseignants de 6eA → Parents de 6eA"):
        card.get_by_role("button", name=f"Retirer la règle {link}").click()
        expect(card.locator(".status.ok")).to_have_text(f"Règle retirée : {link}.")
    expect(rules).to_have_text(["Élèves de 6eA entre eux (par défaut) Retirer"])
    expect(card.locator("#rules-missing h3")).to_have_text("Règles par défaut retirées (2)")
    expect(card.locator("#rules-state")).to_contain_text(
        "Les règles diffèrent de celles par défaut.")
    # At once on the parent's screen: the conversation is closed.
    expect(parent.get_by_text("Cette conversation est fermée", exact=False)).to_be_visible()

    # A rule the defaults do not have: the school's parents among themselves.
    card.get_by_label("Afficher").select_option(label="Tous les groupes")
    card.get_by_label("Les membres de").select_option(label="Parents de l'établissement")
    card.get_by_label("peuvent joindre").select_option(label="Parents de l'établissement")
    card.get_by_role("button", name="Ajouter la règle").click()
    expect(card.locator(".status.ok")).to_have_text(
        "Règle ajoutée : Parents de l'établissement entre eux.")
    expect(card.locator("#rules-list li", has_text="Parents de l'établissement entre eux")
           ).to_contain_text("(ajoutée)")
    assert audit(admin, "console/rules") == []
    card.screenshot(path=shots / "console-rules.png")

    # A removed default put back one by one, then all of them at once.
    card.get_by_role("button", name="Rétablir la règle Enseignants de 6eA → Parents de 6eA").click()
    expect(card.locator(".status.ok")).to_have_text(
        "Règle ajoutée : Enseignants de 6eA → Parents de 6eA.")
    admin.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Revenir aux règles par défaut").click()
    expect(card.locator(".status.ok")).to_have_text(
        "Règles par défaut rétablies (1 rétablie, 1 retirée).")
    expect(card.locator("#rules-state")).to_contain_text("Les règles sont celles par défaut.")
    expect(card.locator("#rules-missing")).to_be_empty()

    # In the school's journal: every change.
    admin.goto(people.server.base_url + "/")
    assert people.errors == []
