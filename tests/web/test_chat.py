"""A pupil and a teacher in the class chat, in two browsers."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.web.conftest import People


def open_room(page: Page, name: str) -> None:
    page.locator(".room-link", has_text=name).first.click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    page.locator('[data-conn="open"]').wait_for()


def write_to(page: Page, name: str, *, search: str | None = None) -> None:
    """Open a private conversation with ``name`` from « Nouvelle conversation »
    (found by ``search``, their first name by default)."""
    page.get_by_role("link", name="Nouvelle conversation").first.click()
    page.get_by_label("Rechercher une personne").fill(search or name.split()[0])
    page.get_by_role("button", name=f"Écrire à {name}").click()
    page.locator('[data-conn="open"]').wait_for()


def message_action(message: Locator, name: str) -> Locator:
    """A message's secondary action (report, delete, withdraw): in its "⋯" menu."""
    menu = message.locator("details.msg-menu")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
    return message.get_by_role("button", name=name)


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

    # Keyboard focus stays put while messages arrive (no full redraw).
    report = message_action(pupil.locator(".msg", has_text="sortez vos cahiers"),
                            "Signaler (Claire Lefèvre)")
    report.focus()
    send(teacher, "Page 42")
    expect(pupil.locator(".msg", has_text="Page 42")).to_be_visible()
    expect(report).to_be_focused()
    pupil.keyboard.press("Escape")

    # The network drops; meanwhile the teacher writes. The pupil's app
    # reconnects by itself and catches up once, without duplicates.
    pupil.evaluate("window.preau.drop()")
    send(pupil, "Écrit hors ligne")  # fails now, goes again by itself (same txn)
    send(teacher, "Message pendant la coupure")
    expect(pupil.locator(".msg", has_text="Message pendant la coupure")).to_have_count(1)
    expect(pupil.locator('[data-conn="open"]')).to_be_visible()
    expect(teacher.locator(".msg[data-seq]", has_text="Écrit hors ligne")).to_have_count(1)
    expect(pupil.locator(".msg", has_text="Écrit hors ligne")).to_have_count(1)
    expect(pupil.locator(".msg.failed")).to_have_count(0)
    send(teacher, "Et un après")
    expect(pupil.locator(".msg", has_text="Et un après")).to_have_count(1)
    assert pupil.locator(".msg", has_text="Bonjour Madame").count() == 1

    # Text is text: markup in a message is shown, never interpreted.
    send(teacher, "<img src=x onerror=alert(1)> <b>gras</b>")
    shown = pupil.locator(".msg", has_text="<b>gras</b>")
    expect(shown).to_be_visible()
    expect(shown.locator("img, b")).to_have_count(0)

    # A reload reads the history from the server.
    pupil.reload()
    expect(pupil.locator(".msg", has_text="sortez vos cahiers")).to_have_count(1)


def premoderate_pupils(teacher: Page, pupil: Page) -> None:
    """In the room both have open, the teacher turns pre-moderation on for
    pupils, and the pupil is told."""
    teacher.get_by_role("button", name="Modération").click()
    teacher.get_by_label("Relecture avant publication").select_option("pupils")
    teacher.get_by_role("button", name="Enregistrer").click()
    expect(teacher.get_by_role("status").filter(has_text="Règles enregistrées")).to_be_visible()
    expect(pupil.locator(".notice", has_text="relus par un enseignant")).to_be_visible()


def test_teacher_holds_and_approves_a_pupil_message(people: People, shots: Path) -> None:
    teacher = people.login("Julien Garnier")
    pupil = people.login("Hugo Bernard")
    open_room(teacher, "6eA")
    open_room(pupil, "6eA")
    premoderate_pupils(teacher, pupil)

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

    # Slow mode: one message every 30 s; the second is refused and says why.
    teacher.get_by_label("Relecture avant publication").select_option("off")
    teacher.get_by_label("Mode lent (secondes, 0 = désactivé)").fill("30")
    teacher.get_by_role("button", name="Enregistrer").click()
    expect(pupil.locator(".notice", has_text="Mode lent : un message toutes les 30 s.")
           ).to_be_visible()
    send(pupil, "Premier")
    expect(teacher.locator(".msg[data-seq]", has_text="Premier")).to_be_visible()
    send(pupil, "Deuxième trop vite")
    expect(pupil.locator(".msg.failed", has_text="Deuxième trop vite")).to_contain_text(
        "Mode lent : attendez")

    # Back to normal for the next tests.
    teacher.get_by_label("Mode lent (secondes, 0 = désactivé)").fill("0")
    teacher.get_by_role("button", name="Enregistrer").click()
    expect(pupil.locator(".notice", has_text="relus par un enseignant")).to_have_count(0)
    expect(pupil.locator(".notice", has_text="Mode lent")).to_have_count(0)
