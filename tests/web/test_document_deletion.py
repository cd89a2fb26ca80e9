"""A teacher deletes a class document after a confirmation: a pupil reading
it is told it is gone, and the lists drop it; a pupil has no delete button."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Dialog, expect

from tests.web.conftest import People

TITLE = "Brouillon à jeter"


def test_a_teacher_deletes_a_document_after_confirming(people: People) -> None:
    teacher = people.login("Claire Lefèvre")
    lea = people.login("Léa Martin")
    teacher.get_by_label("Titre du document").fill(TITLE)
    teacher.get_by_label("Classe").select_option(label="6eA")
    teacher.get_by_role("button", name="Créer").click()
    expect(teacher.locator('[data-synced="true"]')).to_be_visible()
    path = teacher.evaluate("location.pathname")

    # The pupil edits it but may not delete it: no button, here or on her list.
    lea.goto("/")
    expect(lea.get_by_role("link", name=TITLE)).to_be_visible()
    expect(lea.get_by_role("button", name=f"Supprimer « {TITLE} »")).to_have_count(0)
    lea.goto(path)
    expect(lea.locator('[data-synced="true"]')).to_be_visible()
    expect(lea.get_by_role("button", name="Supprimer")).to_have_count(0)

    # Dismissing the confirmation changes nothing.
    asked: list[str] = []

    def answer(accept: bool) -> Callable[[Dialog], None]:
        def on_dialog(dialog: Dialog) -> None:
            asked.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()
        return on_dialog

    teacher.once("dialog", answer(False))
    teacher.get_by_role("button", name="Supprimer").click()
    expect(teacher.get_by_role("heading", level=1)).to_have_text(TITLE)
    assert asked == [
        f"Supprimer définitivement « {TITLE} » ? Cette action est irréversible."]

    teacher.once("dialog", answer(True))
    teacher.get_by_role("button", name="Supprimer").click()
    # Back home, where the list no longer holds it.
    expect(teacher.get_by_role("heading", name="Documents")).to_be_visible()
    expect(teacher.get_by_role("link", name=TITLE)).to_have_count(0)
    # The pupil's open page says the document went; no editor is left.
    expect(lea.get_by_role("heading", level=1)).to_have_text("Document inaccessible")
    expect(lea.locator(".status.error")).to_have_text(
        "Ce document a été supprimé ou ne vous est plus accessible.")
    expect(lea.get_by_role("textbox", name="Texte du document")).to_have_count(0)
    lea.goto("/")
    expect(lea.get_by_role("link", name=TITLE)).to_have_count(0)


def test_the_home_list_deletes_too_and_refreshes_for_everyone(people: People) -> None:
    teacher = people.login("Julien Garnier")
    hugo = people.login("Hugo Bernard")
    title = "Liste de courses"
    teacher.get_by_label("Titre du document").fill(title)
    teacher.get_by_label("Classe").select_option(label="6eA")
    teacher.get_by_role("button", name="Créer").click()
    expect(teacher.locator('[data-synced="true"]')).to_be_visible()
    teacher.goto("/")
    hugo.goto("/")
    expect(hugo.get_by_role("link", name=title)).to_be_visible()

    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.get_by_role("button", name=f"Supprimer « {title} »").click()
    expect(teacher.get_by_text(f"Document « {title} » supprimé.")).to_be_visible()
    expect(teacher.get_by_role("link", name=title)).to_have_count(0)
    # The pupil's home page follows live (document.changed), without a reload.
    expect(hugo.get_by_role("link", name=title)).to_have_count(0)
