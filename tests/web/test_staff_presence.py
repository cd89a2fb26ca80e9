"""Issue 20: whether parents see teachers and staff online is the school's
choice, off by default (as ENTs do). Desktop and phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_parents_see_teachers_online_only_if_the_school_says_so(
    people: People, phone: bool,
) -> None:
    teacher = people.login("Sophie Faure")  # teaches 6eB
    parent = people.login("Stéphane Durand" if phone else "Fatima Petit", phone=phone)
    admin = people.login("Anne Roux", phone=phone)
    pupil_name = "Louis Durand" if phone else "Inès Petit"
    parent_name = "Stéphane Durand" if phone else "Fatima Petit"

    teacher.get_by_role("link", name="Nouvelle conversation").first.click()
    teacher.get_by_label("Rechercher une personne").fill(parent_name.split()[1])
    teacher.get_by_role("button", name=f"Écrire à {parent_name}").click()
    teacher.locator('[data-conn="open"]').wait_for()
    send(teacher, f"Bonjour, au sujet de {pupil_name}.")
    open_room(parent, "Sophie Faure")
    expect(parent.locator(".msg", has_text=f"au sujet de {pupil_name}")).to_be_visible()
    # The teacher sees the parent; the parent does not see the teacher online.
    expect(teacher.locator(".room-main .online")).to_contain_text(parent_name)
    expect(parent.locator(".room-main .online")).not_to_contain_text("Sophie Faure")

    admin.goto("/settings")
    box = admin.get_by_label(
        "Les parents voient quand les enseignants et le personnel sont en ligne")
    expect(box).not_to_be_checked()
    expect(admin.locator("#presence-effect")).to_contain_text("Décoché (par défaut)")
    box.check()
    expect(admin.locator("#presence-effect")).to_contain_text("Pas encore enregistré.")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()
    parent.reload()
    expect(parent.locator(".room-main .online")).to_contain_text("Sophie Faure")
    box.uncheck()
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()
