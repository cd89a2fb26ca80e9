"""Issue 20, "Safety first": the parents' setting says what it does before it
is saved; a deletion's reason reaches its author and the moderators only; a
muted pupil sees the mute in the message box and their typing reaches nobody.
Each at desktop and phone size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import message_action, open_room, send

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.mark.parametrize("phone", SIZES)
def test_the_parents_setting_says_what_it_does_before_saving(
    people: People, shots: Path, phone: bool,
) -> None:
    admin = people.login("Anne Roux", phone=phone)
    admin.goto("/settings")
    box = admin.get_by_label("Les parents d'une même classe peuvent s'écrire entre eux")
    expect(box).not_to_be_checked()
    effect = admin.locator("#parents-effect")
    expect(effect).to_contain_text("Décoché (par défaut) : un parent n'écrit qu'aux enseignants")
    box.check()
    expect(effect).to_contain_text("les parents d'une même classe se trouvent dans l'annuaire")
    expect(effect).to_contain_text("Pas encore enregistré.")
    admin.screenshot(path=shots / f"settings-parents{'-phone' if phone else ''}.png")
    box.uncheck()  # changed mind: nothing saved, nothing to undo
    expect(effect).not_to_contain_text("Pas encore enregistré.")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()


@pytest.mark.parametrize("phone", SIZES)
def test_a_deletion_reason_reaches_the_author_and_moderators_only(
    people: People, phone: bool,
) -> None:
    teacher = people.login("Julien Garnier")
    author = people.login("Chloé Dubois", phone=phone)
    classmate = people.login("Nathan Thomas", phone=phone)
    for page in (teacher, author, classmate):
        open_room(page, "6eA")
    text = f"Tu es bête ({'téléphone' if phone else 'ordinateur'})"
    send(author, text)
    expect(classmate.locator(".msg", has_text=text)).to_be_visible()
    # The classmate reports it; the teacher deletes it in the room, with a reason.
    message_action(classmate.locator(".msg", has_text=text), "Signaler (Chloé Dubois)").click()
    classmate.get_by_role("dialog").get_by_role("button", name="Valider").click()
    message = teacher.locator(".msg", has_text=text)
    message_action(message, "Supprimer (Chloé Dubois)").click()
    dialog = teacher.get_by_role("dialog")
    expect(dialog).to_contain_text("lue seulement par l'auteur du message, les modérateurs")
    dialog.get_by_role("textbox").fill("propos blessant")
    dialog.get_by_role("button", name="Valider").click()

    for page in (author, classmate, teacher):
        expect(page.get_by_text(text)).to_have_count(0)
        expect(page.locator(".msg.redacted .body").last).to_have_text(
            "Message supprimé par un modérateur")
    expect(author.locator(".msg.redacted").last).to_contain_text("Raison : propos blessant")
    expect(teacher.locator(".msg.redacted").last).to_contain_text("Raison : propos blessant")
    expect(classmate.get_by_text("propos blessant")).to_have_count(0)
    # Deleting it in the room settled the report: the reporter is told.
    expect(classmate.locator(".notice", has_text="Votre signalement a été traité")).to_be_visible()
    # After a reload (history over REST) the same holds.
    for page in (author, classmate):
        page.reload()
        expect(page.locator(".msg.redacted .body").last).to_have_text(
            "Message supprimé par un modérateur")
    expect(author.locator(".msg.redacted").last).to_contain_text("Raison : propos blessant")
    expect(classmate.get_by_text("propos blessant")).to_have_count(0)

    # The author's own recall reads differently from a deletion.
    send(author, f"Oups ({phone})")
    mine = author.locator(".msg[data-seq]", has_text=f"Oups ({phone})")
    message_action(mine, "Retirer (Chloé Dubois)").click()
    expect(classmate.locator(".msg.redacted .body").last).to_have_text(
        "Message retiré par son auteur")
    expect(author.locator(".msg.redacted .body").last).to_have_text(
        "Message retiré par son auteur")


def test_a_reported_message_deleted_in_the_room_leaves_the_queue(people: People) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Léa Martin")
    reporter = people.login("Hugo Bernard")
    for page in (teacher, pupil, reporter):
        open_room(page, "6eA")
    send(pupil, "Hugo sent mauvais")
    message_action(reporter.locator(".msg", has_text="Hugo sent mauvais"),
                   "Signaler (Léa Martin)").click()
    reporter.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(reporter.get_by_role("status").filter(has_text="Signalement envoyé")).to_be_visible()
    # Recalled by its author: the report stays, and the queue says so (no empty bubble).
    message_action(pupil.locator(".msg[data-seq]", has_text="Hugo sent mauvais"),
                   "Retirer (Léa Martin)").click()
    expect(reporter.get_by_text("Hugo sent mauvais")).to_have_count(0)
    teacher.get_by_role("link", name="Signalements").click()
    report = teacher.locator(".report", has_text="Hugo Bernard")
    expect(report.locator(".msg.reported .body")).to_have_text("Message retiré par son auteur")
    expect(report.locator(".msg .body:empty")).to_have_count(0)
    report.get_by_role("button", name="Conserver").click()
    expect(teacher.locator(".report")).to_have_count(0)


@pytest.mark.parametrize("phone", SIZES)
def test_a_muted_pupil_sees_the_mute_in_the_box_and_types_to_nobody(
    people: People, shots: Path, phone: bool,
) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Hugo Bernard", phone=phone)
    classmate = people.login("Manon Robert")
    for page in (teacher, pupil, classmate):
        open_room(page, "6eA")
    teacher.get_by_role("button", name="Modération").click()
    member = teacher.locator(".member", has_text="Hugo Bernard")
    member.get_by_role("button", name="Rendre muet 10 min").click()
    expect(member).to_contain_text("muet jusqu'à")

    box = pupil.get_by_label("Votre message")
    expect(box).to_be_disabled()
    expect(box).to_have_attribute("placeholder", re.compile(r"Muet·te jusqu.à \d\d:\d\d"))
    expect(pupil.get_by_role("button", name="Envoyer")).to_be_disabled()
    pupil.screenshot(path=shots / f"muted-pupil{'-phone' if phone else ''}.png")
    # A client that sends typing anyway is refused by the server
    # (tests/server/test_live_moderation.py); here nobody sees it typing.
    expect(classmate.locator(".typing")).to_have_text("")
    expect(teacher.locator(".typing")).to_have_text("")

    member.get_by_role("button", name="Rétablir la parole").click()
    expect(box).to_be_enabled()
    expect(box).to_have_attribute("placeholder", "Votre message")
    box.fill(f"Je peux écrire ({phone})")
    expect(classmate.locator(".typing")).to_contain_text("Hugo Bernard écrit")
    box.press("Enter")
    expect(classmate.locator(".msg", has_text=f"Je peux écrire ({phone})")).to_be_visible()
