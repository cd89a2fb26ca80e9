"""The notification centre in the browser: a parent's badge counts what a
teacher's private messages brought, live; the panel lists who and where
(never the message), opens the conversation and marks it read; a recalled
message's notification disappears live; "Tout marquer comme lu" empties the
badge; Escape gives the focus back. Axe audit of the open panel."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.server.live import PASSWORD, LiveServer
from tests.web.conftest import People, activate
from tests.web.test_accessibility import audit
from tests.web.test_chat import send, write_to


def recall(server: LiveServer, name: str, room: str, seq: int) -> None:
    login = activate(server, name)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        token = http.post("/api/auth/login", json={
            "login": login, "password": PASSWORD, "kind": "bearer"}).json()["token"]
        answer = http.post(f"/api/rooms/{room}/messages/{seq}/redact",
                           headers={"authorization": f"Bearer {token}"}, json={})
        assert answer.status_code == 200, answer.text


def test_badge_and_panel(people: People, server: LiveServer, shots: Path) -> None:
    parent = people.login("Camille Martin", bypass_csp=True)
    button = parent.get_by_role("button", name="Notifications", exact=True)
    expect(button).to_be_visible()
    expect(button.locator(".badge")).to_have_count(0)

    # The teacher writes to her privately, twice.
    teacher = people.login("Claire Lefèvre")
    write_to(teacher, "Camille Martin")
    send(teacher, "Léa a oublié son cahier de textes.")
    first = teacher.locator(".msg[data-seq]", has_text="cahier de textes")
    expect(first).to_be_visible()
    send(teacher, "Pouvez-vous me rappeler ?")
    second = teacher.locator(".msg[data-seq]", has_text="me rappeler")
    expect(second).to_be_visible()
    room = teacher.evaluate("location.pathname").split("/")[-1]

    # Live: conversation opened + two messages.
    counted = parent.get_by_role("button", name="Notifications 3 non lues")
    expect(counted).to_be_visible()
    expect(counted.locator(".badge")).to_have_text("3")
    counted.click()
    expect(counted).to_have_attribute("aria-expanded", "true")
    panel = parent.get_by_role("region", name="Notifications")
    expect(panel).to_be_visible()
    items = panel.get_by_role("listitem")
    expect(items).to_have_count(3)
    expect(items.nth(2)).to_contain_text("Claire Lefèvre a ouvert une conversation avec vous")
    expect(items.nth(0)).to_have_text(
        re.compile("^Non lu : Nouveau message privé de Claire Lefèvre"))
    expect(panel).not_to_contain_text("cahier")  # never the content
    assert audit(parent, "notifications/desktop") == []
    parent.screenshot(path=shots / "notifications-panel.png")

    # The teacher recalls her second message: its notification goes, live.
    recall(server, "Claire Lefèvre", room, int(second.get_attribute("data-seq") or 0))
    expect(items).to_have_count(2)
    expect(parent.get_by_role("button", name="Notifications 2 non lues")).to_be_visible()

    # Following one opens the conversation and marks it read.
    items.nth(0).get_by_role("link").click()
    expect(parent.locator(".msg", has_text="cahier de textes")).to_be_visible()
    expect(panel).to_be_hidden()
    badge = parent.get_by_role("button", name="Notifications 1 non lue")
    expect(badge).to_be_visible()

    # Escape closes the panel and gives the focus back to the button.
    badge.click()
    expect(panel).to_be_visible()
    parent.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(badge).to_be_focused()

    badge.click()
    panel.get_by_role("button", name="Tout marquer comme lu").click()
    expect(button).to_be_visible()
    expect(button.locator(".badge")).to_have_count(0)
    expect(panel.get_by_role("button", name="Tout marquer comme lu")).to_be_disabled()

    # After a reload, the store says the same.
    parent.reload()
    parent.locator('[data-conn="open"]').wait_for()
    expect(parent.get_by_role("button", name="Notifications", exact=True)).to_be_visible()


def test_in_english_on_a_phone(people: People) -> None:
    parent = people.login("Julien Bernard", phone=True, locale="en-GB")
    teacher = people.login("Claire Lefèvre")
    write_to(teacher, "Julien Bernard", search="Julien Bernard")
    send(teacher, "Réunion demain.")
    parent.get_by_role("button", name="English").click()
    counted = parent.get_by_role("button", name="Notifications 2 unread")
    expect(counted).to_be_visible()
    counted.click()
    panel = parent.get_by_role("region", name="Notifications")
    expect(panel.get_by_role("listitem").first).to_contain_text(
        "New private message from Claire Lefèvre")


def test_preferences_screen(people: People, server: LiveServer, shots: Path) -> None:
    parent = people.login("Sandrine Dubois", bypass_csp=True)
    parent.get_by_role("button", name="Notifications", exact=True).click()
    parent.get_by_role("link", name="Mes préférences").click()
    expect(parent.get_by_role("heading", level=1, name="Mes notifications")).to_be_visible()
    messages = parent.get_by_label("Messages privés")
    expect(messages).to_have_value("")
    expect(messages.locator("option").first).to_have_text(
        "Par défaut (par courriel, tout de suite)")
    assert audit(parent, "notification-preferences/desktop") == []
    messages.select_option(label="jamais")
    parent.get_by_role("button", name="Enregistrer").click()
    expect(parent.get_by_role("status").filter(has_text="Enregistré")).to_be_visible()
    parent.evaluate("window.scrollTo(0, 0)")
    parent.screenshot(path=shots / "notification-preferences.png")

    # Never: a private message tells her of the conversation only.
    teacher = people.login("Claire Lefèvre")
    write_to(teacher, "Sandrine Dubois")
    send(teacher, "Chloé a bien travaillé.")
    expect(teacher.locator(".msg[data-seq]", has_text="bien travaillé")).to_be_visible()
    parent.reload()
    parent.locator('[data-conn="open"]').wait_for()
    expect(parent.get_by_role("button", name="Notifications 1 non lue")).to_be_visible()
    expect(parent.get_by_label("Messages privés")).to_have_value("never")

    # A pupil chooses between the app and never only.
    pupil = people.login("Nathan Thomas")
    pupil.goto("/notifications")
    options = pupil.get_by_label("Annonces à confirmer").locator("option")
    expect(options).to_have_text(["Par défaut (dans l'application)", "dans l'application",
                                  "jamais"])


def test_the_school_forces_a_kind_and_sees_its_mails(people: People) -> None:
    admin = people.login("Anne Roux", bypass_csp=True)
    admin.get_by_role("link", name="Notifications de l'établissement").click()
    expect(admin.get_by_role("heading", level=1, name="Notifications de l'établissement")) \
        .to_be_visible()
    expect(admin.get_by_text("Courriels : 0 envoyé,")).to_be_visible()
    expect(admin.get_by_text("Notifications sur les appareils : 0 appareil abonné")) \
        .to_be_visible()
    expect(admin.get_by_label(re.compile("^Un court extrait"))).not_to_be_checked()
    assert audit(admin, "school-notifications/desktop") == []
    admin.get_by_label("Annonces à confirmer").select_option(label="Exigée pour tous")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="enregistrés")).to_be_visible()

    # A parent may no longer turn announcements off.
    parent = people.login("Nathalie Robert")
    parent.goto("/notifications")
    select = parent.get_by_label("Annonces à confirmer")
    expect(select.locator("option")).to_have_count(5)  # default + 4: never is gone
    expect(parent.get_by_text("Votre établissement exige cette notification.")).to_be_visible()
