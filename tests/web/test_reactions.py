"""Reactions in the browser: a pupil reacts under the teacher's message with
an accessible toggle (aria-pressed, a French label with the count), another
pupil's count moves live, the author sees who reacted, a reload keeps it,
and the reactions go with a deleted message."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_chat import message_action, open_room, send


def test_react_live_and_who_reacted(people: People, shots: Path) -> None:
    teacher = people.login("Claire Lefèvre")
    lea = people.login("Léa Martin")
    hugo = people.login("Hugo Bernard", phone=True)
    for page in (teacher, lea, hugo):
        open_room(page, "6eA")
    send(teacher, "Bravo à tous pour la chorale !")
    on_lea = lea.locator(".msg", has_text="pour la chorale")
    on_hugo = hugo.locator(".msg", has_text="pour la chorale")
    expect(on_lea).to_be_visible()

    like = on_lea.get_by_role("button", name="J'aime (0)")
    expect(like).to_have_attribute("aria-pressed", "false")
    like.click()
    expect(on_lea.get_by_role("button", name="J'aime (1)")).to_have_attribute(
        "aria-pressed", "true")
    # Hugo's count moves live; his own toggle is not pressed.
    hugo_like = on_hugo.get_by_role("button", name="J'aime (1)")
    expect(hugo_like).to_have_attribute("aria-pressed", "false")
    on_hugo.get_by_role("button", name="Bravo (0)").tap()
    expect(on_lea.get_by_role("button", name="Bravo (1)")).to_have_attribute(
        "aria-pressed", "false")
    # Pupils see counts, not names; the author does.
    expect(on_hugo.get_by_role("button", name="Qui a réagi ?")).to_have_count(0)
    on_teacher = teacher.locator(".msg", has_text="pour la chorale")
    on_teacher.get_by_role("button", name="Qui a réagi ?").click()
    expect(on_teacher.locator(".reactor-list")).to_contain_text("J'aime : Léa Martin")
    expect(on_teacher.locator(".reactor-list")).to_contain_text("Bravo : Hugo Bernard")
    lea.screenshot(path=shots / "reactions-pupil.png")

    # Removing: pressed again, the count goes down everywhere, and the open
    # list of who reacted follows.
    on_lea.get_by_role("button", name="J'aime (1)").click()
    expect(on_hugo.get_by_role("button", name="J'aime (0)")).to_be_visible()
    expect(on_teacher.locator(".reactor-list")).not_to_contain_text("Léa Martin")
    on_lea.get_by_role("button", name="J'adore (0)").click()
    # A reload reads them from the history: counts and mine.
    lea.reload()
    on_lea = lea.locator(".msg", has_text="pour la chorale")
    expect(on_lea.get_by_role("button", name="J'adore (1)")).to_have_attribute(
        "aria-pressed", "true")
    expect(on_lea.get_by_role("button", name="Bravo (1)")).to_have_attribute(
        "aria-pressed", "false")

    # Deleted by its author: the message and its reactions go.
    message_action(on_teacher, "Retirer").click()
    expect(lea.locator(".msg.redacted")).to_have_count(1)
    expect(lea.locator(".msg.redacted .reactions")).to_have_count(0)
