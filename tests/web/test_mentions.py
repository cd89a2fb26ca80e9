"""Mentions in the browser: a teacher types "@lé" in the class room, picks
Léa Martin from the list with the keyboard, sends; Léa's badge counts it,
her panel says who mentioned her and where, and the message is marked for
her. A pupil of another class named the same way is told nothing."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import open_room


def test_mention_from_the_list_and_its_notification(people: People) -> None:
    teacher = people.login("Claire Lefèvre")
    pupil = people.login("Léa Martin")
    for page in (teacher, pupil):
        open_room(page, "6eA")
    expect(teacher.locator(".room-main .online")).to_contain_text("Léa Martin")

    box = teacher.get_by_label("Votre message")
    box.fill("Bonjour @lé")
    options = teacher.get_by_role("listbox", name="Mentionner quelqu'un").get_by_role("option")
    expect(options.filter(has_text="Léa Martin")).to_have_count(1)
    box.press("Enter")  # chooses, does not send
    expect(box).to_have_value("Bonjour @Léa Martin ")
    box.press_sequentially("au tableau @Inès Petit")
    box.press("Escape")
    box.press("Enter")
    expect(teacher.locator(".msg[data-seq]", has_text="au tableau")).to_be_visible()

    expect(pupil.get_by_role("button", name="Notifications 1 non lue")).to_be_visible()
    pupil.get_by_role("button", name="Notifications 1 non lue").click()
    panel = pupil.get_by_role("region", name="Notifications")
    expect(panel).to_contain_text("Claire Lefèvre vous a mentionné dans « 6eA »")
    pupil.keyboard.press("Escape")
    expect(pupil.locator(".msg.mentions-me", has_text="au tableau")).to_be_visible()

    other = people.login("Inès Petit")  # 6eB: cannot read 6eA, so not told
    expect(other.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    expect(other.get_by_role("button", name="Notifications", exact=True).locator(".badge")) \
        .to_have_count(0)
