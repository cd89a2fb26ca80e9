"""Parents: the parents' room and a private conversation with a teacher that
another parent cannot see."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.server.live import PASSWORD
from tests.web.conftest import People, activate
from tests.web.test_chat import open_room, send


def test_parent_messages_a_teacher_privately(people: People, shots: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    parent = people.login("Camille Martin", phone=True)
    other = people.login("Julien Bernard")

    # A parent sees parents' rooms and conversations, never a class room.
    expect(parent.get_by_role("heading", name="Mes classes")).to_have_count(0)
    expect(parent.locator(".room-link", has_text="6eA")).to_have_count(0)

    # The teacher opens the class's parents' room; both parents are in it.
    teacher.get_by_role("button", name="Ouvrir la salle des parents de 6eA").click()
    expect(teacher.get_by_role("heading", name="Parents 6eA")).to_be_visible()
    send(teacher, "Réunion parents-professeurs jeudi à 18 h.")
    for person in (parent, other):
        person.goto("/")
        open_room(person, "Parents 6eA")
        expect(person.locator(".msg", has_text="jeudi à 18 h")).to_be_visible()

    # Camille writes to the teacher privately, from a phone.
    parent.goto("/")
    parent.get_by_role("link", name="Nouvelle conversation").first.click()
    parent.get_by_label("Rechercher une personne").fill("Lefèvre")
    parent.get_by_role("button", name="Écrire à Claire Lefèvre").click()
    expect(parent.get_by_role("heading", name="Claire Lefèvre")).to_be_visible()
    parent.locator('[data-conn="open"]').wait_for()
    send(parent, "Bonjour, Léa sera absente demain matin.")
    expect(parent.locator(".msg[data-seq]", has_text="absente demain")).to_be_visible()
    room_path = parent.evaluate("location.pathname")
    parent.screenshot(path=shots / "private-parent-phone.png")

    # The teacher finds it on her home page and answers; the parent sees it live.
    teacher.goto("/")
    conversation = teacher.locator(".room-link", has_text="Camille Martin")
    expect(conversation.locator(".badge")).to_have_text("1")
    teacher.screenshot(path=shots / "home-teacher-unread.png")
    conversation.click()
    expect(teacher.locator(".msg", has_text="absente demain")).to_be_visible()
    send(teacher, "Merci, c'est noté.")
    expect(parent.locator(".msg", has_text="c'est noté")).to_be_visible()
    # Read receipts in a private conversation: the parent sees the teacher read it.
    expect(parent.locator(".msg", has_text="absente demain").locator(".seen")).to_have_text(
        "Vu par Claire Lefèvre")

    # Read markers live on the server: back home (or on a new page), no badge.
    teacher.goto("/")
    expect(teacher.locator(".room-link", has_text="Camille Martin")).to_be_visible()
    expect(teacher.locator(".room-link", has_text="Camille Martin").locator(".badge")
           ).to_have_count(0)

    # Another parent: not on their home page, and the room itself is refused.
    other.goto("/")
    expect(other.get_by_role("heading", name="Conversations privées")).to_be_visible()
    expect(other.locator(".room-link", has_text="Claire Lefèvre")).to_have_count(0)
    other.goto(room_path)
    # Out of reach looks exactly like a room that does not exist.
    expect(other.locator(".status.error")).to_have_text("Introuvable.")
    expect(other.locator(".msg")).to_have_count(0)
    expect(other.get_by_text("absente demain")).to_have_count(0)
    # And the search does not offer another parent to write to.
    other.goto("/new")
    other.get_by_label("Rechercher une personne").fill("Martin")
    expect(other.locator(".people li")).not_to_have_count(0)
    expect(other.get_by_role("button", name="Écrire à Camille Martin")).to_have_count(0)


def test_staff_open_the_school_parents_room(people: People) -> None:
    staff = people.login("Anne Roux")
    parent = people.login("Nathalie Robert")
    staff.get_by_role("button", name="Ouvrir la salle des parents de l'établissement").click()
    heading = staff.locator(".room-view h1")
    expect(heading).not_to_have_text("…")
    name = heading.inner_text()
    staff.locator('[data-conn="open"]').wait_for()
    send(staff, "Portes ouvertes samedi matin.")
    parent.goto("/")
    open_room(parent, name)
    expect(parent.locator(".msg", has_text="Portes ouvertes samedi")).to_be_visible()


def _set_parents_may_message(people: People, value: bool) -> None:
    """The school admin's switch, over the REST API."""
    base = people.server.base_url
    login = activate(people.server, "Anne Roux")
    token = httpx.post(base + "/api/auth/login", json={
        "login": login, "password": PASSWORD, "kind": "bearer"}, timeout=10).json()["token"]
    headers = {"authorization": f"Bearer {token}"}
    school = httpx.get(base + "/api/me", headers=headers, timeout=10).json()["school"]["id"]
    response = httpx.put(f"{base}/api/schools/{school}/settings", headers=headers,
                         json={"parents_may_message": value}, timeout=10)
    assert response.status_code == 200, response.text


def test_a_conversation_closes_when_the_school_turns_parents_messages_off(
    people: People, shots: Path
) -> None:
    _set_parents_may_message(people, True)
    try:
        karim = people.login("Karim Thomas", phone=True)
        olivier = people.login("Olivier Richard")
        karim.get_by_role("link", name="Nouvelle conversation").first.click()
        karim.get_by_label("Rechercher une personne").fill("Richard")
        karim.get_by_role("button", name="Écrire à Olivier Richard").click()
        expect(karim.get_by_role("heading", name="Olivier Richard")).to_be_visible()
        karim.locator('[data-conn="open"]').wait_for()
        send(karim, "Bonjour, covoiturage pour la sortie ?")
        olivier.goto("/")
        open_room(olivier, "Karim Thomas")
        expect(olivier.locator(".msg", has_text="covoiturage")).to_be_visible()
    finally:
        _set_parents_may_message(people, False)
    # Both see it closed at once, can reread it, and can no longer write.
    for page in (karim, olivier):
        expect(page.get_by_text("Cette conversation est fermée")).to_be_visible()
        expect(page.get_by_label("Votre message")).to_be_disabled()
        expect(page.locator(".msg", has_text="covoiturage")).to_be_visible()
    karim.screenshot(path=shots / "conversation-closed-phone.png")
