"""Editing one's own message in the browser (issue 20), at desktop and phone
sizes: the author edits it from the message's menu, everyone sees the new
text marked « modifié » at once and after a reload; others are not offered
the action; the school's audit log keeps the earlier text."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import message_action, open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_the_author_edits_and_everyone_sees_it(people: People, shots: Path, phone: bool) -> None:
    author = people.login("Léa Martin", phone=phone)
    classmate = people.login("Hugo Bernard")
    teacher = people.login("Claire Lefèvre")
    for page in (author, classmate, teacher):
        open_room(page, "6eA")
    size = "phone" if phone else "desktop"
    send(author, f"Le contrôle est mardi ({size})")
    mine = author.locator(".msg[data-seq]", has_text=f"Le contrôle est mardi ({size})")
    expect(mine).to_be_visible()
    # Nobody else is offered to rewrite it, the teacher neither.
    for page in (classmate, teacher):
        other = page.locator(".msg[data-seq]", has_text=f"Le contrôle est mardi ({size})")
        expect(other).to_be_visible()
        menu = other.locator("details.msg-menu")
        menu.locator("summary").click()
        expect(other.get_by_role("button", name="Modifier (Léa Martin)")).to_have_count(0)
        menu.locator("summary").click()

    message_action(mine, "Modifier (Léa Martin)").click()
    dialog = author.get_by_role("dialog")
    expect(dialog.get_by_role("textbox", name="Modifier votre message")).to_have_value(
        f"Le contrôle est mardi ({size})")
    dialog.get_by_role("textbox").fill(f"Le contrôle est jeudi ({size})")
    author.screenshot(path=shots / f"edit-{size}.png")
    dialog.get_by_role("button", name="Valider").click()

    for page in (author, classmate, teacher):
        edited = page.locator(".msg[data-seq]", has_text=f"Le contrôle est jeudi ({size})")
        expect(edited).to_be_visible()
        expect(edited.locator(".edited")).to_have_text("(modifié)")
        expect(page.get_by_text(f"Le contrôle est mardi ({size})")).to_have_count(0)
    classmate.reload()
    edited = classmate.locator(".msg[data-seq]", has_text=f"Le contrôle est jeudi ({size})")
    expect(edited.locator(".edited")).to_have_text("(modifié)")
    if not phone:
        classmate.screenshot(path=shots / "edited-classmate.png")


def test_the_audit_log_keeps_the_earlier_text(people: People) -> None:
    author = people.login("Chloé Dubois")
    open_room(author, "6eA")
    send(author, "Rendez-vous à 10h")
    mine = author.locator(".msg[data-seq]", has_text="Rendez-vous à 10h")
    message_action(mine, "Modifier (Chloé Dubois)").click()
    author.get_by_role("dialog").get_by_role("textbox").fill("Rendez-vous à 11h")
    author.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(author.locator(".msg[data-seq]", has_text="Rendez-vous à 11h")).to_be_visible()

    admin = people.login("Anne Roux")
    admin.get_by_role("link", name="Journal").click()
    entry = admin.locator("li, tr", has_text="Message modifié par son auteur").filter(
        has_text="Rendez-vous à 10h").first
    expect(entry).to_be_visible()
