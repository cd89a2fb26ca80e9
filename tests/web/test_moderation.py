"""The teacher's and the admin's tools: reports, delete, mute, word lists,
audit log."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import message_action, open_room, send


def test_report_delete_mute_words_and_audit(people: People, shots: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    author = people.login("Manon Robert")
    reporter = people.login("Lucas Richard")
    admin = people.login("Anne Roux")
    for page in (teacher, author, reporter):
        open_room(page, "6eA")

    # A pupil reports a classmate's message, with a reason.
    send(author, "Lucas est nul en maths")
    message = reporter.locator(".msg", has_text="Lucas est nul en maths")
    message_action(message, "Signaler (Manon Robert)").click()
    reporter.get_by_role("dialog").get_by_role("textbox").fill("Elle se moque de moi")
    reporter.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(reporter.get_by_role("status").filter(has_text="Signalement envoyé")).to_be_visible()

    # The teacher handles it from the reports queue, with its context.
    teacher.get_by_role("link", name="Signalements").click()
    report = teacher.locator(".report", has_text="Elle se moque de moi")
    expect(report.locator(".msg.reported")).to_contain_text("Lucas est nul en maths")
    teacher.screenshot(path=shots / "reports-teacher.png")
    report.get_by_role("button", name="Supprimer le message").click()
    teacher.get_by_role("dialog").get_by_role("button", name="Valider").click()
    expect(teacher.locator(".report")).to_have_count(0)
    expect(reporter.locator(".msg.redacted .body")).to_have_text(
        "Message supprimé par un modérateur")
    expect(reporter.get_by_text("Lucas est nul en maths")).to_have_count(0)
    expect(reporter.locator(".notice", has_text="Votre signalement a été traité")).to_be_visible()

    # The teacher mutes the author for 10 minutes.
    teacher.get_by_role("link", name="Accueil").click()
    open_room(teacher, "6eA")
    teacher.get_by_role("button", name="Modération").click()
    member = teacher.locator(".member", has_text="Manon Robert")
    member.get_by_role("button", name="Rendre muet 10 min").click()
    expect(member).to_contain_text("muet jusqu'à")
    expect(author.locator(".notice", has_text="Vous ne pouvez plus écrire ici")).to_be_visible()
    # The box itself says so: nothing to type in vain (tests/web/test_safety.py).
    expect(author.get_by_label("Votre message")).to_be_disabled()
    member.get_by_role("button", name="Rétablir la parole").click()
    expect(author.locator(".notice", has_text="Vous ne pouvez plus écrire ici")).to_have_count(0)

    # The admin blocks a word; a pupil's message with it is refused.
    admin.get_by_role("link", name="Mots filtrés").click()
    admin.get_by_label("Bloqués (le message est refusé)").fill("crétin")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Listes enregistrées")).to_be_visible()
    send(reporter, "T'es un crétin")
    expect(reporter.locator(".msg.failed", has_text="T'es un crétin")).to_contain_text(
        "mots interdits")

    # Everything is in the admin's audit log.
    admin.get_by_role("link", name="Journal").click()
    log = admin.locator("table.audit tbody")
    # Actions in words, times with their date (tests/web/test_words.py).
    expect(log.locator("tr", has_text="Message supprimé par un modérateur")).to_contain_text(
        "Lucas est nul en maths")
    expect(log.locator("tr", has_text="Participant rendu muet")).to_contain_text("Manon Robert")
    expect(log.locator("tr", has_text="Parole rétablie")).to_have_count(1)
    admin.screenshot(path=shots / "audit-admin.png")


def test_announcement_acknowledgements_and_quiet_hours(people: People, shots: Path) -> None:
    teacher = people.login("Julien Garnier")
    pupil = people.login("Nathan Thomas")
    admin = people.login("Anne Roux")
    open_room(teacher, "6eA")
    open_room(pupil, "6eA")

    # A pupil has no announcement option; the teacher has.
    expect(pupil.get_by_label("Annonce : demander « J'ai lu »")).to_be_hidden()
    teacher.get_by_label("Annonce : demander « J'ai lu »").check()
    send(teacher, "Sortie au musée vendredi : autorisation à rendre lundi.")
    announcement = pupil.locator(".msg.announcement", has_text="Sortie au musée")
    expect(announcement.locator(".tag")).to_have_text("Annonce")
    announcement.get_by_role("button", name="J'ai lu").click()
    expect(announcement.locator(".acked")).to_have_text("Lu ✓")
    # After a reload the server tells the page what was acknowledged.
    pupil.reload()
    announcement = pupil.locator(".msg.announcement", has_text="Sortie au musée")
    expect(announcement.locator(".acked")).to_have_text("Lu ✓")
    expect(announcement.get_by_role("button", name="J'ai lu")).to_have_count(0)

    mine = teacher.locator(".msg.announcement", has_text="Sortie au musée")
    mine.get_by_role("button", name="Qui a lu ?").click()
    expect(mine.locator(".ack-list")).to_contain_text("Ont lu (1) : Nathan Thomas")
    expect(mine.locator(".ack-list")).to_contain_text("Léa Martin")  # not yet
    teacher.screenshot(path=shots / "announcement-teacher.png")
    # A second pupil acknowledges: the open list follows live.
    second = people.login("Lucas Richard")
    open_room(second, "6eA")
    second.locator(".msg.announcement", has_text="Sortie au musée").get_by_role(
        "button", name="J'ai lu").click()
    expect(mine.locator(".ack-list")).to_contain_text("Ont lu (2)")

    # Quiet hours: the admin sets a delivery window that is closed now; the
    # teacher's message to the class waits, shown to her with its time.
    admin.get_by_role("link", name="Réglages").click()
    # A choice and a time range, not a free-text field.
    delivery = admin.get_by_label("Remise")
    expect(delivery).to_have_value("off")
    closed = admin.evaluate("""() => {
        const now = new Date(new Date().toLocaleString('en-US', {timeZone: 'Europe/Paris'}));
        const at = (h) => String((now.getHours() + h) % 24).padStart(2, '0') + ':00';
        return at(2) + '-' + at(3);
    }""")
    delivery.select_option("window")
    admin.get_by_label("De", exact=True).fill(closed[:5])
    admin.get_by_label("À", exact=True).fill(closed[6:])
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()
    send(teacher, "Rappel pour demain")
    waiting = teacher.locator(".msg.scheduled", has_text="Rappel pour demain")
    # "à 09:00", or "à 6 déc. 00:00" when the window opens tomorrow.
    expect(waiting).to_contain_text(re.compile(rf"Sera publié à [^()]*{closed[:2]}:00"))
    expect(pupil.get_by_text("Rappel pour demain")).to_have_count(0)
    teacher.screenshot(path=shots / "quiet-hours-teacher.png")
    # The teacher cancels one waiting message and sends another now.
    send(teacher, "Finalement non")
    cancelled = teacher.locator(".msg.scheduled", has_text="Finalement non")
    cancelled.get_by_role("button", name="Annuler l'envoi").click()
    expect(cancelled).to_have_count(0)
    expect(teacher.get_by_role("status").filter(has_text="Envoi annulé")).to_be_visible()
    waiting.get_by_role("button", name="Envoyer maintenant").click()
    expect(pupil.locator(".msg[data-seq]", has_text="Rappel pour demain")).to_be_visible()
    expect(teacher.locator(".msg.scheduled")).to_have_count(0)
    expect(pupil.get_by_text("Finalement non")).to_have_count(0)
    delivery.select_option("off")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(admin.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()
