"""Issue 20, quiet hours: delivery hours are chosen, not typed; a teacher who
changes a room's delivery hours is offered to post at once what already
waits. Desktop and phone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_changing_a_rooms_hours_offers_to_post_what_waits(
    people: People, shots: Path, phone: bool,
) -> None:
    admin = people.login("Anne Roux")
    teacher = people.login("Sophie Faure", phone=phone)
    pupil = people.login("Jade Leroy")
    admin.goto("/settings")
    closed = admin.evaluate("""() => {
        const now = new Date(new Date().toLocaleString('en-US', {timeZone: 'Europe/Paris'}));
        const at = (h) => String((now.getHours() + h) % 24).padStart(2, '0') + ':00';
        return [at(2), at(3)];
    }""")
    admin.get_by_label("Remise").select_option("window")
    admin.get_by_label("De", exact=True).fill(closed[0])
    admin.get_by_label("À", exact=True).fill(closed[1])
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()

    open_room(teacher, "6eB")
    open_room(pupil, "6eB")
    text = f"Sortie demain ({phone})"
    send(teacher, text)
    # "à 09:00", or "à 6 déc. 00:00" when the window opens tomorrow.
    expect(teacher.locator(".msg.scheduled", has_text=text)).to_contain_text(
        re.compile(rf"Sera publié à [^()]*{re.escape(closed[0])}"))
    # A pupil's evening message waits too: she may withdraw it, not send it
    # sooner (only a teacher or staff sends their own through quiet hours).
    asked = f"Qui a fini l'exercice ? ({phone})"
    send(pupil, asked)
    waiting = pupil.locator(".msg.scheduled", has_text=asked)
    expect(waiting).to_contain_text("Sera publié")
    expect(waiting.get_by_role("button", name="Envoyer maintenant")).to_have_count(0)
    waiting.get_by_role("button", name="Annuler").click()
    expect(waiting).to_have_count(0)
    teacher.get_by_role("button", name="Modération").click()
    panel = teacher.locator("#moderation")
    delivery = panel.get_by_label("Remise")
    expect(delivery).to_have_value("school")
    expect(panel.get_by_label("De", exact=True)).to_be_hidden()
    delivery.select_option("off")
    panel.get_by_role("button", name="Enregistrer").click()
    expect(panel.locator(".release")).to_contain_text(
        "1 message attend les heures de remise dans cette salle.")
    teacher.screenshot(path=shots / f"release-teacher{'-phone' if phone else ''}.png")
    panel.get_by_role("button", name="Les publier maintenant").click()
    expect(pupil.locator(".msg[data-seq]", has_text=text)).to_be_visible()
    expect(teacher.locator(".msg.scheduled")).to_have_count(0)
    # Back as it was: the school's hours, then none. Editing a form takes its
    # last "saved" away, so each "saved" below is this save's (a stale one let
    # the test end before the save, and leave the hours to the next test).
    rules_saved = teacher.get_by_role("status").filter(has_text="Règles enregistrées")
    panel.get_by_label("Remise").select_option("school")
    expect(rules_saved).to_have_count(0)
    panel.get_by_role("button", name="Enregistrer").click()
    expect(rules_saved).to_be_visible()
    settings_saved = admin.get_by_role("status").filter(has_text="Réglages enregistrés")
    admin.get_by_label("Remise").select_option("off")
    expect(settings_saved).to_have_count(0)
    admin.get_by_role("button", name="Enregistrer").click()
    expect(settings_saved).to_be_visible()
