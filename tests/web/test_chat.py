"""A pupil and a teacher in the class chat, in two browsers."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.conftest import People


def open_room(page: Page, name: str) -> None:
    page.locator(".room-link", has_text=name).first.click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    page.locator('[data-conn="open"]').wait_for()


def send(page: Page, text: str) -> None:
    page.get_by_label("Votre message").fill(text)
    page.get_by_label("Votre message").press("Enter")


def test_pupil_and_teacher_chat_live(people: People, shots: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Léa Martin")
    teacher.screenshot(path=shots / "home-teacher.png")
    open_room(pupil, "6eA")
    open_room(teacher, "6eA")
    # Presence: each sees the other online.
    expect(pupil.locator(".room-main .online")).to_contain_text("Claire Lefèvre")
    expect(teacher.locator(".room-main .online")).to_contain_text("Léa Martin")

    # Typing shows on the other side, then the message arrives live.
    pupil.get_by_label("Votre message").fill("Bonjour Madame")
    expect(teacher.locator(".typing")).to_contain_text("Léa Martin écrit")
    pupil.get_by_label("Votre message").press("Enter")
    expect(teacher.locator(".msg", has_text="Bonjour Madame")).to_be_visible()
    send(teacher, "Bonjour Léa, sortez vos cahiers.")
    expect(pupil.locator(".msg", has_text="sortez vos cahiers")).to_be_visible()
    pupil.screenshot(path=shots / "chat-pupil.png")

    # The network drops; meanwhile the teacher writes. The pupil's app
    # reconnects by itself and catches up once, without duplicates.
    pupil.evaluate("window.preau.drop()")
    send(teacher, "Message pendant la coupure")
    expect(pupil.locator(".msg", has_text="Message pendant la coupure")).to_have_count(1)
    expect(pupil.locator('[data-conn="open"]')).to_be_visible()
    send(teacher, "Et un après")
    expect(pupil.locator(".msg", has_text="Et un après")).to_have_count(1)
    assert pupil.locator(".msg", has_text="Bonjour Madame").count() == 1

    # A reload reads the history from the server.
    pupil.reload()
    expect(pupil.locator(".msg", has_text="sortez vos cahiers")).to_have_count(1)


def test_teacher_holds_and_approves_a_pupil_message(people: People, shots: Path) -> None:
    teacher = people.login("Julien Garnier")
    pupil = people.login("Hugo Bernard")
    open_room(teacher, "6eA")
    open_room(pupil, "6eA")

    # The teacher turns pre-moderation on for pupils.
    teacher.get_by_role("button", name="Modération").click()
    teacher.get_by_label("Relecture avant publication").select_option("pupils")
    teacher.get_by_role("button", name="Enregistrer").click()
    expect(teacher.get_by_role("status").filter(has_text="Règles enregistrées")).to_be_visible()
    expect(pupil.locator(".notice", has_text="relus par un enseignant")).to_be_visible()

    send(pupil, "Je peux poser une question ?")
    pending = pupil.locator(".msg.pending", has_text="Je peux poser une question ?")
    expect(pending).to_contain_text("En attente de validation")
    held = teacher.locator(".held-item", has_text="Je peux poser une question ?")
    expect(held).to_be_visible()
    # Nobody else sees a held message: the timeline has no such entry.
    expect(teacher.locator(".messages .msg", has_text="Je peux poser une question ?")
           ).to_have_count(0)
    teacher.screenshot(path=shots / "moderation-teacher.png")
    pupil.screenshot(path=shots / "held-pupil.png")

    held.get_by_role("button", name="Publier").click()
    expect(held).to_have_count(0)
    posted = pupil.locator(".messages .msg[data-seq]", has_text="Je peux poser une question ?")
    expect(posted).to_have_count(1)
    expect(pupil.locator(".msg.pending")).to_have_count(0)
    expect(teacher.locator(".messages .msg[data-seq]", has_text="Je peux poser une question ?")
           ).to_have_count(1)

    # A rejected one tells its author why.
    send(pupil, "Hors sujet total")
    held = teacher.locator(".held-item", has_text="Hors sujet total")
    held.get_by_role("button", name="Refuser").click()
    teacher.get_by_role("dialog").get_by_role("textbox").fill("Pas ici.")
    teacher.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(pupil.locator(".msg.rejected", has_text="Hors sujet total")).to_contain_text("Pas ici.")

    # Back to normal for the next tests.
    teacher.get_by_label("Relecture avant publication").select_option("off")
    teacher.get_by_role("button", name="Enregistrer").click()
    expect(pupil.locator(".notice", has_text="relus par un enseignant")).to_have_count(0)
