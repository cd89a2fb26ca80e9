"""The youngest pupils' screen on a tablet: a kindergarten pupil (the demo
school's MS class, marked ``maternelle`` by its import file) picks her mood
of the day with taps only, and her teacher's board updates live; the
teacher's messages are read aloud with "Écouter"; an axe-core audit of both
screens finds nothing."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.web.conftest import People
from tests.web.test_accessibility import audit
from tests.web.test_chat import open_room, send


def test_a_kindergarten_pupil_picks_her_mood_with_taps(people: People, shots: Path) -> None:
    teacher = people.login("Élise Morel", bypass_csp=True)
    open_room(teacher, "MS")
    send(teacher, "Demain, nous allons au parc. N'oubliez pas vos bottes !")
    teacher.get_by_role("link", name="Accueil", exact=True).click()
    teacher.get_by_role("link", name="Humeur du jour — MS").click()
    expect(teacher.get_by_role("heading", level=1, name="Humeur du jour — MS")).to_be_visible()
    happy = teacher.locator('[data-picture="mood.happy"] .count')
    expect(happy).to_have_text("0")

    pupil = people.login("Zoé Lambert", tablet=True, bypass_csp=True)
    # What "Écouter" says, recorded instead of spoken (headless has no voice).
    pupil.evaluate("""() => {
        window.spoken = [];
        window.speechSynthesis.speak = (u) => window.spoken.push([u.lang, u.text]);
    }""")
    expect(pupil.get_by_role("heading", level=2, name="Mon humeur du jour")).to_be_visible()
    tile = pupil.get_by_role("button", name="Content")
    expect(tile).to_have_attribute("aria-pressed", "false")
    box = tile.bounding_box()
    assert box is not None  # a target for a four-year-old's finger:
    assert min(box["width"], box["height"]) >= 88
    tile.tap()
    expect(tile).to_have_attribute("aria-pressed", "true")
    pupil.get_by_role("button", name="J'ai bien dormi").tap()
    pupil.get_by_role("button", name="Un bon petit déjeuner").tap()
    expect(pupil.get_by_role("button", name="Un bon petit déjeuner")).to_have_attribute(
        "aria-pressed", "true")

    # The teacher's board, live: the count and Zoé's row.
    expect(happy).to_have_text("1")
    row = teacher.locator('tr[data-person]', has_text="Zoé Lambert")
    expect(row).to_contain_text("Content")
    expect(row).to_contain_text("J'ai bien dormi")
    # The teacher's message, read aloud.
    message = pupil.locator(".young-message", has_text="au parc")
    expect(message).to_be_visible()
    message.get_by_role("button", name="Écouter le message de Élise Morel").tap()
    spoken = pupil.evaluate("window.spoken")
    assert spoken == [["fr-FR", "Élise Morel. Demain, nous allons au parc. "
                       "N'oubliez pas vos bottes !"]]
    pupil.screenshot(path=shots / "young-pupil-tablet.png", full_page=True)
    teacher.screenshot(path=shots / "mood-board-teacher.png", full_page=True)

    problems = audit(pupil, "young/tablet") + audit(teacher, "mood-board/teacher")
    assert problems == [], "\n".join(problems)

    # Her parent's home shows her pictures; each screen punctuates in its
    # language ("Content : 1" in French, "Happy: 1" in English).
    parent = people.login("Camille Lambert")  # Zoé's parent
    expect(parent.locator(".mood-child")).to_contain_text("Zoé Lambert : 😀 Content")
    expect(teacher.locator('[data-picture="mood.happy"]')).to_contain_text("Content : 1")
    for page in (parent, teacher):
        page.get_by_role("button", name="Switch to English").click()
    expect(parent.locator(".mood-child")).to_contain_text("Zoé Lambert: 😀 Happy")
    expect(teacher.get_by_role("heading", level=1, name="Mood of the day — MS")).to_be_visible()
    expect(teacher.locator('[data-picture="mood.happy"]')).to_contain_text("Happy: 1")
