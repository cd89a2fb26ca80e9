"""Two pupils co-edit a class document; the teacher locks it and restores a
version."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import People


def test_two_pupils_co_edit_a_document(people: People, shots: Path) -> None:
    teacher = people.login("Julien Garnier")
    lea = people.login("Léa Martin")
    hugo = people.login("Hugo Bernard")

    # The teacher creates the class's document from the home page.
    teacher.get_by_label("Titre du document").fill("Journal de la classe")
    teacher.get_by_label("Classe").select_option(label="6eA")
    teacher.get_by_role("button", name="Créer").click()
    expect(teacher.get_by_role("heading", name="Journal de la classe")).to_be_visible()
    expect(teacher.locator('[data-synced="true"]')).to_be_visible()
    path = teacher.evaluate("location.pathname")

    # Both pupils find it on their home page and open it.
    for pupil in (lea, hugo):
        pupil.goto("/")
        pupil.get_by_role("link", name="Journal de la classe").click()
        expect(pupil.locator('[data-synced="true"]')).to_be_visible()
        assert pupil.evaluate("location.pathname") == path
    # A pupil of another class can neither list nor open it.
    outsider = people.login("Inès Petit")
    expect(outsider.get_by_text("Aucun document.")).to_be_visible()
    expect(outsider.get_by_role("link", name="Journal de la classe")).to_have_count(0)
    outsider.goto(path)
    expect(outsider.locator(".status.error")).to_have_text(
        "Ce document n'existe pas ou ne vous est pas accessible.")
    expect(outsider.get_by_role("heading", level=1)).to_have_text("Document inaccessible")
    expect(outsider.locator(".doc-state")).to_be_hidden()  # not "Connexion au document…"
    expect(outsider.get_by_role("textbox", name="Texte du document")).to_have_count(0)
    # A document that does not exist reads the same: nothing tells them apart.
    unknown = path.rsplit("/", 1)[0] + "/no-such-document"
    outsider.goto(unknown)
    expect(outsider.locator(".status.error")).to_have_text(
        "Ce document n'existe pas ou ne vous est pas accessible.")
    outsider.get_by_role("button", name="Switch to English").click()
    expect(outsider.locator(".status.error")).to_have_text(
        "This document does not exist or is not open to you.")
    expect(outsider.get_by_role("heading", level=1)).to_have_text("Document unavailable")
    expect(outsider.locator(".doc-state")).to_be_hidden()
    outsider.goto(path)
    expect(outsider.locator(".status.error")).to_have_text(
        "This document does not exist or is not open to you.")

    lea_editor = lea.get_by_role("textbox", name="Texte du document")
    hugo_editor = hugo.get_by_role("textbox", name="Texte du document")

    lea_editor.click()
    lea.keyboard.type("Sortie au musée : ")
    expect(hugo_editor).to_contain_text("Sortie au musée :")
    hugo_editor.click()
    hugo.keyboard.press("Control+End")
    hugo.keyboard.type("nous avons vu des fossiles.")
    expect(lea_editor).to_contain_text("Sortie au musée : nous avons vu des fossiles.")
    # Each sees who else is in the document, and the other's named cursor.
    expect(lea.locator(".doc-main .online")).to_contain_text("Hugo Bernard")
    expect(hugo.locator(".ql-cursor-name", has_text="Léa Martin")).to_be_attached()
    lea.screenshot(path=shots / "document-pupil.png")
    # The toolbar's icon buttons have names; bold text travels too (rich text).
    lea_editor.click()
    lea.keyboard.press("Control+End")
    lea.get_by_role("button", name="Gras").click()
    lea.keyboard.type(" Génial")
    expect(hugo_editor.locator("strong")).to_have_text("Génial")

    # The teacher saves a version, locks the document: the pupils only read.
    teacher.get_by_role("button", name="Enregistrer une version").click()
    teacher.get_by_role("dialog").get_by_role("textbox").fill("Premier jet")
    teacher.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(teacher.locator(".versions li", has_text="Premier jet")).to_be_visible()
    teacher.get_by_role("button", name="Verrouiller").click()
    expect(teacher.get_by_role("button", name="Déverrouiller")).to_be_visible()
    expect(lea.locator(".notice")).to_have_text(
        "Document verrouillé par l'enseignant : lecture seule.")
    expect(lea.get_by_role("textbox", name="Texte du document")).to_have_attribute(
        "contenteditable", "false")
    teacher.screenshot(path=shots / "document-teacher.png")

    # Unlocked, a pupil changes the text; the teacher restores the version.
    teacher.get_by_role("button", name="Déverrouiller").click()
    expect(hugo.locator(".notice")).to_be_hidden()
    hugo_editor = hugo.get_by_role("textbox", name="Texte du document")
    expect(hugo_editor).to_have_attribute("contenteditable", "true")
    hugo_editor.click()
    hugo.keyboard.press("Control+End")
    hugo.keyboard.type(" Et des dinosaures !")
    expect(lea.get_by_role("textbox", name="Texte du document")).to_contain_text("dinosaures")
    teacher.get_by_role("button", name="Restaurer Premier jet").click()
    expect(lea.get_by_role("textbox", name="Texte du document")).not_to_contain_text("dinosaures")
    expect(lea.get_by_role("textbox", name="Texte du document")).to_contain_text(
        "Sortie au musée : nous avons vu des fossiles.")
