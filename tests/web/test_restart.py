"""The server restarts under open pages: they say they are offline, reconnect
by themselves with the same session, and nothing is shown twice."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send


def test_pages_survive_a_server_restart(people: People) -> None:
    teacher = people.login("Sophie Faure")
    pupil = people.login("Inès Petit")
    open_room(teacher, "6eB")
    open_room(pupil, "6eB")
    send(teacher, "Avant le redémarrage")
    expect(pupil.locator(".msg", has_text="Avant le redémarrage")).to_have_count(1)

    people.server.stop()  # SIGTERM: sockets closed with 1001
    for page in (teacher, pupil):
        expect(page.locator(".conn")).to_have_text("Hors ligne, reconnexion…")
    people.server.start()
    for page in (teacher, pupil):
        expect(page.locator('[data-conn="open"]')).to_be_visible(timeout=20_000)

    send(teacher, "Après le redémarrage")
    expect(pupil.locator(".msg", has_text="Après le redémarrage")).to_have_count(1)
    expect(pupil.locator(".msg", has_text="Avant le redémarrage")).to_have_count(1)
    send(pupil, "Je suis toujours là")
    expect(teacher.locator(".msg", has_text="Je suis toujours là")).to_have_count(1)
