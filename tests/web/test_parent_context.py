"""Issue 20, "Phone first, with context": families share surnames, so a
parent is named with their child — on the parent's home, and wherever a
parent appears to a teacher (the directory search, the conversation list,
the conversation itself, a parents' room's members). Desktop and phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_a_parent_is_named_with_their_child(people: People, shots: Path, phone: bool) -> None:
    parent = people.login("Sandrine Dubois", phone=phone)  # Chloé Dubois's parent
    teacher = people.login("Julien Garnier", phone=phone)
    expect(parent.locator(".children")).to_have_text("Parent de Chloé Dubois (6eA)")
    parent.screenshot(path=shots / f"home-parent{'-phone' if phone else ''}.png")

    teacher.get_by_role("link", name="Nouvelle conversation").first.click()
    teacher.get_by_label("Rechercher une personne").fill("Dubois")
    who = teacher.get_by_role("button", name="Écrire à Sandrine Dubois")
    expect(who).to_contain_text("parent de Chloé Dubois (6eA)")
    # A pupil is named by profile: only parents carry a child.
    expect(teacher.get_by_role("button", name="Écrire à Chloé Dubois")).to_contain_text("Élève")
    teacher.screenshot(path=shots / f"new-conversation-teacher{'-phone' if phone else ''}.png")
    who.click()
    expect(teacher.get_by_role("heading", name="Sandrine Dubois")).to_be_visible()
    # Under the title, which already is her name: only whose parent she is.
    expect(teacher.locator(".room-context")).to_have_text("parent de Chloé Dubois (6eA)")
    teacher.locator('[data-conn="open"]').wait_for()
    send(teacher, f"Bonjour, un mot sur Chloé ({phone}).")
    sent = teacher.locator(".msg[data-seq]", has_text=f"un mot sur Chloé ({phone})")
    expect(sent).to_be_visible()
    teacher.goto("/")
    link = teacher.locator(".room-link", has_text="Sandrine Dubois")
    expect(link.locator(".room-name")).to_have_text(
        "Sandrine Dubois · parent de Chloé Dubois (6eA)")
    teacher.get_by_role("button", name="Switch to English").click()
    expect(link.locator(".room-name")).to_have_text(
        "Sandrine Dubois · parent of Chloé Dubois (6eA)")
    link.click()
    expect(teacher.locator(".room-context")).to_have_text("parent of Chloé Dubois (6eA)")
    teacher.get_by_role("button", name="Passer en français").click()

    # The parent sees the teacher by name and profile only.
    open_room(parent, "Julien Garnier")
    expect(parent.locator(".room-context")).to_have_text("")
