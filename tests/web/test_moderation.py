"""The teacher's and the admin's tools: reports, delete, mute, word lists,
audit log."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room, send


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
    message.get_by_role("button", name="Signaler (Manon Robert)").click()
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
    expect(reporter.locator(".msg.redacted .body")).to_have_text("Message supprimé")
    expect(reporter.get_by_text("Lucas est nul en maths")).to_have_count(0)

    # The teacher mutes the author for 10 minutes.
    teacher.get_by_role("link", name="Accueil").click()
    open_room(teacher, "6eA")
    teacher.get_by_role("button", name="Modération").click()
    member = teacher.locator(".member", has_text="Manon Robert")
    member.get_by_role("button", name="Rendre muet 10 min").click()
    expect(member).to_contain_text("muet jusqu'à")
    expect(author.locator(".notice", has_text="Vous ne pouvez plus écrire ici")).to_be_visible()
    send(author, "Pourquoi ?")
    expect(author.locator(".msg.failed", has_text="Pourquoi ?")).to_contain_text("Vous êtes muet·te")
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
    expect(log.locator("tr", has_text="message.delete")).to_contain_text("Lucas est nul en maths")
    expect(log.locator("tr", has_text="member.mute")).to_contain_text("Manon Robert")
    expect(log.locator("tr", has_text="member.unmute")).to_have_count(1)
    admin.screenshot(path=shots / "audit-admin.png")
