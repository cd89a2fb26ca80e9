"""Issue 20: search in a room's history — found on the server, under the
circle of trust (tests/server/chat/test_search.py), shown with the words
marked, and one tap shows the message in the conversation, loading older
pages as needed. Desktop and phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_search_in_a_room(people: People, shots: Path, phone: bool) -> None:
    teacher = people.login("Julien Garnier")
    pupil = people.login("Nathan Thomas", phone=phone)
    open_room(teacher, "6eA")
    word = f"piscine{'tel' if phone else 'pc'}"
    send(teacher, f"Sortie {word} mardi : maillot et serviette.")
    expect(teacher.locator(".msg[data-seq]", has_text=word)).to_be_visible()
    open_room(pupil, "6eA")
    pupil.get_by_role("button", name="Rechercher", exact=True).click()
    pupil.get_by_label("Rechercher dans les messages").fill(word.upper())
    pupil.get_by_role("button", name="Chercher", exact=True).click()
    results = pupil.locator(".search-results .msg")
    expect(results).to_have_count(1)
    expect(results.locator("mark")).to_have_text(word)
    expect(pupil.locator(".room-search")).to_contain_text("1 message trouvé.")
    pupil.screenshot(path=shots / f"search{'-phone' if phone else ''}.png")
    results.get_by_role("button", name="Voir dans la conversation").click()
    found = pupil.locator(".timeline .msg.found")
    expect(found).to_contain_text(word)
    expect(found).to_be_focused()
    pupil.get_by_label("Rechercher dans les messages").fill("introuvable")
    pupil.get_by_role("button", name="Chercher", exact=True).click()
    expect(pupil.locator(".room-search")).to_contain_text("Aucun message ne contient ces mots.")
