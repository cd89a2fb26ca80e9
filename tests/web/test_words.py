"""Issue 20, "Nothing fails silently": a message the word filter blocked is
not offered "Renvoyer" (it can never pass) but its text comes back to be
changed; the audit log names actions in French with their date; the app's
language reaches the server's messages. Desktop and phone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_a_blocked_message_comes_back_to_be_changed_not_resent(
    people: People, shots: Path, phone: bool,
) -> None:
    admin = people.login("Anne Roux", phone=phone)
    pupil = people.login("Gabriel Moreau", phone=phone)
    admin.goto("/words")
    admin.get_by_label("Bloqués (le message est refusé)").fill("andouille")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Listes enregistrées")).to_be_visible()

    open_room(pupil, "6eB")
    send(pupil, f"Espèce d'andouille ({phone})")
    failed = pupil.locator(".msg.failed", has_text=f"Espèce d'andouille ({phone})")
    expect(failed).to_contain_text("Ce message contient des mots interdits dans l'établissement.")
    expect(failed.get_by_role("button", name="Renvoyer")).to_have_count(0)
    pupil.screenshot(path=shots / f"filtered-pupil{'-phone' if phone else ''}.png")
    failed.get_by_role("button", name="Reprendre le texte").click()
    expect(failed).to_have_count(0)
    box = pupil.get_by_label("Votre message")
    expect(box).to_have_value(f"Espèce d'andouille ({phone})")
    expect(box).to_be_focused()
    box.fill(f"Pardon ({phone})")
    box.press("Enter")
    expect(pupil.locator(".msg[data-seq]", has_text=f"Pardon ({phone})")).to_be_visible()

    # The log: the block list's change in words, with its date.
    admin.goto("/audit")
    row = admin.locator("table.audit tbody tr", has_text="Listes de mots modifiées").first
    expect(row).to_be_visible()
    expect(row.locator("td").first).to_have_text(re.compile(r"^\d{1,2} \S+ \d{4}, \d\d:\d\d$"))
    expect(admin.locator("table.audit")).not_to_contain_text("word_filter.change")
